package core

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// /api/user/sessiontypes/sites, /sessiontypes/projects and /sessiontypes/services, on links.go.

const (
	msgTypeSiteUsed    = "Can't delete session type from site: please delete all sessions of that type in the site before deleting."
	msgTypeProjectUsed = "Can't delete session type from project: please delete all sessions using that type in that project before deleting."
)

// OpenTera checks the site alone; Tera also wants a type the caller sees, so that a site admin
// cannot pull in (and so learn) a type of someone else's site.
var sessionTypeSitesSpec = typeSitesEndpoint(store.SessionTypeSites, "session_type", "session types", adminTypes, seenTypes, msgTypeSiteUsed)

var sessionTypeProjectsSpec = &linkEndpoint{
	link: store.SessionTypeProjects, keyA: "id_session_type", keyB: "id_project",
	forms: []linkForm{
		{name: "session_type", onA: true, idKey: "id_session_type", listKey: "projects", missingID: "Missing id_session_type",
			missingSet: "Missing projects", owner: &sideRule{true, adminTypes, apierr.Forbidden("Access denied")}, removable: adminProjects,
			refused: apierr.Integrity(msgTypeProjectUsed)},
		{name: "project", idKey: "id_project", listKey: "sessiontypes", missingID: "Missing project ID", missingSet: "Missing session types",
			owner: &sideRule{false, adminProjects, apierr.Forbidden("Access denied")}, refused: apierr.Integrity(msgTypeProjectUsed)},
	},
	noForm: apierr.InvalidArgument("Unknown format"), badItem: apierr.InvalidArgument("Badly formatted request"),
	pair: []sideRule{{false, adminProjects, apierr.Forbidden("Forbidden")}},
	integrity: map[string]error{"Session type not associated to project site": apierr.Forbidden(
		"At least one session type is not associated to the site of its project")},
	del: linkDelete{notFound: apierr.InvalidArgument("Not found"), rules: []sideRule{{true, adminTypes, apierr.Forbidden("Access denied")}},
		refused: func(string) error {
			return apierr.Integrity("Can't delete session type from project: please delete all sessions of that type in the project before deleting.")
		}},
}

var sessionTypeServicesSpec = &linkEndpoint{
	link: store.SessionTypeServices, keyA: "id_session_type", keyB: "id_service",
	forms: []linkForm{
		{name: "session_type", onA: true, idKey: "id_session_type", listKey: "services", missingID: "Missing id_session_type",
			missingSet: "Missing services", owner: &sideRule{true, adminTypes, apierr.Forbidden("Access denied")}, removable: adminServices,
			allListed: true, refused: apierr.InvalidArgument(
				"Can't remove associated service from session type: please delete all sessions using that type before deleting.")},
		{name: "service", idKey: "id_service", listKey: "sessiontypes", missingID: "Missing service ID", missingSet: "Missing session types",
			owner: &sideRule{false, adminServices, apierr.Forbidden("Access denied")}, removable: adminTypes, refused: apierr.Integrity(
				"Can't remove session type association from service: please delete all sessions using that type before deleting.")},
	},
	noForm: apierr.InvalidArgument("Unknown format"), badItem: apierr.InvalidArgument("Badly formatted request"),
	// OpenTera checks the service alone; Tera also wants a type the caller administers, so that a
	// service admin cannot change the services of someone else's type.
	pair: []sideRule{{false, adminServices, apierr.Forbidden("Forbidden")}, {true, adminTypes, apierr.Forbidden("Forbidden")}},
	del: linkDelete{notFound: apierr.NotFound("Not found"),
		rules: []sideRule{{true, adminTypes, apierr.Forbidden("Access denied")}, {false, adminServices, apierr.Forbidden("Access denied")}},
		refused: func(string) error {
			return apierr.Integrity("Can't remove associated service from session type: please delete all sessions of that type before deleting.")
		}},
}

// ---- /api/user/sessiontypes/sites

type sessionTypeSites struct {
	*Service
	corev1.UnimplementedSessionTypeSiteServiceServer
}

func (s *sessionTypeSites) GetSessionTypeSites(ctx context.Context, r *corev1.GetSessionTypeSitesRequest) (*corev1.GetSessionTypeSitesResponse, error) {
	m, list := caller(ctx), r.List != nil
	items, err := selectLinks(ctx, s.Service, store.SessionTypeSites, r.GetList() || r.WithSessionType || r.WithSites,
		func(l store.LinkRow) *corev1.SessionTypeSite { return sessionTypeSiteItem(l, list) },
		linkSelector{r.IdSessionType, access.SessionTypes, store.LinkQuery{A: store.OneID("sel", r.IdSessionType),
			B: m.acc.Sites(), Others: when(r.WithSites, m.acc.Sites())}},
		// Other types: those the caller sees (OpenTera lists every type of its sites, SERVICE
		// types of services it does not see included).
		linkSelector{r.IdSite, access.Sites, store.LinkQuery{B: store.OneID("sel", r.IdSite), ByA: true,
			Others: when(r.WithSessionType, m.acc.SessionTypes()), OthersOnA: true}})
	return &corev1.GetSessionTypeSitesResponse{SessionTypeSites: items}, err
}

