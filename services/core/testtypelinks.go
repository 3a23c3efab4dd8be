package core

import (
	"context"

	"google.golang.org/protobuf/types/known/structpb"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/store"
)

// /api/user/testtypes/sites and /testtypes/projects, on links.go.

const (
	msgTestTypeSiteUsed    = "Can't delete test type from site: please delete all tests of that type in the site before deleting."
	msgTestTypeProjectUsed = "Can't delete test type from project: please delete all tests of that type in the project before deleting."
)

var (
	adminTestTypes sideSet = func(m me) access.Fragment { return m.acc.AdminOnly().TestTypes() }
	seenTestTypes  sideSet = func(m me) access.Fragment { return m.acc.TestTypes() }
)

// OpenTera checks the site alone; Tera also wants a type the caller sees, so that a site admin
// cannot pull in (and so learn) a type of a service it does not see.
var testTypeSitesSpec = typeSitesEndpoint(store.TestTypeSites, "test_type", "test types", adminTestTypes, seenTestTypes, msgTestTypeSiteUsed)

var testTypeProjectsSpec = &linkEndpoint{
	link: store.TestTypeProjects, keyA: "id_test_type", keyB: "id_project",
	forms: []linkForm{
		// OpenTera refuses the form when any current project is not administered; Tera when
		// the replacement would remove one (it is never removed either way).
		{name: "test_type", onA: true, idKey: "id_test_type", listKey: "projects", missingID: "Missing id_test_type",
			missingSet: "Missing projects", owner: &sideRule{true, seenTestTypes, apierr.Forbidden("Access denied")}, removable: adminProjects,
			removed: &sideRule{false, adminProjects, apierr.Forbidden("Access denied to at least one project")},
			refused: apierr.Integrity(msgTestTypeProjectUsed)},
		{name: "project", idKey: "id_project", listKey: "testtypes", missingID: "Missing project ID", missingSet: "Missing test types",
			owner: &sideRule{false, adminProjects, apierr.Forbidden("Access denied")}, refused: apierr.Integrity(msgTestTypeProjectUsed)},
	},
	noForm: apierr.InvalidArgument("Unknown format"), badItem: apierr.InvalidArgument("Badly formatted request"),
	pair: []sideRule{{false, adminProjects, apierr.Forbidden("Forbidden")}, {true, seenTestTypes, apierr.Forbidden("Forbidden")}},
	integrity: map[string]error{"Test type not associated to project site": apierr.Forbidden(
		"At least one test type is not associated to the site of its project")},
	del: linkDelete{notFound: apierr.InvalidArgument("Not found"),
		rules:   []sideRule{{false, adminProjects, apierr.Forbidden("Access denied")}, {true, seenTestTypes, apierr.Forbidden("Access denied")}},
		refused: func(string) error { return apierr.Integrity(msgTestTypeProjectUsed) }},
}

// typesWithServiceSeen are the live test types of services the caller sees.
func typesWithServiceSeen(m me) access.Fragment {
	f := m.acc.Services()
	return store.Fragment(`SELECT tt.id_test_type AS id FROM core.t_tests_types tt WHERE tt.deleted_at IS NULL AND tt.id_service IN (`+f.SQL+`)`, f.Args)
}

// ---- /api/user/testtypes/sites

type testTypeSites struct {
	*Service
	corev1.UnimplementedTestTypeSiteServiceServer
}

func (s *testTypeSites) GetTestTypeSites(ctx context.Context, r *corev1.GetTestTypeSitesRequest) (*corev1.GetTestTypeSitesResponse, error) {
	m, list := caller(ctx), r.List != nil
	items, err := selectLinks(ctx, s.Service, store.TestTypeSites, r.GetList() || r.WithTestsTypes || r.WithSites,
		func(l store.LinkRow) *corev1.TestTypeSite { return testTypeSiteItem(l, list) },
		linkSelector{r.IdTestType, access.TestTypes, store.LinkQuery{A: store.OneID("sel", r.IdTestType),
			B: m.acc.Sites(), Others: when(r.WithSites, m.acc.Sites())}},
		linkSelector{r.IdSite, access.Sites, store.LinkQuery{A: typesWithServiceSeen(m), B: store.OneID("sel", r.IdSite),
			ByA: true, Others: when(r.WithTestsTypes, m.acc.TestTypes()), OthersOnA: true}})
	return reply(&corev1.GetTestTypeSitesResponse{TestTypeSites: items}, err)
}

func testTypeSiteItem(l store.LinkRow, list bool) *corev1.TestTypeSite {
	out := &corev1.TestTypeSite{IdTestTypeSite: int32Value(l.ID), IdTestType: int32Value(l.A), IdSite: int32Value(l.B)}
	out.TestTypeName, out.SiteName = names(list, l)
	return out
}

func (s *testTypeSites) PostTestTypeSites(ctx context.Context, r *corev1.PostTestTypeSitesRequest) (*corev1.PostTestTypeSitesResponse, error) {
	items, err := postLinkItems(ctx, s.Service, testTypeSitesSpec, []*structpb.Struct{r.TestType, r.Site}, r.TestTypeSite,
		func(l store.LinkRow) *corev1.TestTypeSite { return testTypeSiteItem(l, true) })
	return reply(&corev1.PostTestTypeSitesResponse{TestTypeSites: items}, err)
}

func (s *testTypeSites) DeleteTestTypeSite(ctx context.Context, r *corev1.DeleteTestTypeSiteRequest) (*corev1.DeleteTestTypeSiteResponse, error) {
	return &corev1.DeleteTestTypeSiteResponse{}, s.removeLink(ctx, testTypeSitesSpec, r.Id)
}

// ---- /api/user/testtypes/projects

