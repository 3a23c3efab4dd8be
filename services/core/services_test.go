package core_test

import (
	"context"
	"encoding/json"
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func TestServicesGetAccessPerUser(t *testing.T) {
	e := newEnv(t)
	// Linked to an accessible project, or to a site the user administers; never OpenTeraServer.
	e.lists("/api/user/services", "id_service", []listCase{{"admin", "", []int{2, 3, 4, 5, 6, 7}},
		{"siteadmin", "", []int{2, 3, 6}}, {"user", "", []int{3, 6}}, {"user2", "", []int{2, 3, 6}},
		{"user3", "", []int{3, 6}}, {"user4", "", []int{}}, {"user/token", "", []int{3, 6}}})
	// Full JSON of VideoRehab (service 6).
	s := e.one("user", "/api/user/services?id_service=6")
	if s["service_key"] != "VideoRehabService" || s["service_name"] != "Télé-réadaptation vidéo" || s["service_port"] != float64(4070) ||
		s["service_clientendpoint"] != "/rehab" || s["service_endpoint_participant"] != "/participant" || s["service_system"] != true ||
		s["service_editable_config"] != true || s["service_enabled"] != true || s["service_default_config"] != "{}" || s["service_has_assets"] != false {
		t.Errorf("service 6: %v", s)
	}
	for _, k := range []string{"service_endpoint_user", "service_endpoint_device", "version_id", "deleted_at"} {
		if _, has := s[k]; has {
			t.Errorf("service 6 has %s: %v", k, s)
		}
	}
	roles, _ := s["service_roles"].([]any)
	if len(roles) != 2 || roles[0].(map[string]any)["service_role_name"] != "admin" || roles[0].(map[string]any)["id_service_role"] != float64(9) {
		t.Errorf("service 6 roles: %v", s["service_roles"])
	}
	projects, _ := s["service_projects"].([]any)
	if len(projects) != 1 || projects[0].(map[string]any)["id_project"] != float64(1) {
		t.Errorf("service 6 projects: %v", s["service_projects"])
	}
	// List form: no default config, roles or projects.
	l := e.list("user", "/api/user/services?id_service=6&list=true")[0]
	for _, k := range []string{"service_default_config", "service_roles", "service_projects"} {
		if _, has := l[k]; has {
			t.Errorf("list form has %s", k)
		}
	}
	if l["service_key"] != "VideoRehabService" {
		t.Errorf("list form %v", l)
	}
}

func TestServicesSelectors(t *testing.T) {
	e := newEnv(t)
	uuid6 := e.uuid("service", 6)
	e.lists("/api/user/services", "id_service", []listCase{
		{"admin", "id_service=3", []int{3}},
		{"admin", "id=7", []int{7}},
		{"admin", "id_service=1", []int{}}, // OpenTeraServer is never listed
		{"admin", "key=OpenTeraServer", []int{}},
		{"admin", "id_service=99", []int{}},
		{"user", "id_service=2", []int{}}, // not visible
		{"user", "id_service=3", []int{3}},
		{"admin", "uuid=" + uuid6, []int{6}},
		{"admin", "service_uuid=" + uuid6, []int{6}},
		{"user4", "uuid=" + uuid6, []int{}},
		{"admin", "key=FileTransferService", []int{3}},
		{"admin", "service_key=LoggingService", []int{2}},
		{"user", "key=LoggingService", []int{}},
		{"admin", "id_project=1", []int{3, 6}},
		{"admin", "id_project=3", []int{3}},
		{"user", "id_project=3", []int{}},
		{"user", "id_project=1", []int{3, 6}},
		{"admin", "id_site=1", []int{2, 3, 6}},
		{"admin", "id_site=2", []int{3}},
		{"siteadmin", "id_site=2", []int{}},
		{"user", "id_site=1", []int{3, 6}}, // service 2 is linked to site 1 but not visible to a user
		{"admin", "with_config=true", []int{6}},
		{"user", "with_config=true&id_project=1", []int{6}},
		{"user4", "with_config=true", []int{}},
		// id_service wins over key and id_project.
		{"admin", "id_service=2&key=VideoRehabService&id_project=1", []int{2}},
		{"admin", "key=VideoRehabService&id_project=3", []int{6}},
	})
}

func TestServicesErrors(t *testing.T) {
	e := newEnv(t)
	e.expect(401, "", "GET", "/api/user/services", nil)
	e.expect(401, "nobody", "POST", "/api/user/services", `{"service": {"id_service": 0}}`)
	e.expect(400, "admin", "GET", "/api/user/services?id_service=abc", nil)
	e.expect(400, "admin", "GET", "/api/user/services?list=maybe", nil)
	e.expectPosts(400, "admin", "/api/user/services",
		`{"service": {"service_name": "x"}}`,
		`{"services": {"id_service": 0}}`,
		`{"service": {"id_service": "x"}}`,
		`{"service": {"id_service": 5, "service_port": "abc"}}`,
		`{"service": {"id_service": 5, "service_port": 70000}}`,
		`{"service": {"id_service": 5, "service_enabled": "yes"}}`,
		`{"service": {"id_service": 5, "service_endpoint_user": 3}}`,
		`{"service": {"id_service": 5, "service_default_config": "{not json"}}`,
		`{"service": {"id_service": 5, "roles": [{"service_role_name": "x"}]}}`,
		`{"service": `,
		`[]`,
	)
	e.expect(400, "admin", "POST", "/api/user/services", `{"service": {"id_service": 0, "service_name": "x"}}`) // missing fields
	e.expectEach(400, "admin", "DELETE", "/api/user/services", "/api/user/services?id=x", "/api/user/services?id=99")
	// Oversized body: refused by pkg/server's body limit (400, never 500).
	big := `{"service": {"id_service": 5, "service_name": "` + repeat("a", 12<<20) + `"}}`
	if st, _ := e.do("admin", "POST", "/api/user/services", big); st != 400 {
		t.Errorf("oversized body: %d", st)
	}
}

func repeat(s string, n int) string {
	b := make([]byte, 0, n*len(s))
	for range n {
		b = append(b, s...)
	}
	return string(b)
}

func newServiceBody(key string) map[string]any {
	return map[string]any{"service": map[string]any{"id_service": 0, "service_name": "Test Service", "service_key": key,
		"service_hostname": "10.0.0.1", "service_port": 4090, "service_endpoint": "/", "service_clientendpoint": "/test",
		"service_endpoint_user": "/user", "service_enabled": true, "service_default_config": map[string]any{"a": 1}}}
}

func TestServicesCreateUpdate(t *testing.T) {
	e := newEnv(t)
	for _, who := range []string{"siteadmin", "user", "user4"} {
		e.expect(403, who, "POST", "/api/user/services", newServiceBody("TestService"))
		e.expect(403, who, "POST", "/api/user/services", map[string]any{"service": map[string]any{"id_service": 5, "service_name": "x"}})
	}
	created := e.events("service", 1)
	s := e.post("admin", "/api/user/services", newServiceBody("TestService"))
	id := int(s["id_service"].(float64))
	if id <= 7 || s["service_key"] != "TestService" || s["service_port"] != float64(4090) || s["service_endpoint_user"] != "/user" ||
		s["service_default_config"] != `{"a":1}` || s["service_system"] != false || len(s["service_uuid"].(string)) != 36 {
		t.Fatalf("created %v", s)
	}
	if _, has := s["service_endpoint_device"]; has {
		t.Errorf("null endpoint emitted: %v", s)
	}
	created(1)
	// No roles come with it: OpenTera's TeraService.insert has its admin/user role creation
	// disabled; a "roles" list creates them.
	if roles := s["service_roles"].([]any); len(roles) != 0 {
		t.Errorf("roles of the new service: %v", roles)
	}
	s = e.post("admin", "/api/user/services", map[string]any{"service": map[string]any{"id_service": id,
		"roles": []any{map[string]any{"id_service_role": 0, "service_role_name": "admin"}, map[string]any{"id_service_role": 0, "service_role_name": "user"}}}})
	roles := s["service_roles"].([]any)
	if len(roles) != 2 || roles[0].(map[string]any)["service_role_name"] != "admin" || roles[1].(map[string]any)["service_role_name"] != "user" {
		t.Errorf("roles of the new service: %v", roles)
	}
	if _, has := roles[0].(map[string]any)["id_site"]; has {
		t.Errorf("global role has id_site: %v", roles[0])
	}
	// Duplicate key: integrity refusal with a message.
	body := e.expect(500, "admin", "POST", "/api/user/services", newServiceBody("TestService"))
	var msg string
	if json.Unmarshal(body, &msg) != nil || msg == "" {
		t.Errorf("duplicate key body %s", body)
	}

	// Update: absent keys unchanged, uuid immutable, null clears an endpoint, roles replaced.
	uuid := s["service_uuid"]
	adminRole := int(roles[0].(map[string]any)["id_service_role"].(float64))
	u := e.post("admin/token", "/api/user/services", map[string]any{"service": map[string]any{"id_service": id, "service_name": "Renamed",
		"service_uuid": "00000000-0000-0000-0000-00000000ffff", "service_endpoint_user": nil,
		"roles": []any{map[string]any{"id_service_role": adminRole, "service_role_name": "owner"}, map[string]any{"id_service_role": 0, "service_role_name": "viewer"}}}})
	if u["service_name"] != "Renamed" || u["service_uuid"] != uuid || u["service_port"] != float64(4090) {
		t.Errorf("updated %v", u)
	}
	if _, has := u["service_endpoint_user"]; has {
		t.Errorf("endpoint not cleared: %v", u)
	}
	names := []string{}
	for _, r := range u["service_roles"].([]any) {
		names = append(names, r.(map[string]any)["service_role_name"].(string))
	}
	if len(names) != 2 || names[0] != "owner" || names[1] != "viewer" {
		t.Errorf("roles after replacement: %v", names)
	}
	// Unknown keys (what a client posts back from a GET) are ignored.
	e.post("admin", "/api/user/services", map[string]any{"service": map[string]any{"id_service": id, "service_projects": []any{}, "whatever": 1}})
}

// Refused updates: roles of another service, a change of service_system, unknown ids and
// OpenTeraServer.
func TestServicesUpdateRefused(t *testing.T) {
	e := newEnv(t)
	id := int(e.post("admin", "/api/user/services", newServiceBody("TestService"))["id_service"].(float64))
	// Roles of another service cannot be kept in this one.
	e.expect(400, "admin", "POST", "/api/user/services", map[string]any{"service": map[string]any{"id_service": id,
		"roles": []any{map[string]any{"id_service_role": 1, "service_role_name": "x"}}}})
	// service_system cannot change; unknown and OpenTeraServer ids are refused.
	e.expect(403, "admin", "POST", "/api/user/services", map[string]any{"service": map[string]any{"id_service": id, "service_system": true}})
	e.post("admin", "/api/user/services", map[string]any{"service": map[string]any{"id_service": id, "service_system": false}})
	e.expect(403, "admin", "POST", "/api/user/services", map[string]any{"service": map[string]any{"id_service": 999, "service_name": "x"}})
	e.expect(403, "admin", "POST", "/api/user/services", map[string]any{"service": map[string]any{"id_service": 1, "service_name": "x"}})
}

// Delete: system services refused; in-use services refused with a message; others go, with
// their roles.
func TestServicesDelete(t *testing.T) {
	e := newEnv(t)
	b := newServiceBody("TestService")
	b["service"].(map[string]any)["roles"] = []any{map[string]any{"id_service_role": 0, "service_role_name": "admin"}}
	id := int(e.post("admin", "/api/user/services", b)["id_service"].(float64))
	for _, who := range []string{"siteadmin", "user", "user4"} {
		e.expect(403, who, "DELETE", "/api/user/services?id="+itoa(id), nil)
	}
	e.expect(403, "admin", "DELETE", "/api/user/services?id=6", nil)
	deletes := e.events("service", 3)
	e.deleteOK("admin", "/api/user/services?id="+itoa(id))
	deletes(1)
	if got := e.list("admin", "/api/user/services?id="+itoa(id)); len(got) != 0 {
		t.Errorf("deleted service still listed: %v", got)
	}
	liveRoles := scalar[int](e, "SELECT count(*) FROM core.t_services_roles WHERE id_service = $1 AND deleted_at IS NULL", id)
	if liveRoles != 0 {
		t.Errorf("%d roles left after delete", liveRoles)
	}
	// A non-system service in use (a session of a type of it) is refused with a message.
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, "UPDATE core.t_services SET service_system = false WHERE id_service = 6"); err != nil {
		t.Fatal(err)
	}
	var msg string
	if body := e.expect(500, "admin", "DELETE", "/api/user/services?id=6", nil); json.Unmarshal(body, &msg) != nil || msg == "" {
		t.Errorf("integrity refusal body %s", body)
	}
}

