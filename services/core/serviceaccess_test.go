package core_test

import (
	"encoding/json"
	"fmt"
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func TestServiceAccessGet(t *testing.T) {
	e := newEnv(t)
	// id_service_role of each item, in order (sorted by service).
	e.lists("/api/user/services/access", "id_service_role", []listCase{
		// Group 2 "Admins - Project 1": OpenTeraServer admin of P1 (17) and LoggingService admin (1).
		{"admin", "id_user_group=2", []int{17, 1}},
		{"user4", "id_user_group=2", []int{}},
		// user sees group 1, but not OpenTeraServer (not linked to its projects).
		{"user", "id_user_group=1", []int{}},
		// user2's groups 4 and 3: 18 (P1 user), 13 (site 1 admin), 7 (BureauActif admin).
		{"admin", "id_user=4", []int{13, 18, 7}},
		{"user4", "id_user=4", []int{}},
		{"admin", "id_participant_group=1", []int{2}},
		{"user4", "id_participant_group=1", []int{}},
		{"admin", "id_device=1", []int{8}},
		{"user", "id_device=1", []int{}}, // device visible, BureauActif not
		{"admin", "id_service=5", []int{7, 8}},
		{"user4", "id_service=5", []int{}},
		{"siteadmin", "id_service=5", []int{}},
		// One selector honoured: id_user_group before id_device.
		{"admin", "id_device=1&id_user_group=2", []int{17, 1}},
		{"admin", "id_user_group=999", []int{}},
	})
	d := e.list("admin", "/api/user/services/access?id_device=1")[0]
	want := map[string]any{"id_device": 1.0, "device_name": "Apple Watch #W05P1", "id_service": 5.0, "service_key": "BureauActif",
		"service_name": "Bureau Actif", "service_role_name": "user", "service_access_role_name": "user"}
	for k, v := range want {
		if d[k] != v {
			t.Errorf("device access %s = %v, want %v (%v)", k, d[k], v, d)
		}
	}
	for _, k := range []string{"id_user_group", "id_participant_group", "user_group_name", "id_site", "id_project"} {
		if _, has := d[k]; has {
			t.Errorf("device access has %s: %v", k, d)
		}
	}
	if d["id_service_access"] == nil {
		t.Errorf("no id_service_access: %v", d)
	}
	g := e.list("admin", "/api/user/services/access?id_user_group=2")[0]
	if g["user_group_name"] != "Admins - Project 1" || g["id_project"] != 1.0 || g["project_name"] != "Default Project #1" || g["service_key"] != "OpenTeraServer" {
		t.Errorf("group access %v", g)
	}
	pg := e.list("admin", "/api/user/services/access?id_participant_group=1")[0]
	if pg["participant_group_name"] != "Default Participant Group A" || pg["id_participant_group"] != 1.0 {
		t.Errorf("participant group access %v", pg)
	}
	e.expectEach(400, "admin", "GET", "/api/user/services/access", "/api/user/services/access?id_device=abc")
	e.expect(401, "", "GET", "/api/user/services/access?id_device=1", nil)
}

// Malformed bodies are 400, no credentials 401.
func TestServiceAccessWriteErrors(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/access"
	for _, bad := range []string{`{}`, `{"service_access": {}}`, `{"service_access": {"id_service_access": 0}}`,
		`{"service_access": {"id_service_access": 0, "id_user_group": 1}}`,
		`{"service_access": {"id_service_access": 0, "id_service_role": 9}}`,
		`{"service_access": {"id_service_access": 0, "id_service_role": 9, "id_user_group": 1, "id_device": 1}}`,
		`{"service_access": {"id_service_access": 0, "id_service_role": 9, "id_participant_group": 1, "id_device": 1}}`,
		`{"service_access": {"id_service_access": "x", "id_service_role": 9, "id_user_group": 1}}`,
		`{"service_access": {"id_service_access": 0, "id_service_role": 9.5, "id_user_group": 1}}`,
		`{"service_access": {"id_service_access": 0, "id_service_role": "admin", "id_user_group": 1}}`,
		`{"service_access": {"id_service_access": 0, "id_service_role": 999, "id_user_group": 1}}`,
		`{"service_access": [1]}`, `{"service_access": 3}`, `{"service_access": `, `[]`} {
		e.expect(400, "admin", "POST", path, bad)
	}
	e.expect(401, "", "POST", path, map[string]any{"service_access": map[string]any{"id_service_access": 0, "id_service_role": 9, "id_user_group": 1}})
}

func TestServiceAccessWriteList(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/access"
	// A list of items; participant groups and devices hold roles too.
	b := e.expect(200, "admin", "POST", path, map[string]any{"service_access": []any{
		map[string]any{"id_service_access": 0, "id_service_role": 5, "id_participant_group": 1},
		map[string]any{"id_service_access": 0, "id_service_role": 11, "id_device": 2},
	}})
	var two []map[string]any
	_ = json.Unmarshal(b, &two)
	if len(two) != 2 || !eqInts(ids(two, "id_service_role"), []int{5, 11}) || two[0]["id_participant_group"] != 1.0 || two[1]["device_name"] != "Kit Télé #1" {
		t.Errorf("list post %s", b)
	}
	// The same role twice for a holder is an integrity refusal with a message (group 1 has 18 and 20).
	var first int
	for _, it := range e.list("admin", path+"?id_user_group=1") {
		if it["id_service_role"] == 18.0 {
			first = int(it["id_service_access"].(float64))
		}
	}
	body := e.expect(500, "admin", "POST", path, map[string]any{"service_access": map[string]any{"id_service_access": first, "id_service_role": 20}})
	var msg string
	if json.Unmarshal(body, &msg) != nil || msg == "" {
		t.Errorf("integrity body %s", body)
	}
}

func TestServiceAccessWrite(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/access"
	// Grant VideoRehab admin (role 9) to group 1: the caller administers the group and the service.
	grant := map[string]any{"service_access": map[string]any{"id_service_access": 0, "id_service_role": 9, "id_user_group": 1}}
	for _, who := range []string{"user", "user4"} {
		e.expect(403, who, "POST", path, grant)
	}
	// BureauActif (service 5) is linked to none of siteadmin's projects or sites.
	e.expect(403, "siteadmin", "POST", path, map[string]any{"service_access": map[string]any{"id_service_access": 0, "id_service_role": 7, "id_user_group": 1}})
	a := e.post("siteadmin", path, grant)
	id := int(a["id_service_access"].(float64))
	if a["id_service_role"] != 9.0 || a["id_user_group"] != 1.0 || a["id_service"] != 6.0 || a["service_role_name"] != "admin" {
		t.Fatalf("created %v", a)
	}
	e.wantIDs("admin", path+"?id_user_group=1", "id_service_role", 18, 20, 9)
	// Change the role.
	u := e.post("siteadmin", path, map[string]any{"service_access": map[string]any{"id_service_access": id, "id_service_role": 10}})
	if u["id_service_role"] != 10.0 || int(u["id_service_access"].(float64)) != id || u["service_role_name"] != "user" {
		t.Errorf("updated %v", u)
	}
	// Without id_service_role (or with ""), an existing id removes the assignment.
	for _, who := range []string{"user", "user4"} {
		e.expect(403, who, "POST", path, map[string]any{"service_access": map[string]any{"id_service_access": id}})
	}
	r := e.post("siteadmin", path, map[string]any{"service_access": map[string]any{"id_service_access": id, "id_service_role": ""}})
	if int(r["id_service_access"].(float64)) != id {
		t.Errorf("removed %v", r)
	}
	e.wantIDs("admin", path+"?id_user_group=1", "id_service_role", 18, 20)
	// Soft insert: granting the same role again brings the same assignment back.
	grant["service_access"].(map[string]any)["id_service_role"] = 10
	if again := e.post("siteadmin", path, grant); int(again["id_service_access"].(float64)) != id {
		t.Errorf("re-grant got id %v, want %d", again["id_service_access"], id)
	}
	// Delete by assignment id.
	e.expectEach(400, "admin", "DELETE", path, path+"?id=x", path+"?id=99999")
	e.expect(403, "user4", "DELETE", path+"?id="+itoa(id), nil)
	e.expect(403, "user", "DELETE", path+"?id="+itoa(id), nil)
	e.deleteOK("siteadmin", path+"?id="+itoa(id))
	e.expect(400, "siteadmin", "DELETE", path+"?id="+itoa(id), nil)
	e.wantIDs("admin", path+"?id_user_group=1", "id_service_role", 18, 20)
}

func TestServiceAccessGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("admin")
	r, err := corev1.NewServiceAccessServiceClient(conn).GetServiceAccess(ctx, &corev1.GetServiceAccessRequest{IdDevice: 1})
	if err != nil || len(r.ServiceAccess) != 1 || r.ServiceAccess[0].GetIdServiceRole() != 8 || r.ServiceAccess[0].GetDeviceName() != "Apple Watch #W05P1" {
		t.Fatalf("%v %v", r, err)
	}
	conn4, ctx4 := e.grpcConn("user4")
	if _, err := corev1.NewServiceAccessServiceClient(conn4).DeleteServiceAccess(ctx4, &corev1.DeleteServiceAccessRequest{Id: new(r.ServiceAccess[0].GetIdServiceAccess())}); err == nil {
		t.Fatal("user4 deleted an assignment over gRPC")
	}
}

