package core_test

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
)

func keys(o map[string]any) string {
	var k []string
	for key := range o {
		k = append(k, key)
	}
	sort.Strings(k)
	return strings.Join(k, ",")
}

const participantKeys = "id_participant,id_participant_group,id_project,participant_busy,participant_email,participant_enabled," +
	"participant_lastonline,participant_login_enabled,participant_name,participant_online,participant_project_enabled," +
	"participant_token,participant_token_enabled,participant_username,participant_uuid"

func TestParticipantsGetByProjectPerUser(t *testing.T) {
	e := newEnv(t)
	for _, who := range []string{"admin", "siteadmin", "user", "user2", "user3", "user/token"} {
		got := e.list(who, "/api/user/participants?id_project=1")
		if !eqInts(ids(got, "id_participant"), []int{1, 2, 3}) {
			t.Errorf("%s: %v", who, ids(got, "id_participant"))
		}
	}
	// Nothing visible: 200 null.
	for _, q := range []string{"id_project=1", "id_participant=1", "id_project=3"} {
		e.expectAnswer(200, "user4", "GET", "/api/user/participants?"+q, nil, "null")
	}
	e.expectAnswer(200, "admin", "GET", "/api/user/participants?id_participant=999", nil, "null")
	e.expectAnswer(200, "user", "GET", "/api/user/participants?id_project=3", nil, "null")
	got := e.list("admin", "/api/user/participants?id_project=1")
	if k := keys(got[0]); k != participantKeys {
		t.Errorf("keys by project:\n got %s\nwant %s", k, participantKeys)
	}
	p2 := got[1]
	if p2["participant_email"] != nil || p2["participant_token"] != nil || p2["participant_username"] != nil ||
		p2["participant_enabled"] != false || p2["id_participant_group"] != nil || p2["participant_project_enabled"] != true {
		t.Errorf("participant 2: %v", p2)
	}
}

func TestParticipantsGetByIDExactJSON(t *testing.T) {
	e := newEnv(t)
	p := e.one("user", "/api/user/participants?id_participant=1")
	if k := keys(p); k != "id_participant,id_participant_group,id_project,id_site,participant_busy,participant_email,participant_enabled,"+
		"participant_lastonline,participant_lastsession,participant_login_enabled,participant_name,participant_online,participant_project_enabled,"+
		"participant_token,participant_token_enabled,participant_username,participant_uuid" {
		t.Errorf("keys by id: %s", k)
	}
	uid, token := e.uuid("participant", 1), e.field("participant", 1, "token")
	want := map[string]any{"id_participant": 1.0, "id_participant_group": 1.0, "id_project": 1.0, "id_site": 1.0, "participant_busy": false,
		"participant_email": "x@opentera.org", "participant_enabled": true, "participant_lastonline": nil, "participant_login_enabled": true,
		"participant_name": "Participant #1", "participant_online": false, "participant_project_enabled": true, "participant_token": token,
		"participant_token_enabled": true, "participant_username": "participant1", "participant_uuid": uid}
	for k, v := range want {
		if p[k] != v {
			t.Errorf("%s = %v, want %v", k, p[k], v)
		}
	}
	if ls, ok := p["participant_lastsession"].(string); !ok || !strings.HasSuffix(ls, "+00:00") || !strings.Contains(ls, "T") {
		t.Errorf("participant_lastsession %v", p["participant_lastsession"])
	}
	// Participant 3 has no session: null.
	if got := e.list("user", "/api/user/participants?id=3"); got[0]["participant_lastsession"] != nil {
		t.Errorf("p3 lastsession %v", got[0]["participant_lastsession"])
	}
}

