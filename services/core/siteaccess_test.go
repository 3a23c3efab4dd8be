package core_test

import (
	"encoding/json"
	"testing"
)

// row finds the object whose key equals id.
func row(t *testing.T, objs []map[string]any, key string, id int) map[string]any {
	t.Helper()
	for _, o := range objs {
		if o[key] == float64(id) {
			return o
		}
	}
	t.Fatalf("no %s=%d in %v", key, id, objs)
	return nil
}

func TestSiteAccessGet(t *testing.T) {
	e := newEnv(t)
	e.calls("GET", "/api/user/siteaccess", call{"admin", 400, ""}, call{"", 401, "?id_site=1"}, call{"admin", 400, "?id_site=x"})

	// By user: its sites with its role.
	got := e.list("admin", "/api/user/siteaccess?id_user=2")
	if len(got) != 1 || got[0]["site_access_role"] != "admin" || keys(got[0]) != "id_site,site_2fa_required,site_access_role,site_name" {
		t.Errorf("siteadmin: %v", got)
	}
	got = e.list("admin", "/api/user/siteaccess?id_user=3")
	if len(got) != 1 || got[0]["site_access_role"] != "user" || got[0]["site_access_inherited"] != true {
		t.Errorf("user: %v", got)
	}
	if got = e.list("admin", "/api/user/siteaccess?id_user=1"); len(got) != 2 || got[1]["site_access_role"] != "admin" {
		t.Errorf("superadmin: %v", got)
	}
	if got = e.list("user", "/api/user/siteaccess?id_user=2"); len(got) != 0 { // siteadmin not visible to user
		t.Errorf("invisible user: %v", got)
	}
	// By group, with_empty adds the caller's other sites with a null role.
	got = e.list("admin", "/api/user/siteaccess?id_user_group=3")
	if len(got) != 1 || got[0]["site_access_role"] != "admin" {
		t.Errorf("group 3: %v", got)
	}
	got = e.list("admin", "/api/user/siteaccess?id_user_group=3&with_empty=true")
	if len(got) != 2 || got[1]["site_access_role"] != nil {
		t.Errorf("group 3 with_empty: %v", got)
	}
	// By site: groups with a role there.
	got = e.list("admin", "/api/user/siteaccess?id_site=1")
	if !eqInts(ids(got, "id_user_group"), []int{1, 2, 3, 4}) || row(t, got, "id_user_group", 3)["site_access_role"] != "admin" ||
		row(t, got, "id_user_group", 1)["site_access_inherited"] != true {
		t.Errorf("site 1: %v", got)
	}
	if k := keys(got[0]); k != "id_user_group,site_access_inherited,site_access_role,user_group_name" {
		t.Errorf("keys %s", k)
	}
	if got = e.list("admin", "/api/user/siteaccess?id_site=1&admins=true"); !eqInts(ids(got, "id_user_group"), []int{3}) {
		t.Errorf("admins: %v", got)
	}
	if got = e.list("admin", "/api/user/siteaccess?id_site=1&with_empty=1"); !eqInts(ids(got, "id_user_group"), []int{1, 2, 3, 4, 5}) {
		t.Errorf("with_empty: %v", ids(got, "id_user_group"))
	}
	if got = e.list("user4", "/api/user/siteaccess?id_site=1"); len(got) != 0 {
		t.Errorf("user4: %v", got)
	}
	// id_site wins over id_user.
	if got = e.list("admin", "/api/user/siteaccess?id_user=2&id_site=1&admins=1"); !eqInts(ids(got, "id_user_group"), []int{3}) {
		t.Errorf("precedence: %v", got)
	}
	// by_users.
	got = e.list("admin", "/api/user/siteaccess?id_site=1&by_users=true&with_usergroups=true")
	if !eqInts(ids(got, "id_user"), []int{2, 3, 4, 5}) {
		t.Fatalf("by_users: %v", got)
	}
	u2 := row(t, got, "id_user", 2)
	if u2["site_access_role"] != "admin" || u2["site_access_inherited"] != false || u2["user_name"] != "Site Admin" || u2["id_site"] != float64(1) {
		t.Errorf("by_users siteadmin: %v", u2)
	}
	if u3 := row(t, got, "id_user", 3); u3["site_access_role"] != "user" || u3["site_access_inherited"] != true || len(u3["user_groups"].([]any)) != 1 {
		t.Errorf("by_users user: %v", u3)
	}
	got = e.list("admin", "/api/user/siteaccess?id_user_group=3&by_users=true")
	if !eqInts(ids(got, "id_user"), []int{2, 4}) {
		t.Errorf("by_users of group 3: %v", got)
	}
}