func sessionTypeSiteItem(l store.LinkRow, list bool) *corev1.SessionTypeSite {
	out := &corev1.SessionTypeSite{IdSessionTypeSite: int32Value(l.ID), IdSessionType: int32Value(l.A), IdSite: int32Value(l.B)}
	out.SessionTypeName, out.SiteName = names(list, l)
	return out
}

func (s *sessionTypeSites) PostSessionTypeSites(ctx context.Context, r *corev1.PostSessionTypeSitesRequest) (*corev1.PostSessionTypeSitesResponse, error) {
	items, err := postLinkItems(ctx, s.Service, sessionTypeSitesSpec, []*structpb.Struct{r.SessionType, r.Site}, r.SessionTypeSite,
		func(l store.LinkRow) *corev1.SessionTypeSite { return sessionTypeSiteItem(l, true) })
	return &corev1.PostSessionTypeSitesResponse{SessionTypeSites: items}, err
}

func (s *sessionTypeSites) DeleteSessionTypeSite(ctx context.Context, r *corev1.DeleteSessionTypeSiteRequest) (*corev1.DeleteSessionTypeSiteResponse, error) {
	return &corev1.DeleteSessionTypeSiteResponse{}, s.removeLink(ctx, sessionTypeSitesSpec, r.Id)
}

// ---- /api/user/sessiontypes/projects

type sessionTypeProjects struct {
	*Service
	corev1.UnimplementedSessionTypeProjectServiceServer
}

// typesOfProjectSite are the session types linked to the site of the project @sel.
const typesOfProjectSite = `SELECT sts.id_session_type AS id FROM core.t_sessions_types_sites sts
	JOIN core.t_projects p ON p.id_site = sts.id_site WHERE p.id_project = @sel AND sts.deleted_at IS NULL`

func (s *sessionTypeProjects) GetSessionTypeProjects(ctx context.Context, r *corev1.GetSessionTypeProjectsRequest) (*corev1.GetSessionTypeProjectsResponse, error) {
	m, list := caller(ctx), r.List != nil
	sites := r.WithSites && !list
	items, err := selectLinks(ctx, s.Service, store.SessionTypeProjects, r.GetList() || r.WithProjects || r.WithSessionType || r.WithSites,
		func(l store.LinkRow) *corev1.SessionTypeProject { return sessionTypeProjectItem(l, list, r.WithSites) },
		linkSelector{r.IdProject, access.Projects, store.LinkQuery{A: m.acc.SessionTypes(), B: store.OneID("sel", r.IdProject), ByA: true,
			Others: when(r.WithSessionType, store.Fragment(typesOfProjectSite, sel(r.IdProject))), OthersOnA: true, Sites: sites}},
		linkSelector{r.IdSessionType, access.SessionTypes, store.LinkQuery{A: store.OneID("sel", r.IdSessionType),
			B: m.acc.Projects(), Others: when(r.WithProjects, m.acc.Projects()), Sites: sites}})
	return &corev1.GetSessionTypeProjectsResponse{SessionTypeProjects: items}, err
}

func sessionTypeProjectItem(l store.LinkRow, list, sites bool) *corev1.SessionTypeProject {
	out := &corev1.SessionTypeProject{IdSessionTypeProject: int32Value(l.ID), IdSessionType: int32Value(l.A), IdProject: int32Value(l.B)}
	out.SessionTypeName, out.ProjectName = names(list, l)
	out.IdSite, out.SiteName = projectSite(list, sites, l)
	return out
}

func (s *sessionTypeProjects) PostSessionTypeProjects(ctx context.Context, r *corev1.PostSessionTypeProjectsRequest) (*corev1.PostSessionTypeProjectsResponse, error) {
	items, err := postLinkItems(ctx, s.Service, sessionTypeProjectsSpec, []*structpb.Struct{r.SessionType, r.Project}, r.SessionTypeProject,
		func(l store.LinkRow) *corev1.SessionTypeProject { return sessionTypeProjectItem(l, true, false) })
	return &corev1.PostSessionTypeProjectsResponse{SessionTypeProjects: items}, err
}

func (s *sessionTypeProjects) DeleteSessionTypeProject(ctx context.Context, r *corev1.DeleteSessionTypeProjectRequest) (*corev1.DeleteSessionTypeProjectResponse, error) {
	return &corev1.DeleteSessionTypeProjectResponse{}, s.removeLink(ctx, sessionTypeProjectsSpec, r.Id)
}

// ---- /api/user/sessiontypes/services

type sessionTypeServices struct {
	*Service
	corev1.UnimplementedSessionTypeServiceServiceServer
}

