package core_test

import (
	"testing"
)

// The service API's endpoints refuse every other kind of token (401), as OpenTera's
// service_token_or_certificate_required.
func TestServiceAPIRefusesOtherKinds(t *testing.T) {
	e := newEnv(t)
	paths := []string{"/api/service/sites", "/api/service/projects?id_project=1", "/api/service/participants?id_participant=1",
		"/api/service/groups?id_project=1", "/api/service/devices?id_device=1", "/api/service/sessions?id_session=1",
		"/api/service/sessions/events?id_session=1", "/api/service/sessiontypes", "/api/service/sessiontypes/projects?id_project=1",
		"/api/service/services?id_service=1", "/api/service/users?id_user=1", "/api/service/users/access?uuid_user=x&id_site=1",
		"/api/service/usergroups", "/api/service/roles", "/api/service/serviceaccess?id_user_group=1",
		"/api/service/access?from_user_uuid=x"}
	e.otherKindsRefused(append(gets(paths...),
		request{"POST", "/api/service/projects", map[string]any{"project": map[string]any{"id_project": 1, "project_name": "x"}}})...)
}

func TestServiceAPISites(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	e.lists("/api/service/sites", "id_site", []listCase{
		{vr, "", []int{1}},
		{ft, "", []int{1, 2}},
		{vr, "id_site=1", []int{1}},
		{vr, "id_user=1", []int{1}}, // superadmin: every site, among the service's
		{ft, "id_user=2", []int{1}}, // siteadmin: site 1
		{vr, "id_user=6", []int{}},  // user4: no role anywhere
		{vr, "id_user=99", []int{}}, // unknown
	})
	e.expect(403, vr, "GET", "/api/service/sites?id_site=2", nil)
	e.expect(403, vr, "GET", "/api/service/sites?id_site=99", nil)
	got := e.list(vr, "/api/service/sites")
	if len(got[0]) != 3 || got[0]["site_name"] != "Default Site" {
		t.Errorf("minimal site JSON: %v", got[0])
	}
}

func TestServiceAPIProjects(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	e.calls("GET", "/api/service/projects", call{vr, 400, ""}, call{vr, 403, "?id_project=3"}, call{vr, 403, "?id_site=2"})
	got := e.list(vr, "/api/service/projects?id_project=1")
	if len(got) != 1 || got[0]["project_name"] != "Default Project #1" || got[0]["site_name"] != nil {
		t.Errorf("project 1 (minimal): %v", got)
	}
	e.wantIDs(ft, "/api/service/projects?id_site=1", "id_project", 1, 2)
	// Only the projects the service is linked to (OpenTera lists the whole site).
	e.wantIDs(vr, "/api/service/projects?id_site=1", "id_project", 1)

	// Writes, OpenTera's test_post_and_delete_endpoint_with_token.
	e.expectPosts(400, vr, "/api/service/projects",
		map[string]any{},
		map[string]any{"project": map[string]any{"project_name": "x"}},
		map[string]any{"project": map[string]any{"id_project": 0, "project_name": "x"}},
		"{not json",
		map[string]any{"project": map[string]any{"id_project": "one"}},
	)
	e.expect(403, vr, "POST", "/api/service/projects", map[string]any{"project": map[string]any{"id_project": 0, "id_site": 2, "project_name": "x"}})
	p := e.postObject(vr, "/api/service/projects", map[string]any{"project": map[string]any{"id_project": 0, "id_site": 1, "project_name": "Service Project"}})
	id := int(p["id_project"].(float64))
	if p["site_name"] != "Default Site" || p["project_enabled"] != true {
		t.Errorf("created project: %v", p)
	}
	linked := scalar[bool](e, "SELECT EXISTS (SELECT 1 FROM core.t_services_projects WHERE id_service = 6 AND id_project = $1 AND deleted_at IS NULL)", id)
	if !linked {
		t.Error("the creating service is not linked to its project")
	}
	e.expect(403, vr, "POST", "/api/service/projects", map[string]any{"project": map[string]any{"id_project": 3, "project_name": "x"}})
	e.expect(403, vr, "POST", "/api/service/projects", map[string]any{"project": map[string]any{"id_project": id, "id_site": 2}})
	p = e.postObject(vr, "/api/service/projects", map[string]any{"project": map[string]any{"id_project": id, "project_name": "Renamed"}})
	if p["project_name"] != "Renamed" {
		t.Errorf("updated: %v", p)
	}
	e.expect(403, vr, "DELETE", "/api/service/projects?id=3", nil)
	e.expect(400, vr, "DELETE", "/api/service/projects", nil)
	e.expect(500, vr, "DELETE", "/api/service/projects?id=1", nil) // participants with sessions
	e.expect(200, vr, "DELETE", "/api/service/projects?id="+itoa(id), nil)
}
