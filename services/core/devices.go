package core

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/presence"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/devices

type devices struct {
	*Service
	corev1.UnimplementedDeviceServiceServer
}

func (s *devices) GetDevices(ctx context.Context, r *corev1.GetDevicesRequest) (*corev1.GetDevicesResponse, error) {
	alias(&r.IdDevice, r.Id)
	alias(&r.DeviceUuid, r.Uuid)
	f := store.DeviceFilter{Type: nonZero(r.IdDeviceType)}
	f.WithLink.Participants, f.WithLink.Sites, f.WithLink.Projects = r.WithParticipants, r.WithSites, r.Projects
	n := 0
	for _, set := range []bool{r.IdDevice != 0, r.DeviceUuid != "", r.IdSite != 0, r.IdProject != 0, r.IdDeviceSubtype != 0, r.Name != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return nil, apierr.InvalidArgument("Too many IDs")
	case r.IdDevice != 0:
		f.ID, f.Type = &r.IdDevice, nil
	case r.DeviceUuid != "":
		f.UUID, f.Type = &r.DeviceUuid, nil
	case r.IdSite != 0:
		f.Site, f.ByName = &r.IdSite, true
	case r.IdProject != 0:
		f.Project, f.ByName, f.Enabled = &r.IdProject, true, r.Enabled
	case r.IdDeviceSubtype != 0:
		f.Subtype, f.Type, f.ByName = &r.IdDeviceSubtype, nil, true
	case r.Name != "":
		f.Name, f.Type = &r.Name, nil
	default:
		f.ByName = f.Type != nil
	}
	if r.GetEnabled() {
		f.Enabled = r.Enabled // enabled=true keeps only enabled devices, whatever the selector
	}
	out, err := s.listDevices(ctx, f, !r.List)
	if err != nil {
		return nil, err
	}
	for i := 0; r.WithStatus && i < len(out); i++ {
		if err := s.addStatus(ctx, out[i]); err != nil {
			return nil, s.internal(ctx, err)
		}
	}
	return &corev1.GetDevicesResponse{Devices: out}, nil
}

// listDevices is the devices of the caller's scope matching f, as JSON items.
func (s *Service) listDevices(ctx context.Context, f store.DeviceFilter, full bool) ([]*corev1.DeviceItem, error) {
	rows, err := store.ListDevices(ctx, s.db, caller(ctx).acc, f)
	return tryRows(ctx, s, rows, err, func(d store.DeviceRow) (*corev1.DeviceItem, error) { return deviceItem(d, full) })
}

// addStatus sets OpenTera's device_online, device_busy and device_status (UserManagerModule's
// status_devices: {online, busy, status} for a device online or busy, else null).
func (s *devices) addStatus(ctx context.Context, d *corev1.DeviceItem) error {
	online, busy := s.presence.Online(presence.Device, d.DeviceUuid), s.presence.Busy(presence.Device, d.DeviceUuid)
	d.DeviceOnline, d.DeviceBusy, d.DeviceStatus = &online, &busy, structpb.NewNullValue()
	if !online && !busy {
		return nil
	}
	raw, err := s.presence.DeviceStatus(ctx, d.DeviceUuid)
	if err != nil {
		return err
	}
	status := structpb.NewNullValue()
	if raw != nil {
		status = &structpb.Value{}
		if err := status.UnmarshalJSON(raw); err != nil {
			return err
		}
	}
	d.DeviceStatus = structpb.NewStructValue(&structpb.Struct{Fields: map[string]*structpb.Value{
		"online": structpb.NewBoolValue(online), "busy": structpb.NewBoolValue(busy), "status": status}})
	return nil
}

// alias sets a GET's selector from its short alias (?id=, ?uuid=) when that is given: the alias
// wins over the long form.
func alias[T comparable](selector *T, short T) {
	var none T
	if short != none {
		*selector = short
	}
}

func nonZero(v int32) *int32 {
	if v == 0 {
		return nil
	}
	return &v
}