func (s *sessionTypeServices) GetSessionTypeServices(ctx context.Context, r *corev1.GetSessionTypeServicesRequest) (*corev1.GetSessionTypeServicesResponse, error) {
	m, list := caller(ctx), r.List != nil
	// Sorted by service name with the other services, else in link order (OpenTera sorts by the
	// one type's name).
	items, err := selectLinks(ctx, s.Service, store.SessionTypeServices, r.GetList() || r.WithServices,
		func(l store.LinkRow) *corev1.SessionTypeServiceLink { return sessionTypeServiceItem(l, list) },
		linkSelector{r.IdSessionType, access.SessionTypes, store.LinkQuery{A: store.OneID("sel", r.IdSessionType),
			ByA: !r.WithServices, Others: when(r.WithServices, m.acc.Services())}})
	return &corev1.GetSessionTypeServicesResponse{SessionTypeServices: items}, err
}

func sessionTypeServiceItem(l store.LinkRow, list bool) *corev1.SessionTypeServiceLink {
	out := &corev1.SessionTypeServiceLink{IdSessionTypeService: int32Value(l.ID), IdSessionType: int32Value(l.A), IdService: int32Value(l.B)}
	out.SessionTypeName, out.ServiceName = names(list, l)
	return out
}

func (s *sessionTypeServices) PostSessionTypeServices(ctx context.Context, r *corev1.PostSessionTypeServicesRequest) (*corev1.PostSessionTypeServicesResponse, error) {
	items, err := postLinkItems(ctx, s.Service, sessionTypeServicesSpec, []*structpb.Struct{r.SessionType, r.Service}, r.SessionTypeService,
		func(l store.LinkRow) *corev1.SessionTypeServiceLink { return sessionTypeServiceItem(l, true) })
	return &corev1.PostSessionTypeServicesResponse{SessionTypeServices: items}, err
}

func (s *sessionTypeServices) DeleteSessionTypeService(ctx context.Context, r *corev1.DeleteSessionTypeServiceRequest) (*corev1.DeleteSessionTypeServiceResponse, error) {
	return &corev1.DeleteSessionTypeServiceResponse{}, s.removeLink(ctx, sessionTypeServicesSpec, r.Id)
}

// ---- /api/service/sessiontypes/projects

func (s *serviceAPI) SvcGetSessionTypeProjects(ctx context.Context, r *corev1.SvcGetSessionTypeProjectsRequest) (*corev1.SvcGetSessionTypeProjectsResponse, error) {
	var project, sessionType *int32
	switch {
	case r.IdProject != 0:
		project = &r.IdProject
	case r.IdSessionType != 0:
		sessionType = &r.IdSessionType
	default:
		return nil, apierr.MissingArgument("Missing arguments")
	}
	rows, err := store.ListSessionTypeProjects(ctx, s.db, caller(ctx).acc, project, sessionType)
	if err != nil {
		return nil, s.dbError(ctx, err)
	}
	out := make([]*corev1.SessionTypeProject, len(rows))
	for i, row := range rows {
		out[i] = &corev1.SessionTypeProject{IdSessionTypeProject: wrapperspb.Int32(row.ID), IdSessionType: wrapperspb.Int32(row.IDSessionType),
			IdProject: wrapperspb.Int32(row.IDProject), SessionTypeName: structpb.NewStringValue(row.SessionTypeName),
			ProjectName: structpb.NewStringValue(row.ProjectName)}
		if r.WithSites {
			out[i].IdSite, out[i].SiteName = structpb.NewNumberValue(float64(row.IDSite)), structpb.NewStringValue(row.SiteName)
		}
	}
	return &corev1.SvcGetSessionTypeProjectsResponse{SessionTypeProjects: out}, nil
}

// svcSessionTypeProjectsSpec is /api/user/sessiontypes/projects for a service: its own types
// and projects only (OpenTera's form "project" removes other services' types from the project
// too, its list form takes any type), and a type is linked to a project's site first, as
// OpenTera does at service level.
var svcSessionTypeProjectsSpec = serviceTypeProjectsEndpoint(store.SessionTypeProjects, store.SessionTypeSites, "session_type",
	"sessions_types", "sessions_types", seenTypes, msgTypeProjectInUse)

const msgTypeProjectInUse = "Can't delete session type from project: please delete all sessions of that type in the project before deleting."

var seenProjects sideSet = func(m me) access.Fragment { return m.acc.Projects() }

func (s *serviceAPI) SvcPostSessionTypeProjects(ctx context.Context, r *corev1.SvcPostSessionTypeProjectsRequest) (*corev1.SvcPostSessionTypeProjectsResponse, error) {
	items, err := postLinkItems(ctx, s.Service, svcSessionTypeProjectsSpec, []*structpb.Struct{r.SessionType, r.Project}, r.SessionsTypesProjects,
		func(l store.LinkRow) *corev1.SessionTypeProject { return sessionTypeProjectItem(l, true, false) })
	return reply(&corev1.SvcPostSessionTypeProjectsResponse{SessionTypeProjects: items}, err)
}

func (s *serviceAPI) SvcDeleteSessionTypeProject(ctx context.Context, r *corev1.SvcDeleteSessionTypeProjectRequest) (*corev1.SvcDeleteSessionTypeProjectResponse, error) {
	return &corev1.SvcDeleteSessionTypeProjectResponse{}, s.removeLink(ctx, svcSessionTypeProjectsSpec, r.Id)
}
