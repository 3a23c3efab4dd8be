package core_test

import (
	"slices"
	"testing"
)

func TestProjectsGetAccessAndRoles(t *testing.T) {
	e := newEnv(t)
	want := map[string]map[int]string{
		"admin":     {1: "admin", 2: "admin", 3: "admin"},
		"siteadmin": {1: "admin", 2: "admin"},
		"user":      {1: "user", 2: "user"},
		"user2":     {1: "admin", 2: "admin"},
		"user3":     {1: "admin"},
		"user4":     {},
	}
	for who, w := range want {
		got := e.list(who, "/api/user/projects")
		if len(got) != len(w) {
			t.Errorf("%s sees %v, want %v", who, ids(got, "id_project"), w)
			continue
		}
		for _, p := range got {
			id := int(p["id_project"].(float64))
			if p["project_role"] != w[id] {
				t.Errorf("%s: project %d role %v, want %s", who, id, p["project_role"], w[id])
			}
		}
	}
	got := e.list("admin", "/api/user/projects?id_project=1")
	p := got[0]
	if p["project_name"] != "Default Project #1" || p["site_name"] != "Default Site" || p["id_site"] != float64(1) ||
		p["project_enabled"] != true || p["project_description"] != nil || len(p) != 7 {
		t.Errorf("project 1: %v", p)
	}
	if _, has := p["project_description"]; !has {
		t.Error("project_description missing (OpenTera sends null)")
	}
}

func TestProjectsSelectors(t *testing.T) {
	e := newEnv(t)
	uuser := scalar[string](e, "SELECT user_uuid FROM core.t_users WHERE user_username = 'user3'")
	e.lists("/api/user/projects", "id_project", []listCase{
		{"admin", "id_project=3", []int{3}},
		{"admin", "id=2", []int{2}},
		{"user", "id_project=3", []int{}},
		{"admin", "id_project=3&id_site=1", []int{3}}, // id_project wins
		{"admin", "user_uuid=" + uuser, []int{1}},
		{"user4", "user_uuid=" + uuser, []int{}},
		{"admin", "id_service=3", []int{1, 2, 3}},
		{"admin", "id_service=3&id_site=1", []int{1, 2}},
		{"user", "id_service=3", []int{1, 2}},
		{"user4", "id_service=3", []int{}},
		{"admin", "id_service=5", []int{}},
		{"admin", "id_site=1", []int{1, 2}},
		{"admin", "id_site=2", []int{3}},
		{"user3", "id_site=1", []int{1}},
		{"siteadmin", "id_site=2", []int{}},
		{"admin", "name=Secret%20Project%20%231", []int{3}},
		{"user", "name=Secret%20Project%20%231", []int{}},
	})
	// list: counts instead of the role.
	got := e.list("user", "/api/user/projects?list=true")
	if len(got) != 2 || got[0]["project_participant_group_count"] != float64(1) || got[0]["project_participant_count"] != float64(3) ||
		got[1]["project_participant_count"] != float64(0) {
		t.Errorf("list: %v", got)
	}
	if _, has := got[0]["project_role"]; has {
		t.Errorf("list form carries project_role: %v", got[0])
	}
}