func deviceItem(d store.DeviceRow, full bool) (*corev1.DeviceItem, error) {
	out := &corev1.DeviceItem{IdDevice: d.IDDevice, DeviceUuid: d.DeviceUUID, DeviceName: d.DeviceName, IdDeviceType: d.IDDeviceType,
		IdDeviceSubtype: int32Value(d.IDDeviceSubtype), DeviceEnabled: d.DeviceEnabled}
	if full {
		out.DeviceToken, out.DeviceOnlineable = nullable(d.DeviceToken), &d.DeviceOnlineable
		out.DeviceConfig, out.DeviceInfos, out.DeviceNotes = nullable(d.DeviceConfig), nullable(d.DeviceInfos), nullable(d.DeviceNotes)
		out.DeviceLastonline = nullable(isoTime(d.DeviceLastonline))
	}
	if d.IDDeviceSubtype != nil && d.SubtypeName != nil {
		out.DeviceSubtype = &corev1.DeviceSubType{IdDeviceSubtype: *d.IDDeviceSubtype, IdDeviceType: *d.SubtypeType,
			DeviceSubtypeName: *d.SubtypeName, DeviceSubtypeParent: *d.SubtypeParent}
	}
	var err error
	// The list form drops the names of the linked objects, as OpenTera.
	if out.DeviceParticipants, err = jsonList(d.Participants, full, "project_name"); err != nil {
		return nil, err
	}
	if out.DeviceSites, err = jsonList(d.Sites, full, "site_name"); err != nil {
		return nil, err
	}
	if out.DeviceProjects, err = jsonList(d.Projects, full, "project"); err != nil {
		return nil, err
	}
	return out, nil
}

// jsonList reads a JSON array of objects from the database (nil when absent); unless full, the
// key drop is removed from each object.
func jsonList(raw []byte, full bool, drop string) (*structpb.ListValue, error) {
	if raw == nil {
		return nil, nil
	}
	l := &structpb.ListValue{}
	if err := l.UnmarshalJSON(raw); err != nil {
		return nil, err
	}
	if !full {
		for _, v := range l.Values {
			delete(v.GetStructValue().GetFields(), drop)
		}
	}
	return l, nil
}

func (s *devices) PostDevice(ctx context.Context, r *corev1.PostDeviceRequest) (*corev1.PostDeviceResponse, error) {
	w, err := readDeviceBody(r.GetDevice())
	if err != nil {
		return nil, err
	}
	var out store.DeviceRow
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		var err error
		out, err = s.writeDevice(ctx, tx, caller(ctx), w)
		return err
	})
	if err != nil {
		return nil, err
	}
	item, err := deviceItem(out, true)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	return &corev1.PostDeviceResponse{Devices: []*corev1.DeviceItem{item}}, nil
}

// deviceWrite is a validated {"device": {…}}.
type deviceWrite struct {
	id              int32
	patch           store.DevicePatch
	sites, projects []int32 // nil: links left as they are
}

func readDeviceBody(b *corev1.DeviceBody) (deviceWrite, error) {
	switch {
	case b == nil:
		return deviceWrite{}, apierr.MissingArgument("Missing device")
	case b.IdDevice == nil:
		return deviceWrite{}, apierr.MissingArgument("Missing id_device")
	case b.DeviceName != nil && strings.TrimSpace(b.GetDeviceName()) == "":
		return deviceWrite{}, apierr.InvalidArgument("Invalid device_name")
	case b.GetIdDevice() == 0 && (b.DeviceName == nil || b.IdDeviceType == nil):
		return deviceWrite{}, apierr.MissingArgument("Missing device_name or id_device_type")
	}
	w := deviceWrite{id: b.GetIdDevice(), patch: store.DevicePatch{Name: b.DeviceName, Type: b.IdDeviceType, Subtype: b.IdDeviceSubtype,
		Enabled: b.DeviceEnabled, Onlineable: b.DeviceOnlineable, Config: b.DeviceConfig, Infos: b.DeviceInfos, Notes: b.DeviceNotes}}
	if b.IdDeviceSubtype != nil && b.GetIdDeviceSubtype() == 0 {
		w.patch.Subtype, w.patch.ClearSubtype = nil, true
	}
	var err error
	if w.sites, err = optionalIDList(b.DeviceSites, "id_site"); err != nil {
		return w, err
	}
	w.projects, err = optionalIDList(b.DeviceProjects, "id_project")
	return w, err
}

