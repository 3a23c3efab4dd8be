package core

import (
	"context"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/devices/sites, /devices/projects and /devices/participants, on links.go.

const (
	msgDeviceSiteUsed    = "Can't delete device from site. Please remove all participants associated with the device or all sessions in the site referring to the device before deleting."
	msgDeviceProjectUsed = "Can't delete device from project. Please remove all participants associated with the device or all sessions in the project referring to the device before deleting."
)

var deviceSitesSpec = &linkEndpoint{
	link: store.DeviceSites, keyA: "id_device", keyB: "id_site", uuidA: true,
	forms: []linkForm{
		{name: "device", onA: true, idKey: "id_device", listKey: "sites", missingID: "Missing id_device", missingSet: "Missing sites",
			refused: apierr.Integrity(msgDeviceSiteUsed)},
		{name: "site", idKey: "id_site", listKey: "devices", missingID: "Missing site ID", missingSet: "Missing devices",
			refused: apierr.Integrity(msgDeviceSiteUsed)},
	},
	noForm: apierr.InvalidArgument(""), badItem: apierr.InvalidArgument("Badly formatted request"),
	del: linkDelete{notFound: apierr.InvalidArgument("Bad parameter"),
		rules:   []sideRule{{false, adminSites, apierr.Forbidden("Forbidden")}, {true, adminDevices, apierr.Forbidden("Forbidden")}},
		refused: func(string) error { return apierr.Integrity(msgDeviceSiteUsed) }},
}

var deviceProjectsSpec = &linkEndpoint{
	link: store.DeviceProjects, keyA: "id_device", keyB: "id_project", uuidA: true,
	forms: []linkForm{
		{name: "device", onA: true, idKey: "id_device", listKey: "projects", missingID: "Missing id_device", missingSet: "Missing projects",
			removed: &sideRule{false, siteAdminProjects, apierr.Forbidden("Access denied")}, refused: apierr.Integrity(msgDeviceProjectUsed)},
		{name: "project", idKey: "id_project", listKey: "devices", missingID: "Missing id_project", missingSet: "Missing devices",
			owner: &sideRule{false, siteAdminProjects, apierr.Forbidden("Access denied")}, refused: apierr.Integrity(msgDeviceProjectUsed)},
	},
	noForm: apierr.InvalidArgument(""), badItem: apierr.InvalidArgument(""),
	pair: []sideRule{{false, siteAdminProjects, apierr.Forbidden("Access denied")}},
	integrity: map[string]error{"Device not associated to project site": apierr.Forbidden(
		"At least one device is not part of the allowed device for that project site")},
	del: linkDelete{notFound: apierr.InvalidArgument("Not found"),
		rules: []sideRule{{false, adminProjects, apierr.Forbidden("Forbidden")}, {true, adminDevices, apierr.Forbidden("Forbidden")}},
		refused: func(msg string) error {
			switch msg {
			case "Device still has participants in that project":
				return apierr.Integrity("Can't delete device from project: please remove all participants with device before deleting.")
			case "Device still has sessions in that project":
				return apierr.Integrity("Can't delete device from project: please remove all sessions in this project referring to that device before deleting.")
			}
			return apierr.Integrity(msgDeviceProjectUsed)
		}},
}

var deviceParticipantRules = []sideRule{
	{false, adminParticipants, apierr.Forbidden("User is not admin of the participant's project")},
	{true, seenDevices, apierr.Forbidden("Access denied to device")},
}

var deviceParticipantsSpec = &linkEndpoint{
	link: store.DeviceParticipants, keyA: "id_device", keyB: "id_participant",
	noForm: apierr.InvalidArgument("Missing device_participant"), badItem: apierr.InvalidArgument(""),
	pair: deviceParticipantRules,
	integrity: map[string]error{"Device not associated to participant project": apierr.Forbidden(
		"Device not assigned to project or participant")},
	del: linkDelete{notFound: apierr.InvalidArgument("Not found"), rules: deviceParticipantRules},
}

// ---- /api/user/devices/sites

type deviceSites struct {
	*Service
	corev1.UnimplementedDeviceSiteServiceServer
}

func (s *deviceSites) GetDeviceSites(ctx context.Context, r *corev1.GetDeviceSitesRequest) (*corev1.GetDeviceSitesResponse, error) {
	m, list := caller(ctx), r.List != nil
	available := when(!list, m.acc.Participants())
	items, err := selectLinks(ctx, s.Service, store.DeviceSites, r.GetList() || r.WithDevices || r.WithSites,
		func(l store.LinkRow) *corev1.DeviceSite { return deviceSiteItem(l, list) },
		linkSelector{r.IdDevice, access.Devices, store.LinkQuery{A: store.OneID("sel", r.IdDevice), B: m.acc.Sites(),
			Others: when(r.WithSites, m.acc.Sites()), Available: available}},
		linkSelector{r.IdSite, access.Sites, store.LinkQuery{B: store.OneID("sel", r.IdSite), ByA: true,
			Others: when(r.WithDevices, m.acc.Devices()), OthersOnA: true, Available: available}})
	return &corev1.GetDeviceSitesResponse{DeviceSites: items}, err
}

func deviceSiteItem(l store.LinkRow, list bool) *corev1.DeviceSite {
	out := &corev1.DeviceSite{IdDeviceSite: int32Value(l.ID), IdDevice: int32Value(l.A), IdSite: int32Value(l.B), DeviceAvailable: l.Available}
	out.DeviceName, out.SiteName = names(list, l)
	return out
}

func (s *deviceSites) PostDeviceSites(ctx context.Context, r *corev1.PostDeviceSitesRequest) (*corev1.PostDeviceSitesResponse, error) {
	items, err := postLinkItems(ctx, s.Service, deviceSitesSpec, []*structpb.Struct{r.Device, r.Site}, r.DeviceSite,
		func(l store.LinkRow) *corev1.DeviceSite { return deviceSiteItem(l, true) })
	return &corev1.PostDeviceSitesResponse{DeviceSites: items}, err
}

func (s *deviceSites) DeleteDeviceSite(ctx context.Context, r *corev1.DeleteDeviceSiteRequest) (*corev1.DeleteDeviceSiteResponse, error) {
	return &corev1.DeleteDeviceSiteResponse{}, s.removeLink(ctx, deviceSitesSpec, r.Id)
}

// ---- /api/user/devices/projects

type deviceProjects struct {
	*Service
	corev1.UnimplementedDeviceProjectServiceServer
}

// devicesOfProjectSite are the devices linked to the site of the project @sel.
const devicesOfProjectSite = `SELECT ds.id_device AS id FROM core.t_devices_sites ds
	JOIN core.t_projects p ON p.id_site = ds.id_site WHERE p.id_project = @sel AND ds.deleted_at IS NULL`

func (s *deviceProjects) GetDeviceProjects(ctx context.Context, r *corev1.GetDeviceProjectsRequest) (*corev1.GetDeviceProjectsResponse, error) {
	m, list := caller(ctx), r.List != nil
	available, sites := when(!list, m.acc.Participants()), r.WithSites && !list
	items, err := selectLinks(ctx, s.Service, store.DeviceProjects, r.GetList() || r.WithProjects || r.WithDevices || r.WithSites,
		func(l store.LinkRow) *corev1.DeviceProject { return deviceProjectItem(l, list, r.WithSites) },
		linkSelector{r.IdDevice, access.Devices, store.LinkQuery{A: store.OneID("sel", r.IdDevice), B: m.acc.Projects(),
			Others: when(r.WithProjects, m.acc.Projects()), Available: available, Sites: sites}},
		linkSelector{r.IdProject, access.Projects, store.LinkQuery{A: m.acc.Devices(), B: store.OneID("sel", r.IdProject), ByA: true,
			Others: when(r.WithDevices, store.Fragment(devicesOfProjectSite, sel(r.IdProject))), OthersOnA: true, Available: available, Sites: sites}})
	return &corev1.GetDeviceProjectsResponse{DeviceProjects: items}, err
}

func deviceProjectItem(l store.LinkRow, list, sites bool) *corev1.DeviceProject {
	out := &corev1.DeviceProject{IdDeviceProject: int32Value(l.ID), IdDevice: int32Value(l.A), IdProject: int32Value(l.B), DeviceAvailable: l.Available}
	out.DeviceName, out.ProjectName = names(list, l)
	out.IdSite, out.SiteName = projectSite(list, sites, l)
	return out
}

func (s *deviceProjects) PostDeviceProjects(ctx context.Context, r *corev1.PostDeviceProjectsRequest) (*corev1.PostDeviceProjectsResponse, error) {
	items, err := postLinkItems(ctx, s.Service, deviceProjectsSpec, []*structpb.Struct{r.Device, r.Project}, r.DeviceProject,
		func(l store.LinkRow) *corev1.DeviceProject { return deviceProjectItem(l, true, false) })
	return &corev1.PostDeviceProjectsResponse{DeviceProjects: items}, err
}

func (s *deviceProjects) DeleteDeviceProject(ctx context.Context, r *corev1.DeleteDeviceProjectRequest) (*corev1.DeleteDeviceProjectResponse, error) {
	return &corev1.DeleteDeviceProjectResponse{}, s.removeLink(ctx, deviceProjectsSpec, r.Id)
}

// ---- /api/user/devices/participants

type deviceParticipants struct {
	*Service
	corev1.UnimplementedDeviceParticipantServiceServer
}

const (
	devicesOfType = `SELECT id_device AS id FROM core.t_devices WHERE id_device_type = @sel`
	devicesOfSite = `SELECT id_device AS id FROM core.t_devices_sites WHERE id_site = @sel AND deleted_at IS NULL`
	// The participants of the projects of the site @sel.
	participantsOfSite = `SELECT pa.id_participant AS id FROM core.t_participants pa
		JOIN core.t_projects p ON p.id_project = pa.id_project WHERE p.id_site = @sel AND pa.deleted_at IS NULL`
)

func (s *deviceParticipants) GetDeviceParticipantLinks(ctx context.Context, r *corev1.GetDeviceParticipantLinksRequest) (*corev1.GetDeviceParticipantLinksResponse, error) {
	m := caller(ctx)
	byType := store.LinkQuery{B: store.OneID("part", r.IdParticipant)}
	if r.IdDeviceType != 0 {
		byType.A = store.Fragment(devicesOfType, sel(r.IdDeviceType))
	}
	rows, err := selectLinks(ctx, s.Service, store.DeviceParticipants, r.IdDeviceType != 0 || r.GetList(), func(l store.LinkRow) store.LinkRow { return l },
		linkSelector{r.IdDevice, access.Devices, store.LinkQuery{A: store.OneID("sel", r.IdDevice), B: m.acc.Participants(), ByA: true}},
		linkSelector{r.IdParticipant, access.Participants, byType},
		linkSelector{r.IdSite, access.Sites, store.LinkQuery{A: store.Fragment(devicesOfSite, sel(r.IdSite)),
			B: store.Fragment(participantsOfSite, sel(r.IdSite)), ByA: true}})
	if err != nil {
		return nil, err
	}
	return &corev1.GetDeviceParticipantLinksResponse{DeviceParticipants: s.deviceParticipantItems(ctx, m, rows, r.List != nil, true)}, nil
}

// deviceParticipantItems maps links; unless list, with names and, when withDevice, each device
// the caller sees in its full form.
func (s *Service) deviceParticipantItems(ctx context.Context, m me, rows []store.LinkRow, list, withDevice bool) []*corev1.DeviceParticipant {
	devices := map[int32]*corev1.DeviceItem{}
	out := make([]*corev1.DeviceParticipant, 0, len(rows))
	for _, l := range rows {
		item := &corev1.DeviceParticipant{IdDeviceParticipant: int32Value(l.ID), IdDevice: int32Value(l.A), IdParticipant: int32Value(l.B)}
		item.DeviceName, item.ParticipantName = names(list, l)
		if _, seen := devices[*l.A]; !seen && withDevice && !list {
			if d, err := store.ListDevices(ctx, s.db, m.acc, store.DeviceFilter{ID: l.A}); err == nil && len(d) == 1 {
				devices[*l.A], _ = deviceItem(d[0], true)
			}
		}
		item.DeviceParticipantDevice = devices[*l.A]
		out = append(out, item)
	}
	return out
}

func (s *deviceParticipants) PostDeviceParticipants(ctx context.Context, r *corev1.PostDeviceParticipantsRequest) (*corev1.PostDeviceParticipantsResponse, error) {
	rows, err := s.postLinks(ctx, deviceParticipantsSpec, nil, r.DeviceParticipant)
	if err != nil {
		return nil, err
	}
	// OpenTera names the links it created only.
	if err := store.LinkNames(ctx, s.db, store.DeviceParticipants, rows); err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := s.deviceParticipantItems(ctx, caller(ctx), rows, false, false)
	for i, l := range rows {
		if !l.New {
			out[i].DeviceName, out[i].ParticipantName = nil, nil
		}
	}
	return &corev1.PostDeviceParticipantsResponse{DeviceParticipants: out}, nil
}

func (s *deviceParticipants) DeleteDeviceParticipant(ctx context.Context, r *corev1.DeleteDeviceParticipantRequest) (*corev1.DeleteDeviceParticipantResponse, error) {
	return &corev1.DeleteDeviceParticipantResponse{}, s.removeLink(ctx, deviceParticipantsSpec, r.Id)
}

// sel is the arguments of a fragment on @sel.
func sel(id int32) pgx.NamedArgs { return pgx.NamedArgs{"sel": id} }

// when is f when on, else the empty fragment.
func when(on bool, f access.Fragment) access.Fragment {
	if on {
		return f
	}
	return access.Fragment{}
}
