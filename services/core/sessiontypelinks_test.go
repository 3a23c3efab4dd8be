package core_test

import (
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func TestSessionTypeSitesGet(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/sessiontypes/sites"
	e.linkCases(p, "id_session_type_site", []listCase{
		// By type name: Collecte, Données, Exercices, FileTransfer, Suivi (code point order).
		{"admin", "id_site=1", []int{3, 2, 4, 5, 1}},
		{"admin", "id_site=2", []int{6}},
		{"admin", "id_site=2&with_session_type=1", []int{-1, -1, 6, -1, -1}},
		{"siteadmin", "id_site=1", []int{3, 2, 4, 5, 1}},
		{"user", "id_site=1", []int{3, 2, 4, 5, 1}},
		{"user", "id_site=2", []int{}},
		{"user4", "id_site=1", []int{}},
		{"admin", "id_session_type=4", []int{4, 6}},
		{"admin", "id_session_type=1&with_sites=1", []int{1, -1}},
		{"user", "id_session_type=4", []int{4}},
		{"user3", "id_session_type=4&with_sites=1", []int{4}},
		{"user4", "id_session_type=4", []int{}},
		{"admin", "id_session_type=4&id_site=1", []int{4, 6}},
	})
	e.expect(400, "admin", "GET", p, nil)
	o := e.form("admin", p+"?id_site=2&with_session_type=1", 0, "id_session_type,id_session_type_site,id_site,session_type_name,site_name")
	if o["session_type_name"] != "Collecte données" || o["id_site"] != nil || o["site_name"] != nil {
		t.Errorf("unlinked type %v", o)
	}
	e.form("admin", p+"?id_site=2&list=true", 0, "id_session_type,id_session_type_site,id_site")
}

func TestSessionTypeSitesWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/sessiontypes/sites"
	events := e.events("session_type_site", 1)
	e.expectPosts(400, "admin", p, `{"session_type": {"sites": []}}`, `{"site": {"id_site": 1}}`, `{"session_type_site": [{"id_site": 1}]}`)
	e.expectAnswer(403, "siteadmin", "POST", p, `{"session_type_site": {"id_session_type": 2, "id_site": 2}}`, `"Forbidden"`)
	e.expect(403, "siteadmin", "POST", p, `{"site": {"id_site": 2, "sessiontypes": []}}`)
	e.expect(403, "user", "POST", p, `{"session_type": {"id_session_type": 2, "sites": [{"id_site": 1}]}}`)
	e.expect(403, "user3", "POST", p, `{"session_type": {"id_session_type": 2, "sites": [{"id_site": 1}]}}`)
	out := written(t, e.expect(200, "admin", "POST", p, `{"session_type_site": {"id_session_type": 2, "id_site": 2}}`))
	if len(out) != 1 || out[0]["id_session_type_site"] == nil {
		t.Fatalf("add %v", out)
	}
	events(1)
	// siteadmin does not administer site 2: replacing type 4's sites keeps its site 2 link.
	if out := written(t, e.expect(200, "siteadmin", "POST", p, `{"session_type": {"id_session_type": 4, "sites": [{"id_site": 1}]}}`)); len(out) != 0 {
		t.Errorf("replacement answered %v", out)
	}
	if got := nullableIDs(e.list("admin", p+"?id_session_type=4"), "id_site"); !eqInts(got, []int{1, 2}) {
		t.Errorf("type 4 sites %v", got)
	}
	// Removing a type from a site removes its project links there.
	e.expect(200, "admin", "POST", "/api/user/sessiontypes/projects", `{"session_type_project": {"id_session_type": 2, "id_project": 3}}`)
	e.expect(200, "admin", "POST", p, `{"site": {"id_site": 2, "sessiontypes": [{"id_session_type": 4}]}}`)
	if got := e.list("admin", "/api/user/sessiontypes/projects?id_project=3"); len(got) != 0 {
		t.Errorf("project 3 types after type 2 left site 2: %v", got)
	}
	// Type 1 has sessions in project 1 (site 1).
	e.expectContains(500, "siteadmin", "POST", p, `{"session_type": {"id_session_type": 1, "sites": []}}`, "Can't delete session type from site")
	e.expect(500, "siteadmin", "DELETE", p+"?id=1", nil)
	e.expectAnswer(400, "admin", "DELETE", p+"?id=99", nil, `"Bad parameter"`)
	e.expect(403, "siteadmin", "DELETE", p+"?id=6", nil)
	e.expect(403, "user", "DELETE", p+"?id=4", nil)
	deleted := e.events("session_type_site", 3)
	e.expect(200, "admin", "DELETE", p+"?id=6", nil)
	deleted(1)
}

