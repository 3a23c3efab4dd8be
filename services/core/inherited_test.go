package core_test

import "testing"

// A group holding a site admin role administers every project of the site (OpenTera's
// inherited project roles): the users of those projects see it.
func TestUserGroupsInheritedSiteAdmin(t *testing.T) {
	e := newEnv(t)
	if got := e.list("siteadmin", "/api/user/usergroups?id_user=2"); len(got) == 0 {
		t.Errorf("siteadmin does not see its own group: %v", got)
	}
}

// GET /api/user/users?id_project=1 as user3 lists the users holding a role in the project,
// inherited ones included, not a superadmin without one.
func TestUsersOfProjectInherited(t *testing.T) {
	e := newEnv(t)
	e.wantIDs("user3", "/api/user/users?id_project=1", "id_user", 2, 3, 4, 5)
}

// GET /api/user/services/roles lists every role of the services the requester sees, OpenTeraServer's
// site and project roles included (the fixture has 22); a site created through the API adds its
// roles there.
func TestServiceRolesListsServerRoles(t *testing.T) {
	e := newEnv(t)
	if got := e.list("admin", "/api/user/services/roles"); len(got) != 22 {
		t.Fatalf("admin sees %d roles, want 22", len(got))
	}
	site := e.post("admin", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 0, "site_name": "Roles Site"}})
	if got := e.list("admin", "/api/user/services/roles"); len(got) != 24 {
		t.Errorf("after a new site: %d roles, want 24", len(got))
	}
	e.post("admin", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 0, "id_site": site["id_site"], "project_name": "Roles Project"}})
	if got := e.list("admin", "/api/user/services/roles"); len(got) != 26 {
		t.Errorf("after a new project: %d roles, want 26", len(got))
	}
	// Asked by id, OpenTeraServer's roles stay out (OpenTera ignores that service).
	if got := e.list("admin", "/api/user/services/roles?id_service=1"); len(got) != 0 {
		t.Errorf("OpenTeraServer by id: %d roles", len(got))
	}
}

// A site admin administers the user groups holding roles in its site (OpenTera's inherited
// administration): it puts users in its site's admin group and takes them out, through the
// memberships and through the user's group list; a project admin still cannot.
func TestSiteAdminGrantsSiteGroups(t *testing.T) {
	e := newEnv(t)
	members := func() []int { return ids(e.list("admin", "/api/user/users?id_user_group=3"), "id_user") }
	link := e.post("siteadmin", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 3, "id_user_group": 3}}`)
	if got := members(); !eqInts(got, []int{2, 3, 4}) {
		t.Errorf("group 3 after the link: %v", got)
	}
	e.expect(200, "siteadmin", "DELETE", "/api/user/users/usergroups?id="+itoa(int(link["id_user_user_group"].(float64))), nil)
	e.post("siteadmin", "/api/user/users", `{"user": {"id_user": 3, "user_user_groups": [{"id_user_group": 1}, {"id_user_group": 3}]}}`)
	if got := members(); !eqInts(got, []int{2, 3, 4}) {
		t.Errorf("group 3 after the user's list: %v", got)
	}
	e.post("siteadmin", "/api/user/users", `{"user": {"id_user": 3, "user_user_groups": [{"id_user_group": 1}]}}`)
	if got := members(); !eqInts(got, []int{2, 4}) {
		t.Errorf("group 3 after the user left it: %v", got)
	}
	e.expect(403, "user3", "POST", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 5, "id_user_group": 3}}`)
}