// writeDevice creates or updates a device and its links under the caller's admin rights, and
// reads it back.
func (s *devices) writeDevice(ctx context.Context, tx pgx.Tx, m me, w deviceWrite) (store.DeviceRow, error) {
	admin := m.acc.AdminOnly()
	// Every listed site, and the site of every listed project, must be administered.
	if bad, err := store.Inaccessible(ctx, tx, admin.Sites(), w.sites); err != nil || len(bad) > 0 {
		return store.DeviceRow{}, errOr(err, apierr.Forbidden("No site admin access for at a least one site in the list"))
	}
	if bad, err := store.Inaccessible(ctx, tx, projectsOfSites(admin.Sites()), w.projects); err != nil || len(bad) > 0 {
		return store.DeviceRow{}, errOr(err, apierr.Forbidden("No site admin access for at a least one project in the list"))
	}
	var err error
	if w.id == 0 {
		if !m.superadmin && w.sites == nil && w.projects == nil {
			return store.DeviceRow{}, apierr.Forbidden("Forbidden")
		}
		w.id, err = s.insertDevice(ctx, tx, w.patch)
	} else {
		// A caller administering none of the device's projects' sites changes only its
		// configuration and notes (OpenTera's project-admin update).
		var n int
		if n, err = store.DeviceProjectCount(ctx, tx, w.id, projectsOfSites(admin.Sites()), true); err != nil {
			return store.DeviceRow{}, err
		}
		if !m.superadmin && n == 0 {
			w = deviceWrite{id: w.id, patch: store.DevicePatch{Config: w.patch.Config, Notes: w.patch.Notes}}
		}
		err = store.UpdateDevice(ctx, tx, admin, w.id, w.patch)
	}
	if err != nil {
		return store.DeviceRow{}, unknownType(err)
	}
	for _, l := range []struct {
		link store.Link
		ids  []int32
		f    access.Fragment
	}{{store.DeviceSites, w.sites, admin.Sites()}, {store.DeviceProjects, w.projects, admin.Projects()}} {
		if l.ids != nil {
			if err := store.ReplaceScopedLinks(ctx, tx, l.link, w.id, l.ids, l.f); err != nil {
				return store.DeviceRow{}, err
			}
		}
	}
	rows, err := store.ListDevices(ctx, tx, m.acc, store.DeviceFilter{ID: &w.id})
	if err != nil || len(rows) == 0 {
		// Invisible after the write (linked to no site of the caller): refuse it whole.
		return store.DeviceRow{}, errOr(err, apierr.Forbidden("No site admin access for the device"))
	}
	return rows[0], nil
}

// unknownType answers a reference to a device type or subtype that does not exist with 400.
func unknownType(err error) error {
	if ie, ok := errors.AsType[*store.IntegrityError](err); ok && strings.Contains(ie.Message, "unknown reference") {
		return apierr.InvalidArgument("Invalid device type or subtype")
	}
	return err
}

// insertDevice creates a device and its static token (claims as OpenTera's create_token).
func (s *devices) insertDevice(ctx context.Context, tx pgx.Tx, p store.DevicePatch) (int32, error) {
	id, uuid, err := store.InsertDevice(ctx, tx, p)
	if err != nil {
		return 0, err
	}
	key, err := store.ServerSetting(ctx, tx, "TokenEncryptionKey")
	if err != nil {
		return 0, err
	}
	tok, err := authn.StaticToken(key, authn.Claims{DeviceUUID: uuid, IDDevice: int64(id)})
	if err != nil {
		return 0, err
	}
	return id, store.SetDeviceToken(ctx, tx, id, tok)
}

// projectsOfSites is the projects of a set of sites.
func projectsOfSites(sites access.Fragment) access.Fragment {
	return access.Fragment{SQL: "SELECT p.id_project AS id FROM core.t_projects p WHERE p.deleted_at IS NULL AND p.id_site IN (" + sites.SQL + ")",
		Args: sites.Args}
}

// optionalIDList reads [{key: n}, …]; nil when the list is absent.
func optionalIDList(l *structpb.ListValue, key string) ([]int32, error) {
	if l == nil {
		return nil, nil
	}
	return idList(l, key)
}

// deviceDeleteMessages are OpenTera's answers to the integrity refusals of a device delete.
var deviceDeleteMessages = map[string]string{
	"Device still has participants":     "Can't delete device: please delete all participants association before deleting.",
	"Device still has sessions":         "Can't delete device: please remove all sessions referring to that device before deleting.",
	"Device still has created sessions": "Can't delete device: please remove all sessions created by that device before deleting.",
	"Device still has assets":           "Can't delete device: please delete all assets created by that device before deleting.",
	"Device still has tests":            "Can't delete device: please delete all tests created by that device before deleting.",
}