func TestProjectAccessGet(t *testing.T) {
	e := newEnv(t)
	e.expect(400, "admin", "GET", "/api/user/projectaccess", nil)
	got := e.list("admin", "/api/user/projectaccess?id_project=1")
	if !eqInts(ids(got, "id_user_group"), []int{1, 2, 3, 4}) || row(t, got, "id_user_group", 3)["project_access_inherited"] != true ||
		row(t, got, "id_user_group", 2)["project_access_role"] != "admin" || row(t, got, "id_user_group", 4)["project_access_role"] != "user" {
		t.Errorf("project 1: %v", got)
	}
	got = e.list("admin", "/api/user/projectaccess?id_user=4")
	if len(got) != 2 || got[0]["project_access_role"] != "admin" || got[0]["project_access_inherited"] != true {
		t.Errorf("user2: %v", got)
	}
	if k := keys(got[0]); k != "id_project,project_access_inherited,project_access_role,project_description,project_enabled,project_name" {
		t.Errorf("keys %s", k)
	}
	got = e.list("admin", "/api/user/projectaccess?id_user_group=2&with_sites=true")
	if len(got) != 1 || got[0]["id_site"] != float64(1) || got[0]["site_name"] != "Default Site" || got[0]["project_access_role"] != "admin" {
		t.Errorf("group 2 with_sites: %v", got)
	}
	if got = e.list("admin", "/api/user/projectaccess?id_user_group=2&with_empty=true"); len(got) != 3 {
		t.Errorf("with_empty: %v", got)
	}
	if got = e.list("user3", "/api/user/projectaccess?id_user=5"); len(got) != 1 || got[0]["project_access_role"] != "admin" {
		t.Errorf("user3 self: %v", got)
	}
	got = e.list("admin", "/api/user/projectaccess?id_project=2&by_users=true&admins=true")
	// admins narrows the groups to those administering project 2 (group 3, by site), whose members are listed.
	if !eqInts(ids(got, "id_user"), []int{2, 4}) || row(t, got, "id_user", 4)["project_access_role"] != "admin" {
		t.Errorf("by_users admins: %v", got)
	}
}

