package core_test

import (
	"testing"
)

func TestUserGroupsGet(t *testing.T) {
	e := newEnv(t)
	// Group 3 holds site 1's admin role, so it is admin of every project of site 1 (OpenTera's
	// inherited roles) and visible to their users.
	e.lists("/api/user/usergroups", "id_user_group", []listCase{
		{"admin", "list=true", []int{1, 2, 3, 4, 5}}, {"siteadmin", "list=true", []int{1, 2, 3, 4}},
		{"user", "list=true", []int{1, 2, 3, 4}}, {"user3", "list=true", []int{1, 2, 3, 4}}, {"user4", "list=true", []int{}},
		{"admin", "id_user_group=3", []int{3}},
		{"user", "id_user_group=3", []int{3}},
		{"admin", "id_user=4", []int{3, 4}},
		{"siteadmin", "id_user=4", []int{3, 4}}, // 3 holds site 1's admin role: inherited on its projects
		{"user4", "id_user=4", []int{}},
		{"admin", "id_site=1", []int{1, 2, 3, 4}},
		{"siteadmin", "id_site=1", []int{1, 2, 3, 4}},
		{"admin", "id_site=2", []int{}},
		{"admin", "id_user_group=5&id_user=4", []int{5}},
	})
	e.form("admin", "/api/user/usergroups?list=true&id_user_group=1", 0, "id_user_group,user_group_name")
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
	e.calls("GET", "/api/user/usergroups", call{"", 401, ""}, call{"admin", 400, "?id_site=one"})
}

func TestUserGroupsWrite(t *testing.T) {
	e := newEnv(t)
	e.calls("POST", "/api/user/usergroups",
		call{"admin", 400, `{}`},
		call{"admin", 400, `{"user_group": {"user_group_name": "x"}}`},
		call{"admin", 400, `{"user_group": {"id_user_group": 0}}`},
		call{"admin", 400, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_sites_access": [{"id_site": 1, "site_access_role": "boss"}]}}`},
		call{"admin", 400, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_sites_access": {"id_site": 1}}}`},
		call{"user", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x"}}`},
		call{"user3", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_projects_access": [{"id_project": 1, "project_access_role": "user"}]}}`},
		call{"siteadmin", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_sites_access": [{"id_site": 2, "site_access_role": "user"}]}}`},
		call{"siteadmin", 403, `{"user_group": {"id_user_group": 0, "user_group_name": "x", "user_group_projects_access": [{"id_project": 3, "project_access_role": "user"}]}}`},
	)

	creates := e.events("user_group", 1)
	g := e.post("siteadmin", "/api/user/usergroups", `{"user_group": {"id_user_group": 0, "user_group_name": "New group",
		"user_group_sites_access": [{"id_site": 1, "site_access_role": "user"}],
		"user_group_projects_access": [{"id_project": 2, "project_access_role": "admin"}]}}`)
	id := int(g["id_user_group"].(float64))
	if g["user_group_name"] != "New group" || len(g["user_group_sites_access"].([]any)) != 1 || len(g["user_group_projects_access"].([]any)) != 1 {
		t.Errorf("created %v", g)
	}
	creates(1)
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
	e.calls("POST", "/api/user/usergroups",
		call{"siteadmin", 403, `{"user_group": {"id_user_group": 1, "user_group_name": "x", "user_group_sites_access": [{"id_site": 2, "site_access_role": "user"}]}}`},
	)

	// Delete.
	e.calls("DELETE", "/api/user/usergroups", call{"admin", 400, ""}, call{"user", 403, "?id=1"}, call{"siteadmin", 403, "?id=999"},
		call{"siteadmin", 500, "?id=1"}, call{"admin", 500, "?id=" + itoa(id)}) // both still have users
	e.post("admin", "/api/user/users", `{"user": {"id_user": 6, "user_user_groups": [{"id_user_group": 5}]}}`)
	deletes := e.events("user_group", 3)
	e.deleteOK("siteadmin", "/api/user/usergroups?id="+itoa(id))
	deletes(1)
}