func (s *devices) DeleteDevice(ctx context.Context, r *corev1.DeleteDeviceRequest) (*corev1.DeleteDeviceResponse, error) {
	m := caller(ctx)
	admin := m.acc.AdminOnly()
	err := s.deleteByID(ctx, r.Id, func(tx pgx.Tx, id int32) error {
		if ok, err := store.DeviceExists(ctx, tx, id); err != nil || !ok {
			return errOr(err, apierr.InvalidArgument("Invalid id"))
		}
		if ok, err := admin.Can(ctx, tx, access.Devices, id); err != nil || !ok {
			return errOr(err, apierr.Forbidden("Forbidden"))
		}
		if !m.superadmin {
			// Linked to projects the caller does not administer: only unlink it from its own.
			others, err := store.DeviceProjectCount(ctx, tx, id, admin.Projects(), false)
			if err != nil {
				return err
			}
			if others > 0 {
				return store.UnlinkDeviceProjects(ctx, tx, id, admin.Projects())
			}
		}
		err := store.Delete(ctx, tx, admin, store.Devices, id)
		if ie, ok := errors.AsType[*store.IntegrityError](err); ok && deviceDeleteMessages[ie.Message] != "" {
			return apierr.Integrity(deviceDeleteMessages[ie.Message])
		}
		return err
	})
	return reply(&corev1.DeleteDeviceResponse{Result: "Device successfully deleted"}, err)
}

// ---- /api/service/devices

func (s *serviceAPI) SvcGetDevices(ctx context.Context, r *corev1.SvcGetDevicesRequest) (*corev1.SvcGetDevicesResponse, error) {
	var f store.DeviceFilter
	switch {
	case r.DeviceUuid != "":
		f.UUID = &r.DeviceUuid
	case r.IdDevice != 0:
		f.ID = &r.IdDevice // declared: 403 outside the service's projects
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListDevices(ctx, s.db, caller(ctx).acc, f)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	if len(rows) == 0 {
		return nil, apierr.Forbidden("Forbidden")
	}
	item, err := deviceItem(rows[0], true)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	sub := item.DeviceSubtype
	item.DeviceSubtype = nil // not part of OpenTera's device JSON unless asked for
	v, err := messageValue(item)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	out := v.GetStructValue()
	if r.WithDeviceType {
		types, err := store.ListDeviceTypes(ctx, s.db, store.DeviceTypeFilter{ID: &rows[0].IDDeviceType})
		if err != nil {
			return nil, s.dbError(ctx, err)
		}
		for _, t := range types {
			out.Fields["device_type"], _ = messageValue(&corev1.DeviceType{IdDeviceType: t.IDDeviceType,
				DeviceTypeName: t.DeviceTypeName, DeviceTypeKey: t.DeviceTypeKey})
		}
	}
	if r.WithDeviceSubtype {
		out.Fields["device_subtype"] = structpb.NewNullValue()
		if sub != nil {
			out.Fields["device_subtype"], _ = messageValue(sub)
		}
	}
	if r.WithDeviceAssets {
		// The assets it created (OpenTera's device_assets), minimal, in sessions the service sees.
		assets, err := s.selectAssets(ctx, store.AssetsByCreatorDevice, rows[0].IDDevice, "", false, false, false)
		if err != nil {
			return nil, err
		}
		l, err := messageList(assets)
		if err != nil {
			return nil, s.internal(ctx, err)
		}
		out.Fields["device_assets"] = structpb.NewListValue(l)
	}
	return &corev1.SvcGetDevicesResponse{Device: out}, nil
}

func (s *serviceAPI) SvcPostDevice(ctx context.Context, r *corev1.SvcPostDeviceRequest) (*corev1.SvcPostDeviceResponse, error) {
	b := r.GetDevice()
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing arguments")
	case b.GetIdDevice() == 0:
		// OpenTera creates a device linked to nothing, which only a superadmin could see again.
		return nil, apierr.Forbidden("Forbidden")
	case b.IdDeviceType != nil && b.GetIdDeviceType() < 1:
		return nil, apierr.Forbidden("Unknown device type")
	case b.IdDeviceSubtype != nil && b.GetIdDeviceSubtype() < 0:
		return nil, apierr.Forbidden("Unknown device subtype")
	}
	// A service changes the device, not its links to sites and projects.
	b.DeviceSites, b.DeviceProjects = nil, nil
	res, err := (&devices{Service: s.Service}).PostDevice(ctx, &corev1.PostDeviceRequest{Device: b})
	if err != nil {
		return nil, err
	}
	return &corev1.SvcPostDeviceResponse{Device: res.Devices[0]}, nil
}