func TestParticipantsSelectorsAndFlags(t *testing.T) {
	e := newEnv(t)
	uid4 := e.uuid("participant", 4)
	cases := []struct {
		who, q string
		want   []int // nil: null body
	}{
		{"admin", "id=4", []int{4}},
		{"admin", "username=participant1", []int{1}},
		{"user4", "username=participant1", nil},
		{"admin", "participant_uuid=" + uid4, []int{4}},
		{"admin", "uuid=" + uid4, []int{4}},
		{"user", "uuid=" + uid4, nil},
		{"admin", "id_site=1", []int{1, 2, 3}},
		{"admin", "id_site=2", []int{4}},
		{"siteadmin", "id_site=2", nil},
		{"admin", "id_group=1", []int{1}},
		{"user3", "id_group=2", nil},
		{"admin", "id_device=1", []int{1, 2}},
		{"admin", "id_device=2", []int{2}},
		{"admin", "id_session=8", []int{1, 2}},
		{"admin", "id_session=1", []int{1}},
		{"admin", "name=Secret%20Participant", []int{4}},
		{"user", "name=Secret%20Participant", nil},
		// Precedence: id_participant, username, uuid, id_site, id_project, id_group, id_device, id_session, name.
		{"admin", "id_participant=2&id_project=3", []int{2}},
		{"admin", "username=participant1&id_participant=4", []int{4}},
		{"admin", "id_site=2&id_project=1", []int{4}},
		{"admin", "id_project=1&id_group=2", []int{1, 2, 3}},
		{"admin", "id_group=1&id_device=2", []int{1}},
		{"admin", "id_device=2&id_session=1", []int{2}},
		// Filters.
		{"admin", "id_project=1&enabled=true", []int{1, 3}},
		{"admin", "id_project=1&enabled=false", []int{2}},
		{"admin", "id_project=1&no_group=true", []int{2, 3}},
		{"admin", "id_project=1&limit=2", []int{1, 2}},
		{"admin", "id_project=1&list=true", []int{1, 2, 3}},
		// Flags without a selector: null.
		{"admin", "list=true", nil},
	}
	for _, c := range cases {
		st, body := e.do(c.who, "GET", "/api/user/participants?"+c.q, nil)
		if st != 200 {
			t.Errorf("%s ?%s: %d %s", c.who, c.q, st, body)
			continue
		}
		var got []map[string]any
		_ = json.Unmarshal(body, &got)
		if c.want == nil {
			if strings.TrimSpace(string(body)) != "null" {
				t.Errorf("%s ?%s: %s, want null", c.who, c.q, body)
			}
			continue
		}
		if !eqInts(ids(got, "id_participant"), c.want) {
			t.Errorf("%s ?%s: %v, want %v", c.who, c.q, ids(got, "id_participant"), c.want)
		}
	}
	// list: minimal keys.
	e.form("admin", "/api/user/participants?id_project=1&list=true", 0, "id_participant,id_participant_group,id_project,participant_busy,participant_email,participant_enabled,"+
		"participant_name,participant_online,participant_token_enabled,participant_uuid")
	// full: nested objects.
	p := e.list("admin", "/api/user/participants?id_participant=1&full=true")[0]
	devs, _ := p["participant_devices"].([]any)
	if len(devs) != 1 || devs[0].(map[string]any)["device_uuid"] != "b707e0b2-e649-47e7-a938-2b949c423f73" || devs[0].(map[string]any)["device_token"] == nil {
		t.Errorf("participant_devices %v", p["participant_devices"])
	}
	pg, _ := p["participant_participant_group"].(map[string]any)
	if keys(pg) != "id_participant_group,id_project,participant_group_name,project_name" || pg["participant_group_name"] != "Default Participant Group A" {
		t.Errorf("participant_participant_group %v", pg)
	}
	pp, _ := p["participant_project"].(map[string]any)
	if keys(pp) != "id_project,id_site,project_description,project_enabled,project_name,site_name" || pp["project_name"] != "Default Project #1" {
		t.Errorf("participant_project %v", pp)
	}
	got := e.list("admin", "/api/user/participants?id_participant=3&full=1")
	if _, has := got[0]["participant_participant_group"]; has {
		t.Errorf("group object for a participant without group: %v", got[0])
	}
	if d, _ := got[0]["participant_devices"].([]any); d == nil || len(d) != 0 {
		t.Errorf("participant 3 devices: %v", got[0]["participant_devices"])
	}
}

