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
	if got := ids(e.list("user3", "/api/user/users?id_project=1"), "id_user"); !eqInts(got, []int{2, 3, 4, 5}) {
		t.Errorf("users of project 1: %v, want [2 3 4 5]", got)
	}
}
