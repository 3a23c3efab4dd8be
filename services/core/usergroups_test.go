package core_test

import (
	"testing"
)

func TestUserGroupsGet(t *testing.T) {
	e := newEnv(t)
	// Group 3 holds site 1's admin role, so it is admin of every project of site 1 (OpenTera's
	// inherited roles) and visible to their users.
	want := map[string][]int{"admin": {1, 2, 3, 4, 5}, "siteadmin": {1, 2, 3, 4}, "user": {1, 2, 3, 4}, "user3": {1, 2, 3, 4}, "user4": {}}
	for who, w := range want {
		if got := e.list(who, "/api/user/usergroups?list=true"); !eqInts(ids(got, "id_user_group"), w) {
			t.Errorf("%s sees %v, want %v", who, ids(got, "id_user_group"), w)
		}
	}
	cases := []struct {
		who, q string
		want   []int
	}{
		{"admin", "id_user_group=3", []int{3}},
		{"user", "id_user_group=3", []int{3}},
		{"admin", "id_user=4", []int{3, 4}},
		{"siteadmin", "id_user=4", []int{3, 4}}, // 3 holds site 1's admin role: inherited on its projects
		{"user4", "id_user=4", []int{}},
		{"admin", "id_site=1", []int{1, 2, 3, 4}},
		{"siteadmin", "id_site=1", []int{1, 2, 3, 4}},
		{"admin", "id_site=2", []int{}},
		{"admin", "id_user_group=5&id_user=4", []int{5}},
	}
	for _, c := range cases {
		if got := e.list(c.who, "/api/user/usergroups?"+c.q); !eqInts(ids(got, "id_user_group"), c.want) {
			t.Errorf("%s ?%s: %v, want %v", c.who, c.q, ids(got, "id_user_group"), c.want)
		}
	}
	if k := keys(e.list("admin", "/api/user/usergroups?list=true&id_user_group=1")[0]); k != "id_user_group,user_group_name" {
		t.Errorf("list keys %s", k)
	}
	g := e.list("admin", "/api/user/usergroups?id_user_group=3")[0]
	sites := g["user_group_sites_access"].([]any)
	projects := g["user_group_projects_access"].([]any)
	if len(sites) != 1 || keys(sites[0].(map[string]any)) != "id_site,site_2fa_required,site_access_role,site_name" || sites[0].(map[string]any)["site_access_role"] != "admin" {
		t.Errorf("group 3 sites %v", sites)
	}
	if len(projects) != 2 || projects[1].(map[string]any)["project_access_role"] != "admin" || projects[1].(map[string]any)["project_access_inherited"] != true {
		t.Errorf("group 3 projects %v", projects)
	}
	g = e.list("admin", "/api/user/usergroups?id_user_group=1")[0]
	sites = g["user_group_sites_access"].([]any)
	projects = g["user_group_projects_access"].([]any)
	if len(sites) != 1 || sites[0].(map[string]any)["site_access_role"] != "user" || sites[0].(map[string]any)["site_access_inherited"] != true {
		t.Errorf("group 1 sites %v", sites)
	}
	if len(projects) != 2 || projects[0].(map[string]any)["project_access_role"] != "user" {
		t.Errorf("group 1 projects %v", projects)
	}
	if _, has := projects[0].(map[string]any)["project_access_inherited"]; has {
		t.Errorf("explicit role marked inherited: %v", projects[0])
	}
	if g := e.list("admin", "/api/user/usergroups?id_user_group=5")[0]; len(g["user_group_sites_access"].([]any)) != 0 {
		t.Errorf("group 5: %v", g)
	}
	e.expect(401, "", "GET", "/api/user/usergroups", nil)
	e.expect(400, "admin", "GET", "/api/user/usergroups?id_site=one", nil)
}