// ---- /api/device/devices (the device itself)

// /api/device/{devices,participants,sessions,sessions/events,assets}: the user API's resources
// through the device's own access scope (OpenTera's DeviceQuery* handlers).
type deviceSurface struct {
	*Service
	corev1.UnimplementedDeviceSurfaceServiceServer
}

// forbiddenForSecurity is OpenTera's answer to the device reads and deletes it refuses.
func forbiddenForSecurity() error { return apierr.Forbidden("Forbidden for security reasons") }

// self is the calling device's row.
func (s *deviceSurface) self(ctx context.Context, db store.DB) (store.DeviceRow, error) {
	id := int32(authn.FromContext(ctx).ID)
	rows, err := store.ListDevices(ctx, db, caller(ctx).acc, store.DeviceFilter{ID: &id})
	if err == nil && len(rows) == 0 {
		err = store.ErrNotFound
	}
	if err != nil {
		return store.DeviceRow{}, err
	}
	return rows[0], nil
}

func (s *deviceSurface) GetDeviceSelf(ctx context.Context, _ *corev1.GetDeviceSelfRequest) (*corev1.GetDeviceSelfResponse, error) {
	m := caller(ctx)
	d, err := s.self(ctx, s.db)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	info, err := deviceItem(d, false)
	if err != nil {
		return nil, s.internal(ctx, err)
	}
	info.DeviceSubtype = nil // TeraDevice.to_json leaves the subtype object out
	parts, err := store.ListParticipants(ctx, s.db, m.acc, store.ParticipantFilter{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	types, err := store.ListSessionTypes(ctx, s.db, m.acc, store.SessionTypeFilter{})
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := &corev1.GetDeviceSelfResponse{DeviceInfo: info, ParticipantsInfo: []*corev1.ParticipantInfo{}, SessionTypesInfo: []*corev1.SessionType{}}
	for _, p := range parts {
		out.ParticipantsInfo = append(out.ParticipantsInfo, &corev1.ParticipantInfo{ParticipantName: p.ParticipantName, ParticipantUuid: p.ParticipantUUID})
	}
	for _, t := range types {
		out.SessionTypesInfo = append(out.SessionTypesInfo, sessionTypeProto(t, false))
	}
	return out, nil
}

func (s *deviceSurface) PostDeviceSelf(ctx context.Context, r *corev1.PostDeviceSelfRequest) (*corev1.PostDeviceSelfResponse, error) {
	b := r.GetDevice()
	me := int32(authn.FromContext(ctx).ID)
	switch {
	case b == nil:
		return nil, apierr.MissingArgument("Missing device schema")
	case b.DeviceConfig == nil:
		return nil, apierr.MissingArgument("Missing config")
	case b.IdDevice != nil && b.GetIdDevice() != me:
		return nil, apierr.Forbidden("Forbidden")
	}
	var out *corev1.DeviceItem
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		// Scoped to the caller's own row; only device_config is written, as OpenTera.
		if err := store.UpdateDevice(ctx, tx, caller(ctx).acc, me, store.DevicePatch{Config: b.DeviceConfig}); err != nil {
			return orDenied(err, "Forbidden")
		}
		d, err := s.self(ctx, tx)
		if err != nil {
			return err
		}
		out, err = deviceItem(d, true)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &corev1.PostDeviceSelfResponse{Devices: []*corev1.DeviceItem{out}}, nil
}

// ---- /api/participant/devices

func (s *participantSurface) GetParticipantDevices(ctx context.Context, r *corev1.GetParticipantDevicesRequest) (*corev1.GetParticipantDevicesResponse, error) {
	out, err := s.listDevices(ctx, store.DeviceFilter{ID: nonZero(r.IdDevice)}, !r.List)
	if err != nil {
		return nil, err
	}
	for _, item := range out {
		if item.DeviceToken != nil {
			// A device's credential is not its participant's to hold (see the proto).
			item.DeviceToken = structpb.NewNullValue()
		}
	}
	return &corev1.GetParticipantDevicesResponse{Devices: out}, nil
}