func TestProjectsWrite(t *testing.T) {
	e := newEnv(t)
	// 400s.
	e.expectPosts(400, "admin", "/api/user/projects",
		`{"project": {"id_project": 0}}`,
		`{"project": {"id_site": 1}}`,
		`{"nope": {}}`,
		`{"project": {"id_project": 0, "id_site": 1}}`,
		`{"project": {"id_project": 0, "id_site": 1, "project_enabled": "yes"}}`,
		`{"project": {"id_project": 0, "id_site": 1, "project_name": "x", "sessiontypes": {"a": 1}}}`,
	)
	e.expect(400, "admin", "DELETE", "/api/user/projects", nil)

	// Create: site admin of id_site.
	for _, who := range []string{"user", "user3", "user4"} {
		e.expect(403, who, "POST", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 0, "id_site": 1, "project_name": "P"}})
	}
	e.expect(403, "siteadmin", "POST", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 0, "id_site": 2, "project_name": "P"}})
	creates := e.events("project", 1)
	p := e.post("siteadmin", "/api/user/projects", map[string]any{"project": map[string]any{
		"id_project": 0, "id_site": 1, "project_name": "New P", "project_description": "desc",
		"sessiontypes": []map[string]any{{"id_session_type": 1}, {"id_session_type": 4}}}})
	id := int(p["id_project"].(float64))
	if p["project_name"] != "New P" || p["project_description"] != "desc" || p["site_name"] != "Default Site" || p["project_enabled"] != true {
		t.Errorf("created %v", p)
	}
	creates(1)
	links := scalar[int](e, "SELECT count(*) FROM core.t_sessions_types_projects WHERE id_project = $1 AND deleted_at IS NULL", id)
	if links != 2 {
		t.Errorf("new project has %d session types, want 2", links)
	}
	// The creator (site admin) is admin of it.
	got := e.list("siteadmin", "/api/user/projects?id_project="+itoa(id))
	if len(got) != 1 || got[0]["project_role"] != "admin" {
		t.Errorf("siteadmin on new project: %v", got)
	}

	// Session types must be linked to the project's site: type 5 is on site 1 only.
	e.expect(403, "admin", "POST", "/api/user/projects", map[string]any{"project": map[string]any{
		"id_project": 3, "id_site": 2, "sessiontypes": []map[string]any{{"id_session_type": 5}}}})
	// ...and accessible.
	e.expect(403, "user3", "POST", "/api/user/projects", map[string]any{"project": map[string]any{
		"id_project": 1, "id_site": 1, "sessiontypes": []map[string]any{{"id_session_type": 999}}}})
	// Replace the set.
	e.post("user3", "/api/user/projects", map[string]any{"project": map[string]any{
		"id_project": 1, "id_site": 1, "sessiontypes": []map[string]any{{"id_session_type": 2}}}})
	links = scalar[int](e, "SELECT count(*) FROM core.t_sessions_types_projects WHERE id_project = 1 AND deleted_at IS NULL")
	if links != 1 {
		t.Errorf("project 1 has %d session types after replacement, want 1", links)
	}

	// An empty list clears the (visible) session types; a bad element is a 400.
	e.expect(400, "user3", "POST", "/api/user/projects", `{"project": {"id_project": 1, "id_site": 1, "sessiontypes": [{"id_session_type": "two"}]}}`)
	e.expect(400, "user3", "POST", "/api/user/projects", `{"project": {"id_project": 1, "id_site": 1, "sessiontypes": [3]}}`)
	e.post("user3", "/api/user/projects", `{"project": {"id_project": 1, "id_site": 1, "sessiontypes": []}}`)
	links = scalar[int](e, "SELECT count(*) FROM core.t_sessions_types_projects WHERE id_project = 1 AND deleted_at IS NULL")
	if links != 0 {
		t.Errorf("project 1 has %d session types after [], want 0", links)
	}

	// Update: project admin.
	e.expect(403, "user", "POST", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 1, "id_site": 1, "project_name": "x"}})
	e.expect(403, "user3", "POST", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 2, "id_site": 1, "project_name": "x"}})
	e.expect(403, "user3", "POST", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 1, "id_site": 2}}) // move to a site it does not administer
	u := e.post("user3", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 1, "id_site": 1, "project_name": "Renamed", "project_role": "admin"}})
	if u["project_name"] != "Renamed" || u["project_description"] != nil {
		t.Errorf("updated %v", u)
	}
	// Disabling a project disables its participants.
	e.post("admin", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 1, "id_site": 1, "project_enabled": false}})
	enabled := scalar[int](e, "SELECT count(*) FROM core.t_participants WHERE id_project = 1 AND participant_enabled")
	if enabled != 0 {
		t.Errorf("%d participants still enabled in a disabled project", enabled)
	}

	// Delete: site admin of its site.
	deletes := e.events("project", 3)
	e.calls("DELETE", "/api/user/projects", call{"user3", 403, "?id=" + itoa(id)}, call{"siteadmin", 403, "?id=3"}, call{"admin", 403, "?id=999"})
	e.expect(500, "admin", "DELETE", "/api/user/projects?id=1", nil) // participants with sessions
	e.deleteOK("siteadmin", "/api/user/projects?id="+itoa(id))
	deletes(1)
	e.wantIDs("admin", "/api/user/projects?id_site=1", "id_project", 1, 2)
}

// OpenTera's projects: enabled=0 filters (false is a value), the list form has no site_name and
// an update needs only id_project (the site comes from the row).
func TestProjectsOpenTeraForms(t *testing.T) {
	e := newEnv(t)
	p := e.post("admin", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 2, "project_enabled": false}})
	if p["id_site"] != float64(1) || p["project_enabled"] != false {
		t.Errorf("update by id_project only: %v", p)
	}
	e.wantIDs("admin", "/api/user/projects?enabled=0", "id_project", 2)
	if got := e.list("admin", "/api/user/projects?enabled=1&id_site=1"); slices.Contains(ids(got, "id_project"), 2) {
		t.Errorf("enabled=1 lists the disabled project: %v", ids(got, "id_project"))
	}
	for _, p := range e.list("admin", "/api/user/projects?list=true") {
		if _, has := p["site_name"]; has {
			t.Errorf("list form carries site_name: %v", p)
		}
	}
	if got := e.list("admin", "/api/user/projects?id_project=1"); got[0]["site_name"] == nil {
		t.Errorf("full form lacks site_name: %v", got[0])
	}
}