type testTypeProjects struct {
	*Service
	corev1.UnimplementedTestTypeProjectServiceServer
}

// testTypesOfProjectSite are the test types linked to the site of the project @sel whose
// service the caller sees (OpenTera's query_tests_types_for_project, include_other_tests_types).
func testTypesOfProjectSite(m me, project int32) access.Fragment {
	f := m.acc.Services()
	return store.Fragment(`SELECT tts.id_test_type AS id FROM core.t_tests_types_sites tts
	JOIN core.t_projects p ON p.id_site = tts.id_site JOIN core.t_tests_types tt ON tt.id_test_type = tts.id_test_type
	WHERE p.id_project = @sel AND tts.deleted_at IS NULL AND tt.deleted_at IS NULL AND tt.id_service IN (`+f.SQL+`)`, f.With(sel(project)))
}

func (s *testTypeProjects) GetTestTypeProjects(ctx context.Context, r *corev1.GetTestTypeProjectsRequest) (*corev1.GetTestTypeProjectsResponse, error) {
	m, list := caller(ctx), r.List != nil
	sites := r.WithSites && !list
	items, err := selectLinks(ctx, s.Service, store.TestTypeProjects, r.GetList() || r.WithProjects || r.WithTestsTypes || r.WithSites,
		func(l store.LinkRow) *corev1.TestTypeProject { return testTypeProjectItem(l, list, r.WithSites) },
		linkSelector{r.IdProject, access.Projects, store.LinkQuery{A: m.acc.TestTypes(), B: store.OneID("sel", r.IdProject),
			ByA: true, Others: when(r.WithTestsTypes, testTypesOfProjectSite(m, r.IdProject)), OthersOnA: true, Sites: sites}},
		linkSelector{r.IdTestType, access.TestTypes, store.LinkQuery{A: store.OneID("sel", r.IdTestType),
			B: m.acc.Projects(), Others: when(r.WithProjects, m.acc.Projects()), Sites: sites}})
	return reply(&corev1.GetTestTypeProjectsResponse{TestTypeProjects: items}, err)
}

func testTypeProjectItem(l store.LinkRow, list, sites bool) *corev1.TestTypeProject {
	out := &corev1.TestTypeProject{IdTestTypeProject: int32Value(l.ID), IdTestType: int32Value(l.A), IdProject: int32Value(l.B)}
	out.TestTypeName, out.ProjectName = names(list, l)
	out.IdSite, out.SiteName = projectSite(list, sites, l)
	return out
}

func (s *testTypeProjects) PostTestTypeProjects(ctx context.Context, r *corev1.PostTestTypeProjectsRequest) (*corev1.PostTestTypeProjectsResponse, error) {
	return s.postTestTypeProjects(ctx, testTypeProjectsSpec, r)
}

// postTestTypeProjects is the POST of /api/user/testtypes/projects and of the service API's.
func (s *Service) postTestTypeProjects(ctx context.Context, sp *linkEndpoint, r *corev1.PostTestTypeProjectsRequest) (*corev1.PostTestTypeProjectsResponse, error) {
	items, err := postLinkItems(ctx, s, sp, []*structpb.Struct{r.TestType, r.Project}, r.TestTypeProject,
		func(l store.LinkRow) *corev1.TestTypeProject { return testTypeProjectItem(l, true, false) })
	return reply(&corev1.PostTestTypeProjectsResponse{TestTypeProjects: items}, err)
}

func (s *testTypeProjects) DeleteTestTypeProject(ctx context.Context, r *corev1.DeleteTestTypeProjectRequest) (*corev1.DeleteTestTypeProjectResponse, error) {
	return &corev1.DeleteTestTypeProjectResponse{}, s.removeLink(ctx, testTypeProjectsSpec, r.Id)
}

// ---- /api/service/testtypes/projects

// svcTestTypeProjectsSpec is /api/service/testtypes/projects: the service's own types (seen
// test types are its own) in the projects it sees.
var svcTestTypeProjectsSpec = serviceTypeProjectsEndpoint(store.TestTypeProjects, store.TestTypeSites, "test_type",
	"testtypes", "test types", seenTestTypes, msgTestTypeProjectUsed)

func (s *serviceTests) SvcGetTestTypeProjects(ctx context.Context, r *corev1.SvcGetTestTypeProjectsRequest) (*corev1.GetTestTypeProjectsResponse, error) {
	m := caller(ctx)
	items, err := selectLinks(ctx, s.Service, store.TestTypeProjects, r.WithSites,
		func(l store.LinkRow) *corev1.TestTypeProject { return testTypeProjectItem(l, false, r.WithSites) },
		linkSelector{r.IdProject, access.Projects, store.LinkQuery{A: m.acc.TestTypes(), B: store.OneID("sel", r.IdProject), ByA: true, Sites: r.WithSites}},
		linkSelector{r.IdTestType, access.TestTypes, store.LinkQuery{A: store.OneID("sel", r.IdTestType), B: m.acc.Projects(), Sites: r.WithSites}})
	return reply(&corev1.GetTestTypeProjectsResponse{TestTypeProjects: items}, err)
}

func (s *serviceTests) SvcPostTestTypeProjects(ctx context.Context, r *corev1.PostTestTypeProjectsRequest) (*corev1.PostTestTypeProjectsResponse, error) {
	return s.postTestTypeProjects(ctx, svcTestTypeProjectsSpec, r)
}

func (s *serviceTests) SvcDeleteTestTypeProject(ctx context.Context, r *corev1.DeleteTestTypeProjectRequest) (*corev1.DeleteTestTypeProjectResponse, error) {
	return &corev1.DeleteTestTypeProjectResponse{}, s.removeLink(ctx, svcTestTypeProjectsSpec, r.Id)
}
