package core_test

import (
	"encoding/json"
	"testing"
)

// canon is a JSON answer with sorted keys and no spaces (the gateway's spacing varies).
func canon(b []byte) string {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return "invalid JSON: " + string(b)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

func TestServiceAPIUsers(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	e.expect(400, vr, "GET", "/api/service/users", nil)
	e.expect(403, vr, "GET", "/api/service/users?id_user=6", nil) // user4: no role anywhere
	e.expect(403, vr, "GET", "/api/service/users?user_uuid="+e.uuid("user", 6), nil)
	u := e.object(vr, "/api/service/users?id_user=3")
	if u["user_username"] != "user" || u["user_name"] == nil || u["user_password"] != nil {
		t.Errorf("user 3: %v", u)
	}
	if u := e.object(vr, "/api/service/users?user_uuid="+e.uuid("user", 1)); u["user_superadmin"] != true {
		t.Errorf("superadmin: %v", u)
	}

	user := e.uuid("user", 3)
	cases := []struct {
		q, want string
	}{
		{"&id_project=1", `{"project_role":"user"}`},
		{"&id_site=1", `{"site_role":"user"}`},
		{"&id_project=2", `{"project_role":null}`}, // not a project of the service
		{"&id_site=2", `{"site_role":null}`},
	}
	for _, c := range cases {
		if got := canon(e.expect(200, vr, "GET", "/api/service/users/access?uuid_user="+user+c.q, nil)); got != c.want {
			t.Errorf("users/access%s: %s, want %s", c.q, got, c.want)
		}
	}
	if got := canon(e.expect(200, vr, "GET", "/api/service/users/access?id_project=1&uuid_user="+e.uuid("user", 6), nil)); got != `{"project_role":null}` {
		t.Errorf("user4's role: %s", got)
	}
	e.expectEach(400, vr, "GET", "/api/service/users/access?id_project=1", "/api/service/users/access?uuid_user="+user,
		"/api/service/users/access?uuid_user="+user+"&id_project=x")
}

func TestServiceAPIUserGroupsRolesAccess(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	// Group 1 gets VideoRehab's "user" role (id 10): the only group holding one of its roles.
	if _, err := e.db.Exec(t.Context(), "INSERT INTO core.t_services_access (id_user_group, id_service_role) VALUES (1, 10)"); err != nil {
		t.Fatal(err)
	}
	for q, want := range map[string][]int{"": {1}, "?id_user_group=1": {1}, "?id_user_group=3": {}, "?id_project=1": {1}, "?id_site=1": {1}} {
		if got := ids(e.list(vr, "/api/service/usergroups"+q), "id_user_group"); !eqInts(got, want) {
			t.Errorf("usergroups%s: %v, want %v", q, got, want)
		}
	}
	e.expect(403, vr, "GET", "/api/service/usergroups?id_project=2", nil)
	e.expect(403, vr, "GET", "/api/service/usergroups?id_site=2", nil)

	e.expect(400, vr, "GET", "/api/service/serviceaccess", nil)
	sa := e.list(vr, "/api/service/serviceaccess?id_user_group=1")
	if len(sa) != 1 || sa[0]["id_service_role"] != 10.0 || sa[0]["service_role_name"] != "user" {
		t.Errorf("service access of group 1: %v", sa)
	}
	if got := e.list(vr, "/api/service/serviceaccess?id_user_group=2"); len(got) != 0 {
		t.Errorf("group 2 (a Logging role only): %v", got)
	}

	// Roles: the service's own.
	e.wantIDs(vr, "/api/service/roles", "id_service_role", 9, 10)
	e.expectPosts(400, vr, "/api/service/roles",
		map[string]any{},
		map[string]any{"service_role": map[string]any{"id_service_role": 0}},
		map[string]any{"service_role": map[string]any{"id_service_role": 0, "service_role_name": " "}},
	)
	e.expect(403, vr, "POST", "/api/service/roles", map[string]any{"service_role": map[string]any{"id_service_role": 0, "service_role_name": "x", "id_site": 2}})
	e.expect(403, vr, "POST", "/api/service/roles", map[string]any{"service_role": map[string]any{"id_service_role": 1, "service_role_name": "stolen"}})
	role := e.postObject(vr, "/api/service/roles", map[string]any{"service_role": map[string]any{"id_service_role": 0, "service_role_name": "therapist", "id_project": 1, "id_service": 3}})
	if role["id_service"] != 6.0 || role["id_project"] != 1.0 || role["service_role_name"] != "therapist" {
		t.Errorf("created role: %v", role)
	}
	id := int(role["id_service_role"].(float64))
	if role := e.postObject(vr, "/api/service/roles", map[string]any{"service_role": map[string]any{"id_service_role": id, "service_role_name": "renamed"}}); role["service_role_name"] != "renamed" {
		t.Errorf("renamed role: %v", role)
	}
	e.calls("DELETE", "/api/service/roles", call{vr, 400, ""}, call{vr, 403, "?id=1"}, call{vr, 200, "?id=" + itoa(id)}, call{vr, 403, "?id=" + itoa(id)})
}

func TestServiceAPIAccess(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	user, user3, p1, p2 := e.uuid("user", 3), e.uuid("user", 5), e.uuid("participant", 1), e.uuid("participant", 2)
	get := func(q string) string {
		t.Helper()
		return canon(e.expect(200, vr, "GET", "/api/service/access?"+q, nil))
	}
	e.expect(400, vr, "GET", "/api/service/access", nil)
	if got := get("with_users=true"); got != `{}` {
		t.Errorf("no from: %s", got)
	}
	// user has a role on projects 1 and 2; the service reaches project 1 only.
	var got map[string]any
	_ = json.Unmarshal([]byte(get("from_user_uuid="+user+"&with_projects=true&with_sites=true&with_names=true")), &got)
	if got["admin"] != false || got["from_user_uuid"] != user {
		t.Errorf("user access: %v", got)
	}
	if b, _ := json.Marshal(got["projects"]); string(b) != `[{"id":1,"name":"Default Project #1"}]` {
		t.Errorf("user projects: %s", b)
	}
	if b, _ := json.Marshal(got["sites"]); string(b) != `[{"id":1,"name":"Default Site"}]` {
		t.Errorf("user sites: %s", b)
	}
	if s := get("from_user_uuid=" + user + "&admin=true&with_projects=true"); s != `{"admin":true,"from_user_uuid":"`+user+`","projects":[]}` {
		t.Errorf("user admin access: %s", s)
	}
	if s := get("from_user_uuid=" + user3 + "&admin=true&with_projects=true"); s != `{"admin":true,"from_user_uuid":"`+user3+`","projects":[{"id":1}]}` {
		t.Errorf("user3 admin access: %s", s)
	}
	if s := get("from_participant_uuid=" + p1 + "&with_participants=true&with_projects=true"); s != `{"from_participant_uuid":"`+p1+`","participants":[{"uuid":"`+p1+`"}],"projects":[]}` {
		t.Errorf("participant access: %s", s)
	}
	dev := "b707e0b2-e649-47e7-a938-2b949c423f73"
	if s := get("from_device_uuid=" + dev + "&with_participants=true&with_devices=true&with_sites=true"); s != `{"devices":[{"uuid":"`+dev+`"}],"from_device_uuid":"`+dev+`","participants":[{"uuid":"`+p1+`"},{"uuid":"`+p2+`"}],"sites":[]}` {
		t.Errorf("device access: %s", s)
	}
	e.expectEach(400, vr, "GET", "/api/service/access?from_participant_uuid="+p1+"&admin=true",
		"/api/service/access?from_device_uuid="+dev+"&admin=true", "/api/service/access?from_user_uuid="+e.uuid("user", 6),
		"/api/service/access?from_participant_uuid="+e.uuid("participant", 4), "/api/service/access?from_user_uuid=nope&with_users=true")
}