func TestParticipantsGetErrors(t *testing.T) {
	e := newEnv(t)
	e.expect(401, "", "GET", "/api/user/participants?id_project=1", nil)
	e.expect(401, "user:bad", "GET", "/api/user/participants?id_project=1", nil)
	e.expectContains(400, "admin", "GET", "/api/user/participants", nil, "Missing arguments")
	e.expectEach(400, "admin", "GET", "/api/user/participants?id_participant=abc", "/api/user/participants?id_project=99999999999",
		"/api/user/participants?id_project=1&enabled=maybe")
}

func TestParticipantsWrite(t *testing.T) {
	e := newEnv(t)
	post := func(who string, want int, body string) []byte {
		t.Helper()
		return e.expect(want, who, "POST", "/api/user/participants", body)
	}
	// 400s.
	post("admin", 400, `{}`)
	post("admin", 400, `{"participant": {"id_project": 1}}`)
	post("admin", 400, `{"participant": {"id_participant": 0}}`)
	post("admin", 400, `{"participant": {"id_participant": 0, "id_project": 1}}`) // no name
	post("admin", 400, `{"participant": {"id_participant": 0, "id_project": "one", "participant_name": "x"}}`)
	post("admin", 400, `{"participant": {"id_participant": 0, "id_project": 1, "participant_enabled": "true!", "participant_name": "x"}}`)
	post("admin", 400, `{"participant": {"id_participant": 0, "id_participant_group": "x", "participant_name": "x"}}`)
	post("admin", 400, `{"participant": {"id_participant": 0, "id_participant_group": 1.5, "participant_name": "x"}}`)
	post("admin", 400, `{"participant": {"id_participant": 0, "id_project": 2, "id_participant_group": 1, "participant_name": "x"}}`) // mismatch
	post("admin", 403, `{"participant": {"id_participant": 0, "id_participant_group": 999, "participant_name": "x"}}`)                // unknown = not accessible
	post("admin", 400, `{"participant": [1]}`)
	post("admin", 400, `not json`)
	// Oversized body (over the 8 MiB default): 400, not 413 or 500.
	post("admin", 400, `{"participant": {"id_participant": 0, "id_project": 1, "participant_name": "`+strings.Repeat("x", 9<<20)+`"}}`)

	// 403s: no role on the project or group.
	if b := post("user4", 403, `{"participant": {"id_participant": 0, "id_project": 1, "participant_name": "x"}}`); !strings.Contains(string(b), "No admin access to project") {
		t.Errorf("403 body %s", b)
	}
	post("user3", 403, `{"participant": {"id_participant": 0, "id_project": 2, "participant_name": "x"}}`)
	post("user3", 403, `{"participant": {"id_participant": 0, "id_participant_group": 2, "participant_name": "x"}}`)
	post("user", 403, `{"participant": {"id_participant": 4, "id_project": 1, "participant_name": "stolen"}}`) // participant not visible

	// Create with any role (user is "user" on project 1).
	creates := e.events("participant", 1)
	p := e.post("user", "/api/user/participants", map[string]any{"participant": map[string]any{
		"id_participant": 0, "id_participant_group": 2, "participant_name": "New", "participant_username": "newbie",
		"participant_password": "Secret!123", "participant_login_enabled": true, "participant_token_enabled": true}})
	id := int(p["id_participant"].(float64))
	if p["id_project"] != float64(2) || p["id_participant_group"] != float64(2) || p["participant_enabled"] != true ||
		p["participant_token"] == nil || p["participant_uuid"] == "" || p["participant_username"] != "newbie" {
		t.Errorf("created %v", p)
	}
	if _, has := p["participant_password"]; has {
		t.Error("password in JSON")
	}
	creates(1)
	hash := scalar[string](e, "SELECT participant_password FROM core.t_participants WHERE id_participant = $1", id)
	if !strings.HasPrefix(hash, "$2") {
		t.Errorf("password stored as %q", hash)
	}
	// Username taken among live participants: 409.
	post("admin", 409, `{"participant": {"id_participant": 0, "id_project": 1, "participant_name": "Dup", "participant_username": "participant1"}}`)

	// Update: absent keys unchanged, uuid immutable, group 0 means none, token off clears it.
	updates := e.outboxCount("participant", 2)
	u := e.post("user3", "/api/user/participants", map[string]any{"participant": map[string]any{
		"id_participant": 3, "id_project": 1, "participant_name": "Renamed", "participant_uuid": "nope", "id_participant_group": 1,
		"participant_online": true}})
	if u["participant_name"] != "Renamed" || u["id_participant_group"] != float64(1) || u["participant_uuid"] == "nope" || u["participant_enabled"] != true {
		t.Errorf("updated %v", u)
	}
	if e.outboxCount("participant", 2) <= updates {
		t.Error("no DatabaseEvent for the update")
	}
	u = e.post("user3", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 3, "id_participant_group": 0}})
	if u["id_participant_group"] != nil || u["id_project"] != float64(1) {
		t.Errorf("group removed: %v", u)
	}
	u = e.post("user3", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 1, "id_participant_group": nil, "participant_token_enabled": false}})
	if u["id_participant_group"] != nil || u["participant_token"] != nil {
		t.Errorf("token off / null group: %v", u)
	}
	// Enabling a participant in a disabled project: 500 with the schema's message.
	e.post("admin", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 2, "id_site": 1, "project_enabled": false}})
	if b := post("admin", 500, `{"participant": {"id_participant": `+itoa(id)+`, "id_project": 2, "participant_enabled": true}}`); !strings.Contains(string(b), "disabled project") {
		t.Errorf("500 body %s", b)
	}

	// Delete: project admin; unknown is 403; refused with 500 while the participant has sessions.
	e.calls("DELETE", "/api/user/participants", call{"admin", 400, ""}, call{"admin", 403, "?id=999"}, call{"user", 403, "?id=3"},
		call{"user4", 403, "?id=3"}, call{"user3", 500, "?id=2"})
	deletes := e.events("participant", 3)
	e.deleteOK("user3", "/api/user/participants?id=3")
	deletes(1)
	e.expectAnswer(200, "admin", "GET", "/api/user/participants?id=3", nil, "null")
	// A deleted participant's username is free again.
	e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 0, "id_project": 1, "participant_name": "Again", "participant_username": "newbie2"}})
}

func TestParticipantsGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user3")
	c := corev1.NewParticipantServiceClient(conn)
	r, err := c.GetParticipants(ctx, &corev1.GetParticipantsRequest{IdProject: 1})
	if err != nil || len(r.Participants) != 3 || r.Participants[0].GetParticipantUsername().GetStringValue() != "participant1" {
		t.Fatalf("%v %v", r, err)
	}
	r, err = c.GetParticipants(ctx, &corev1.GetParticipantsRequest{IdProject: 3})
	if err != nil || len(r.Participants) != 0 {
		t.Fatalf("project 3 over gRPC: %v %v", r, err)
	}
	if _, err := c.GetParticipants(ctx, &corev1.GetParticipantsRequest{}); err == nil {
		t.Fatal("no selector accepted")
	}
	w, err := c.PostParticipant(ctx, &corev1.PostParticipantRequest{Participant: &corev1.ParticipantBody{
		IdParticipant: new(int32(0)), IdProject: new(int32(1)), ParticipantName: new("Over gRPC")}})
	if err != nil || len(w.Participants) != 1 || w.Participants[0].ParticipantName != "Over gRPC" {
		t.Fatalf("%v %v", w, err)
	}
	if _, err := c.DeleteParticipant(ctx, &corev1.DeleteParticipantRequest{Id: new(w.Participants[0].IdParticipant)}); err != nil {
		t.Fatal(err)
	}
}

// An update needs only id_participant: project and group come from the row (OpenTera).
func TestParticipantsUpdateByIDOnly(t *testing.T) {
	e := newEnv(t)
	u := e.post("user3", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 3, "participant_name": "Only id"}})
	if u["participant_name"] != "Only id" || u["id_project"] != float64(1) {
		t.Errorf("updated %v", u)
	}
	// Still refused on a participant the caller cannot see.
	e.expect(403, "user4", "POST", "/api/user/participants", `{"participant": {"id_participant": 3, "participant_name": "x"}}`)
}