func TestServiceRolesGet(t *testing.T) {
	e := newEnv(t)
	// admin sees OpenTeraServer's site and project roles too (13-22), as OpenTera lists them.
	all := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22}
	e.lists("/api/user/services/roles", "id_service_role", []listCase{{"admin", "", all},
		{"siteadmin", "", []int{1, 2, 3, 4, 9, 10}}, {"user", "", []int{3, 4, 9, 10}},
		{"user3", "", []int{3, 4, 9, 10}}, {"user4", "", []int{}},
		{"admin", "id_service=6", []int{9, 10}},
		{"admin", "id_service=1", []int{}}, // OpenTeraServer's roles are site/project access
		{"user", "id_service=2", []int{}},
		{"user", "id_service=3&globals=true", []int{3, 4}},
		{"admin", "id_service=99", []int{}},
	})
	r := e.list("user", "/api/user/services/roles?id_service=6")[0]
	if r["service_role_name"] != "admin" || r["id_service"] != float64(6) || r["service_name"] != "Télé-réadaptation vidéo" || len(r) != 4 {
		t.Errorf("role 9: %v", r)
	}
	if l := e.list("user", "/api/user/services/roles?id_service=6&list=1")[0]; len(l) != 3 {
		t.Errorf("list form: %v", l)
	}
	// A site-scoped role of another service: id_site and site_name; globals leaves it out.
	e.post("admin", "/api/user/services/roles", map[string]any{"service_role": map[string]any{"id_service_role": 0, "id_service": 6, "service_role_name": "site1", "id_site": 1}})
	got := e.list("admin", "/api/user/services/roles?id_service=6")
	if len(got) != 3 || got[2]["id_site"] != float64(1) || got[2]["site_name"] != "Default Site" {
		t.Errorf("site role: %v", got)
	}
	e.wantIDs("admin", "/api/user/services/roles?id_service=6&globals=true", "id_service_role", 9, 10)
	e.expect(400, "admin", "GET", "/api/user/services/roles?globals=maybe", nil)
	e.expect(401, "", "GET", "/api/user/services/roles", nil)
}

