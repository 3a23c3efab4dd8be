package core_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// The leaks the access matrix (services/internal/accessmatrix) found, one regression each.

// A membership hands out every role of its group: user3 (admin of project 1 only) cannot put a
// user, itself included, in group 1, which also holds a role on project 2.
func TestMembershipNeedsEveryRoleOfTheGroup(t *testing.T) {
	e := newEnv(t)
	newUser := `{"user": {"id_user": 0, "user_username": "minted", "user_firstname": "M", "user_lastname": "U", "user_enabled": true,
		"user_profile": "", "user_password": "Password12!", "user_user_groups": [{"id_user_group": %d}]}}`
	e.expect(403, "user3", "POST", "/api/user/users", fmt.Sprintf(newUser, 1))
	e.expect(403, "user3", "POST", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 5, "id_user_group": 1}}`)
	e.expect(403, "user3", "POST", "/api/user/users", `{"user": {"id_user": 5, "user_user_groups": [{"id_user_group": 2}, {"id_user_group": 1}]}}`)
	// user (id 3) is in group 1 through membership 2: not user3's to remove.
	e.expect(403, "user3", "DELETE", "/api/user/users/usergroups?id=2", nil)
	if n := scalar[int](e, `SELECT count(*) FROM core.t_users_users_groups WHERE id_user_group = 1 AND deleted_at IS NULL`); n != 1 {
		t.Errorf("group 1 has %d live members, want 1", n)
	}
	// Group 2 (admins of project 1) is user3's to grant.
	u := e.post("user3", "/api/user/users", fmt.Sprintf(newUser, 2))
	e.one("admin", fmt.Sprintf("/api/user/users?id_user=%v&with_usergroups=true", u["id_user"]))
	// siteadmin administers everything group 1 grants.
	e.post("siteadmin", "/api/user/users/usergroups", `{"user_user_group": {"id_user": 5, "id_user_group": 1}}`)
}

// A visible user's groups on sites the caller has no access to stay hidden.
func TestUserGroupsOfAVisibleUserAreScoped(t *testing.T) {
	e := newEnv(t)
	if _, err := e.db.Exec(context.Background(), `
		INSERT INTO core.t_users_groups (id_user_group, user_group_name) VALUES (60, 'Secret Site Staff');
		INSERT INTO core.t_services_access (id_user_group, id_service_role)
		  SELECT 60, id_service_role FROM core.t_services_roles WHERE id_service = 1 AND id_site = 2 AND service_role_name = 'user';
		INSERT INTO core.t_users_users_groups (id_user, id_user_group) VALUES (3, 60)`); err != nil {
		t.Fatal(err)
	}
	got := e.list("siteadmin", "/api/user/users?id_user=3&with_usergroups=true")
	if groups := got[0]["user_user_groups"].([]any); len(groups) != 1 || groups[0].(map[string]any)["id_user_group"] != 1.0 {
		t.Errorf("siteadmin sees user's groups %v, want only group 1", groups)
	}
	if groups := e.list("admin", "/api/user/users?id_user=3&with_usergroups=true")[0]["user_user_groups"].([]any); len(groups) != 2 {
		t.Errorf("admin sees user's groups %v, want 1 and 60", groups)
	}
}

// Service roles scoped to a site or project the caller cannot see, and links of services to
// such projects, are not listed; nor are services enabled on no site the caller sees.
func TestServiceListingsAreScoped(t *testing.T) {
	e := newEnv(t)
	e.post("admin", "/api/user/services/roles", `{"service_role": {"id_service_role": 0, "id_service": 6, "service_role_name": "secret", "id_site": 2}}`)
	for _, path := range []string{"/api/user/services/roles?id_service=6", "/api/user/services?id_service=6",
		"/api/user/services/projects?id_project=1&with_roles=true", "/api/user/services/sites?id_site=1&with_roles=true"} {
		st, body := e.do("user", "GET", path, nil)
		if st != 200 || strings.Contains(string(body), "Top Secret Site") || strings.Contains(string(body), `"secret"`) {
			t.Errorf("GET %s as user: %d %s", path, st, body)
		}
		if _, body := e.do("admin", "GET", path, nil); path == "/api/user/services/roles?id_service=6" && !strings.Contains(string(body), `"secret"`) {
			t.Errorf("admin does not see the scoped role: %s", body)
		}
	}
	// FileTransfer (3) is linked to project 3 too: user sees its links to projects 1 and 2 only.
	svc := e.list("user", "/api/user/services?id_service=3")
	if links := svc[0]["service_projects"].([]any); len(links) != 2 {
		t.Errorf("user sees FileTransfer's project links %v", links)
	}
	// Candidates of site 1's links: the services enabled on a site user sees (2, 3, 6), not all.
	e.wantIDs("user", "/api/user/services/sites?id_site=1&with_services=true", "id_service", 2, 3, 6)
	// Another's configuration of a service the caller does not see: BureauActif on device 1.
	e.post("admin", "/api/user/services/configs", `{"service_config": {"id_service_config": 0, "id_service": 5, "id_device": 1, "service_config_config": {"x": 1}}}`)
	for _, c := range e.list("siteadmin", "/api/user/services/configs?id_device=1") {
		if c["id_service"] == 5.0 {
			t.Errorf("siteadmin sees BureauActif's configuration of device 1: %v", c)
		}
	}
}

// Device 1 is linked to site 2 and project 3 too: site 1's users see its links to their own
// sites and projects only.
func TestDeviceLinksAreScoped(t *testing.T) {
	e := newEnv(t)
	d := e.one("user", "/api/user/devices?id_device=1&with_sites=true&projects=true")
	sites, _ := d["device_sites"].([]any)
	projects, _ := d["device_projects"].([]any)
	if len(sites) != 1 || len(projects) != 1 {
		t.Errorf("user sees device 1's sites %v and projects %v, want site 1 and project 1 only", sites, projects)
	}
	a := e.list("admin", "/api/user/devices?id_device=1&with_sites=true&projects=true")
	if s, _ := a[0]["device_sites"].([]any); len(s) != 2 {
		t.Errorf("admin sees device 1's sites %v", s)
	}
}