// A role of a service scoped to a site or a project is handed out only by an admin of that site
// or project: siteadmin administers VideoRehab through site 1, which must not let it grant
// VideoRehab roles on site 2 or project 3 (issue 9).
func TestServiceAccessScopedRoles(t *testing.T) {
	e := newEnv(t)
	const path = "/api/user/services/access"
	role := func(scope string, id int) int {
		r := e.post("admin", "/api/user/services/roles", fmt.Sprintf(`{"service_role": {"id_service_role": 0, "id_service": 6,
			"service_role_name": "scoped-%s-%d", "%s": %d}}`, scope, id, scope, id))
		return int(r["id_service_role"].(float64))
	}
	site1, site2, project3 := role("id_site", 1), role("id_site", 2), role("id_project", 3)
	count := func() int {
		return scalar[int](e, "SELECT count(*) FROM core.t_services_access WHERE deleted_at IS NULL")
	}
	before := count()
	for _, r := range []int{site2, project3} {
		e.expect(403, "siteadmin", "POST", path, map[string]any{"service_access": map[string]any{"id_service_access": 0, "id_service_role": r, "id_user_group": 1}})
	}
	// Moving an existing assignment (VideoRehab admin of group 1) onto a foreign scope is refused too.
	a := e.post("siteadmin", path, map[string]any{"service_access": map[string]any{"id_service_access": 0, "id_service_role": 9, "id_user_group": 1}})
	id := int(a["id_service_access"].(float64))
	e.expect(403, "siteadmin", "POST", path, map[string]any{"service_access": map[string]any{"id_service_access": id, "id_service_role": site2}})
	if n := count(); n != before+1 {
		t.Errorf("%d live assignments, want %d", n, before+1)
	}
	// An assignment on a foreign scope, made by a superadmin, is not siteadmin's to delete.
	b := e.post("admin", path, map[string]any{"service_access": map[string]any{"id_service_access": 0, "id_service_role": site2, "id_user_group": 1}})
	e.expect(403, "siteadmin", "DELETE", path+"?id="+itoa(int(b["id_service_access"].(float64))), nil)
	e.post("siteadmin", path, map[string]any{"service_access": map[string]any{"id_service_access": id, "id_service_role": site1}})
}