func TestAccessWrite(t *testing.T) {
	e := newEnv(t)
	e.expectPosts(400, "admin", "/api/user/projectaccess",
		`{}`,
		`{"project_access": {"id_project": 1}}`,
		`{"project_access": {"id_user_group": 5}}`,
		`{"project_access": {"id_user_group": 5, "id_project": 1}}`,
		`{"project_access": {"id_user_group": 5, "id_project": 1, "project_access_role": "boss"}}`,
		`{"project_access": {"id_user_group": "5", "id_project": 1, "project_access_role": "user"}}`,
	)
	e.expect(400, "admin", "POST", "/api/user/projectaccess", `{"project_access": {"id_user_group": 5, "id_project": 1, "id_service_role": 13}}`) // a site role
	e.expect(400, "admin", "POST", "/api/user/projectaccess", `{"project_access": 7}`)
	e.expect(403, "user", "POST", "/api/user/projectaccess", `{"project_access": {"id_user_group": 5, "id_project": 1, "project_access_role": "user"}}`)
	e.expect(403, "user3", "POST", "/api/user/projectaccess", `{"project_access": {"id_user_group": 5, "id_project": 2, "project_access_role": "user"}}`)

	b := e.expect(200, "user3", "POST", "/api/user/projectaccess", `{"project_access": [{"id_user_group": 5, "id_project": 1, "project_access_role": "user"}]}`)
	var rows []map[string]any
	_ = json.Unmarshal(b, &rows)
	if len(rows) != 1 || rows[0]["project_access_role"] != "user" || rows[0]["id_project"] != float64(1) || rows[0]["id_project_access"] == nil {
		t.Fatalf("posted %s", b)
	}
	accessID := int(rows[0]["id_project_access"].(float64))
	if got := e.list("admin", "/api/user/projectaccess?id_project=1"); row(t, got, "id_user_group", 5)["project_access_role"] != "user" {
		t.Errorf("after post: %v", got)
	}
	// Upgrade by role id (18 = user, 17 = admin of project 1).
	b = e.expect(200, "user3", "POST", "/api/user/projectaccess", `{"project_access": {"id_user_group": 5, "id_project": 1, "id_service_role": 17}}`)
	_ = json.Unmarshal(b, &rows)
	if len(rows) != 1 || rows[0]["project_access_role"] != "admin" || rows[0]["id_project_access"] != float64(accessID) {
		t.Errorf("upgrade %s: want the role in access row %d", b, accessID)
	}
	e.expect(400, "admin", "DELETE", "/api/user/projectaccess", nil)
	e.expect(400, "admin", "DELETE", "/api/user/projectaccess?id=9999", nil)
	adminRow := accessID
	e.expect(403, "user", "DELETE", "/api/user/projectaccess?id="+itoa(adminRow), nil)
	e.expect(403, "admin", "DELETE", "/api/user/siteaccess?id="+itoa(adminRow), nil) // a project row on the site endpoint
	e.expect(200, "user3", "DELETE", "/api/user/projectaccess?id="+itoa(adminRow), nil)
	if got := e.list("admin", "/api/user/projectaccess?id_project=1"); len(got) != 4 {
		t.Errorf("after delete: %v", ids(got, "id_user_group"))
	}

	// Sites: site admin only; "user" on a site where the group has project roles stays implicit.
	e.expect(403, "siteadmin", "POST", "/api/user/siteaccess", `{"site_access": {"id_user_group": 5, "id_site": 2, "site_access_role": "user"}}`)
	if b := e.expect(200, "siteadmin", "POST", "/api/user/siteaccess", `{"site_access": {"id_user_group": 1, "id_site": 1, "site_access_role": "user"}}`); string(b) != "[]" {
		t.Errorf("implicit user role: %s", b)
	}
	b = e.expect(200, "siteadmin", "POST", "/api/user/siteaccess", `{"site_access": {"id_user_group": 5, "id_site": 1, "site_access_role": "admin"}}`)
	_ = json.Unmarshal(b, &rows)
	if len(rows) != 1 || rows[0]["site_access_role"] != "admin" || rows[0]["user_group_name"] != "No access!" {
		t.Fatalf("site post %s", b)
	}
	if got := e.list("admin", "/api/user/siteaccess?id_user_group=5"); len(got) != 1 || got[0]["site_access_role"] != "admin" {
		t.Errorf("group 5 on site 1: %v", got)
	}
	e.expect(200, "siteadmin", "POST", "/api/user/siteaccess", `{"site_access": {"id_user_group": 5, "id_site": 1, "site_access_role": ""}}`)
	if got := e.list("admin", "/api/user/siteaccess?id_user_group=5"); len(got) != 0 {
		t.Errorf("role removed: %v", got)
	}
}

// DELETE ?id= takes the id the POST returned, also after the group's role there changed: OpenTera
// writes the new role into the group's access row (its test_post_and_delete).
func TestProjectAccessDeleteByPostedID(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/projectaccess"
	first := e.post("admin", path, `{"project_access": {"id_user_group": 4, "id_project": 3, "project_access_role": "admin"}}`)
	id := first["id_project_access"]
	if second := e.post("admin", path, `{"project_access": {"id_user_group": 4, "id_project": 3, "project_access_role": "user"}}`); second["id_project_access"] != id || second["project_access_role"] != "user" {
		t.Errorf("role change: %v, want access row %v", second, id)
	}
	e.calls("DELETE", path, call{"user4", 403, "?id=" + itoa(int(id.(float64)))}, call{"admin", 200, "?id=" + itoa(int(id.(float64)))})
	for _, p := range e.list("admin", path+"?id_user_group=4") {
		if p["id_project"] == float64(3) {
			t.Errorf("project 3 still has group 4's role: %v", p)
		}
	}
}