func TestServiceRolesWrite(t *testing.T) {
	e := newEnv(t)
	body := map[string]any{"service_role": map[string]any{"id_service_role": 0, "id_service": 7, "service_role_name": "operator"}}
	for _, who := range []string{"siteadmin", "user", "user4"} {
		e.expect(403, who, "POST", "/api/user/services/roles", body)
		e.expect(403, who, "DELETE", "/api/user/services/roles?id=11", nil)
	}
	r := e.post("admin", "/api/user/services/roles", body)
	id := int(r["id_service_role"].(float64))
	if id <= 22 || r["service_role_name"] != "operator" || r["id_service"] != float64(7) {
		t.Fatalf("created %v", r)
	}
	u := e.post("admin", "/api/user/services/roles", map[string]any{"service_role": map[string]any{"id_service_role": id, "service_role_name": "pilot"}})
	if u["service_role_name"] != "pilot" || u["id_service"] != float64(7) {
		t.Errorf("renamed %v", u)
	}
	e.expectPosts(400, "admin", "/api/user/services/roles",
		`{"service_role": {"service_role_name": "x"}}`,
		`{"role": {"id_service_role": 0}}`,
		`{"service_role": {"id_service_role": 0, "id_service": 7}}`,
		`{"service_role": {"id_service_role": 0, "service_role_name": "x"}}`,
		`{"service_role": {"id_service_role": 0, "id_service": 99, "service_role_name": "x"}}`,
		`{"service_role": {"id_service_role": 0, "id_service": 7, "service_role_name": ""}}`,
		`{"service_role": {"id_service_role": "a"}}`,
		`{"service_role": {"id_service_role": `,
		map[string]any{"service_role": map[string]any{"id_service_role": id, "id_service": 6}},
	)
	// Unknown site: integrity refusal with a message (as OpenTera's database error).
	e.expect(500, "admin", "POST", "/api/user/services/roles", map[string]any{"service_role": map[string]any{"id_service_role": 0, "id_service": 7, "service_role_name": "x", "id_site": 99}})
	// OpenTeraServer's roles follow sites and projects.
	e.expectPosts(403, "admin", "/api/user/services/roles",
		`{"service_role": {"id_service_role": 13, "service_role_name": "x"}}`,
		`{"service_role": {"id_service_role": 0, "id_service": 1, "service_role_name": "x"}}`,
		`{"service_role": {"id_service_role": 999, "service_role_name": "x"}}`,
	)
	e.calls("DELETE", "/api/user/services/roles", call{"admin", 403, "?id=13"}, call{"admin", 400, "?id=999"}, call{"admin", 400, ""})

	// Deleting a role removes the accesses granting it: group 4 loses BureauActif admin (role 7).
	e.deleteOK("admin", "/api/user/services/roles?id=7")
	n := scalar[int](e, "SELECT count(*) FROM core.t_services_access WHERE id_service_role = 7 AND deleted_at IS NULL")
	if n != 0 {
		t.Errorf("%d accesses left on a deleted role", n)
	}
	e.wantIDs("admin", "/api/user/services/roles?id_service=5", "id_service_role", 8)
}

func TestServicesGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user")
	c := corev1.NewServicesServiceClient(conn)
	r, err := c.GetServices(ctx, &corev1.GetServicesRequest{IdProject: 1, List: true})
	if err != nil || len(r.Services) != 2 || r.Services[0].IdService != 3 || r.Services[1].GetServiceKey() != "VideoRehabService" {
		t.Fatalf("%v %v", r, err)
	}
	if _, err := c.DeleteService(ctx, &corev1.DeleteServiceRequest{Id: new(int32(5))}); err == nil {
		t.Fatal("user deleted a service over gRPC")
	}
	roles, err := corev1.NewServiceRoleServiceClient(conn).GetServiceRoles(ctx, &corev1.GetServiceRolesRequest{IdService: 6})
	if err != nil || len(roles.ServiceRoles) != 2 {
		t.Fatalf("%v %v", roles, err)
	}
	sp, err := corev1.NewServiceProjectServiceClient(conn).GetServiceProjects(ctx, &corev1.GetServiceProjectsRequest{IdProject: 1})
	if err != nil || len(sp.ServiceProjects) != 2 || sp.ServiceProjects[1].GetIdServiceProject().GetValue() != 2 {
		t.Fatalf("%v %v", sp, err)
	}
	if _, err := corev1.NewServiceSiteServiceClient(conn).DeleteServiceSite(ctx, &corev1.DeleteServiceSiteRequest{Id: new(int32(1))}); err == nil {
		t.Fatal("user deleted a service-site link over gRPC")
	}
}