func TestSessionTypeProjectsGet(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/sessiontypes/projects"
	e.linkCases(p, "id_session_type_project", []listCase{
		{"admin", "id_project=1", []int{3, 2, 4, 1}},
		{"admin", "id_project=1&with_session_type=1", []int{3, 2, 4, -1, 1}},
		{"admin", "id_project=3&with_session_type=1", []int{-1}},
		{"user", "id_project=1", []int{3, 2, 4, 1}},
		{"user3", "id_project=2", []int{}},
		{"user", "id_project=3", []int{}},
		{"user4", "id_project=1", []int{}},
		{"admin", "id_session_type=1", []int{1}},
		{"admin", "id_session_type=1&with_projects=1", []int{1, -1, -1}},
		{"user", "id_session_type=1&with_projects=1", []int{1, -1}},
		{"siteadmin", "id_session_type=5", []int{5}},
		{"user4", "id_session_type=1", []int{}},
		// id_project first.
		{"admin", "id_project=2&id_session_type=1", []int{5}},
	})
	e.expect(400, "admin", "GET", p, nil)
	o := e.form("admin", p+"?id_session_type=1&with_projects=1&with_sites=1", 2,
		"id_project,id_session_type,id_session_type_project,id_site,project_name,session_type_name,site_name")
	if o["project_name"] != "Secret Project #1" || o["site_name"] != "Top Secret Site" || o["session_type_name"] != nil {
		t.Errorf("unlinked project with sites %v", o)
	}
	e.form("admin", p+"?id_project=1&list=1&with_sites=1", 0, "id_project,id_session_type,id_session_type_project")
}

func TestSessionTypeProjectsWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/sessiontypes/projects"
	events := e.events("session_type_project", 1)
	e.expectAnswer(400, "admin", "POST", p, `{}`, `"Unknown format"`)
	e.expect(400, "admin", "POST", p, `{"project": {"id_project": 1}}`)
	e.expect(400, "admin", "POST", p, `{"session_type": {"projects": []}}`)
	e.expect(403, "user", "POST", p, `{"session_type_project": {"id_session_type": 5, "id_project": 1}}`)
	e.expect(403, "user3", "POST", p, `{"project": {"id_project": 2, "sessiontypes": []}}`)
	e.expectContains(403, "admin", "POST", p, `{"session_type_project": {"id_session_type": 1, "id_project": 3}}`, "not associated to the site")
	// user3 administers project 1.
	out := written(t, e.expect(200, "user3", "POST", p, `{"session_type_project": {"id_session_type": 5, "id_project": 1}}`))
	if len(out) != 1 || out[0]["id_project"] != 1.0 {
		t.Errorf("add %v", out)
	}
	events(1)
	// Type 4 has no sessions: user3 takes it out of project 1; type 1 has sessions there.
	if out := written(t, e.expect(200, "user3", "POST", p, `{"project": {"id_project": 1, "sessiontypes": [
		{"id_session_type": 1}, {"id_session_type": 2}, {"id_session_type": 3}, {"id_session_type": 5}]}}`)); len(out) != 0 {
		t.Errorf("replacement answered %v", out)
	}
	e.expectContains(500, "user3", "POST", p, `{"project": {"id_project": 1, "sessiontypes": []}}`, "Can't delete session type from project")
	// siteadmin replaces type 5's projects with project 1 only: project 2 goes.
	if out := written(t, e.expect(200, "siteadmin", "POST", p, `{"session_type": {"id_session_type": 5, "projects": [{"id_project": 1}]}}`)); len(out) != 0 {
		t.Errorf("type form answered %v", out)
	}
	if got := nullableIDs(e.list("admin", p+"?id_session_type=5"), "id_project"); !eqInts(got, []int{1}) {
		t.Errorf("type 5 projects %v", got)
	}
	e.calls("DELETE", p, call{"admin", 400, "?id=99"}, call{"user", 403, "?id=1"}, call{"siteadmin", 500, "?id=1"},
		call{"siteadmin", 200, "?id=" + itoa(int(out[0]["id_session_type_project"].(float64)))})
}