func TestUserGroupsWrite(t *testing.T) {
	e := newEnv(t)
	post := func(who string, want int, body string) []byte {
		t.Helper()
		return e.expect(want, who, "POST", "/api/user/usergroups", body)
	}
	post("admin", 400, `{}`)
	post("admin", 400, `{"user_group": {"user_group_name": "x"}}`)
	post("admin", 400, `{"user_group": {"id_user_group": 0}}`)
	post("admin", 400, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_sites_access": [{"id_site": 1, "site_access_role": "boss"}]}}`)
	post("admin", 400, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_sites_access": {"id_site": 1}}}`)
	post("user", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x"}}`)
	post("user3", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_projects_access": [{"id_project": 1, "project_access_role": "user"}]}}`)
	post("siteadmin", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_sites_access": [{"id_site": 2, "site_access_role": "user"}]}}`)
	post("siteadmin", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_projects_access": [{"id_project": 3, "project_access_role": "user"}]}}`)

	before := e.outboxCount("user_group", 1)
	g := e.post("siteadmin", "/api/user/usergroups", `{"user_group": {"id_user_group": 0, "user_group_name": "New group",
		"user_group_sites_access": [{"id_site": 1, "site_access_role": "user"}],
		"user_group_projects_access": [{"id_project": 2, "project_access_role": "admin"}]}}`)
	id := int(g["id_user_group"].(float64))
	if g["user_group_name"] != "New group" || len(g["user_group_sites_access"].([]any)) != 1 || len(g["user_group_projects_access"].([]any)) != 1 {
		t.Errorf("created %v", g)
	}
	if e.outboxCount("user_group", 1) != before+1 {
		t.Error("no DatabaseEvent for the new group")
	}
	// A member of the new group is admin of project 2.
	e.post("admin", "/api/user/users", `{"user": {"id_user": 6, "user_user_groups": [{"id_user_group": `+itoa(id)+`}]}}`)
	if got := e.list("user4", "/api/user/projects"); len(got) != 1 || got[0]["id_project"] != float64(2) || got[0]["project_role"] != "admin" {
		t.Errorf("user4 projects through the new group: %v", got)
	}
	// Change roles: site 1 admin, project 2 removed.
	g = e.post("siteadmin", "/api/user/usergroups", `{"user_group": {"id_user_group": `+itoa(id)+`, "user_group_name": "Renamed",
		"user_group_sites_access": [{"id_site": 1, "site_access_role": "admin"}],
		"user_group_projects_access": [{"id_project": 2, "project_access_role": ""}]}}`)
	projects := g["user_group_projects_access"].([]any)
	if g["user_group_name"] != "Renamed" || len(projects) != 2 || projects[0].(map[string]any)["project_access_inherited"] != true {
		t.Errorf("updated %v", g)
	}
	if got := e.list("user4", "/api/user/sites"); len(got) != 1 || got[0]["site_role"] != "admin" {
		t.Errorf("user4 sites after the change: %v", got)
	}
	// Someone else's group.
	post("siteadmin", 403, `{"user_group": {"id_user_group": 1, "user_group_name": "x", "user_group_sites_access": [{"id_site": 2, "site_access_role": "user"}]}}`)

	// Delete.
	e.expect(400, "admin", "DELETE", "/api/user/usergroups", nil)
	e.expect(403, "user", "DELETE", "/api/user/usergroups?id=1", nil)
	e.expect(403, "siteadmin", "DELETE", "/api/user/usergroups?id=999", nil)
	e.expect(500, "siteadmin", "DELETE", "/api/user/usergroups?id=1", nil) // still has users
	e.expect(500, "admin", "DELETE", "/api/user/usergroups?id="+itoa(id), nil)
	e.post("admin", "/api/user/users", `{"user": {"id_user": 6, "user_user_groups": [{"id_user_group": 5}]}}`)
	deletes := e.outboxCount("user_group", 3)
	if b := e.expect(200, "siteadmin", "DELETE", "/api/user/usergroups?id="+itoa(id), nil); string(b) != `""` {
		t.Errorf("delete body %s", b)
	}
	if e.outboxCount("user_group", 3) != deletes+1 {
		t.Error("no DatabaseEvent for the delete")
	}
}