func TestSessionTypeServicesGetWrite(t *testing.T) {
	e := newEnv(t)
	const p = "/api/user/sessiontypes/services"
	e.linkCases(p, "id_session_type_service", []listCase{
		{"admin", "id_session_type=3", []int{1}},
		{"user", "id_session_type=3", []int{1}},
		{"user4", "id_session_type=3", []int{}},
		{"admin", "id_session_type=2", []int{}},
		{"admin", "list=1", []int{}},
	})
	e.expect(400, "admin", "GET", p, nil)
	with := e.list("user", p+"?id_session_type=3&with_services=1")
	if got := nullableIDs(with, "id_service"); !eqInts(got, []int{3, 6}) || with[0]["service_name"] != "File Transfer Service" ||
		with[1]["id_session_type"] != nil {
		t.Errorf("with services %v", with)
	}
	e.form("admin", p+"?id_session_type=3&list=1", 0, "id_service,id_session_type,id_session_type_service")

	e.expectAnswer(400, "admin", "POST", p, `{"sessiontype": {}}`, `"Unknown format"`)
	e.expect(400, "admin", "POST", p, `{"service": {"id_service": 3}}`)
	e.expect(403, "user", "POST", p, `{"session_type_service": {"id_session_type": 2, "id_service": 3}}`)
	// siteadmin administers the services of site 1 (2, 3, 6), not 5.
	e.expect(403, "siteadmin", "POST", p, `{"session_type_service": {"id_session_type": 2, "id_service": 5}}`)
	out := written(t, e.expect(200, "siteadmin", "POST", p, `{"session_type_service": {"id_session_type": 4, "id_service": 2}}`))
	if len(out) != 1 || out[0]["id_service"] != 2.0 {
		t.Errorf("add %v", out)
	}
	// The type form answers every listed link, new or not.
	out = written(t, e.expect(200, "admin", "POST", p, `{"session_type": {"id_session_type": 4, "services": [{"id_service": 2}, {"id_service": 5}]}}`))
	if got := nullableIDs(out, "id_service"); !eqInts(got, []int{2, 5}) {
		t.Errorf("type form %v", out)
	}
	// Type 3 has sessions: its secondary service stays.
	e.expectContains(400, "admin", "POST", p, `{"session_type": {"id_session_type": 3, "services": []}}`, "Can't remove associated service")
	e.expect(500, "admin", "POST", p, `{"service": {"id_service": 3, "sessiontypes": []}}`)
	e.expectAnswer(404, "admin", "DELETE", p+"?id=99", nil, `"Not found"`)
	e.expect(403, "user", "DELETE", p+"?id=1", nil)
	e.expect(500, "admin", "DELETE", p+"?id=1", nil)
	// The link pulled service 5 into type 4's sites, so siteadmin administers it now; user3
	// administers no site, hence no type.
	e.expect(403, "user3", "DELETE", p+"?id="+itoa(int(out[1]["id_session_type_service"].(float64))), nil)
	e.expect(200, "siteadmin", "DELETE", p+"?id="+itoa(int(out[1]["id_session_type_service"].(float64))), nil)
}

func TestSessionTypeSitesGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user")
	c := corev1.NewSessionTypeSiteServiceClient(conn)
	r, err := c.GetSessionTypeSites(ctx, &corev1.GetSessionTypeSitesRequest{IdSessionType: 4, WithSites: true})
	if err != nil || len(r.SessionTypeSites) != 1 || r.SessionTypeSites[0].GetIdSite().GetValue() != 1 ||
		r.SessionTypeSites[0].GetSiteName().GetStringValue() != "Default Site" {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := c.DeleteSessionTypeSite(ctx, &corev1.DeleteSessionTypeSiteRequest{}); err == nil {
		t.Error("delete without id accepted")
	}
	dc := corev1.NewDeviceProjectServiceClient(conn)
	if r, err := dc.GetDeviceProjects(ctx, &corev1.GetDeviceProjectsRequest{IdDevice: 1}); err != nil || len(r.DeviceProjects) != 1 {
		t.Fatalf("%v %v", r, err)
	}
}
