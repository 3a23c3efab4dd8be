package core_test

import (
	"encoding/json"
	"testing"
	"time"
)

// token returns the static token of a fixture participant or device ("token:<raw>" for e.do).
func (e *env) staticToken(kind string, id int) string {
	e.t.Helper()
	return "token:" + e.field(kind, id, "token")
}

// sessionBody is the body of a session POSTed by a participant or a device (status 0).
func sessionBody(id, typ int, name, start string, participants ...string) map[string]any {
	return wrap("session", "id_session", id, "id_session_type", typ, "session_name", name, "session_status", 0,
		"session_start_datetime", start, "session_participants", participants)
}

// object decodes a JSON object answer.
func object(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("not an object: %v in %s", err, body)
	}
	return out
}

// /api/participant/devices (OpenTera's ParticipantQueryDevices and its test).
func TestParticipantSurfaceDevices(t *testing.T) {
	e := newEnv(t)
	devs := e.list("participant1", "/api/participant/devices")
	if !eqInts(ids(devs, "id_device"), []int{1}) {
		t.Fatalf("devices of participant 1: %v", ids(devs, "id_device"))
	}
	if v, has := devs[0]["device_token"]; !has || v != nil {
		t.Errorf("device_token must be present and null: %v", devs[0])
	}
	if devs[0]["device_config"] == nil && devs[0]["device_onlineable"] == nil {
		t.Errorf("full form expected: %v", devs[0])
	}
	minimal := e.list("participant1", "/api/participant/devices?list=true")
	if _, has := minimal[0]["device_config"]; has || len(minimal) != 1 {
		t.Errorf("list form: %v", minimal)
	}
	if got := e.list("participant1", "/api/participant/devices?id_device=2"); len(got) != 0 {
		t.Errorf("device 2 is not participant 1's: %v", got)
	}
	// Full role only: a static token is refused, other kinds are not authenticated here.
	e.expect(403, e.staticToken("participant", 1), "GET", "/api/participant/devices", nil)
	e.expect(401, "admin", "GET", "/api/participant/devices", nil)
	e.expect(401, e.staticToken("device", 1), "GET", "/api/participant/devices", nil)
	e.expect(401, "", "GET", "/api/participant/devices", nil)
}

// GET /api/participant/sessions with OpenTera's filters (test_ParticipantQuerySessions).
func TestParticipantSurfaceSessions(t *testing.T) {
	e := newEnv(t)
	all := e.list("participant1", "/api/participant/sessions")
	if len(all) != 28 {
		t.Fatalf("participant 1 takes part in the 28 fixture sessions, got %d", len(all))
	}
	for _, k := range []string{"id_creator_device", "id_creator_participant", "id_creator_user", "session_comments", "session_participants", "session_users", "session_uuid"} {
		if _, has := all[0][k]; !has {
			t.Errorf("no %s in %v", k, all[0])
		}
	}
	if got := e.list("participant1", "/api/participant/sessions?limit=2"); len(got) != 2 {
		t.Errorf("limit=2: %d", len(got))
	}
	if got := e.list("participant1", "/api/participant/sessions?limit=2&offset=27"); len(got) != 1 {
		t.Errorf("limit=2&offset=27: %d", len(got))
	}
	for _, s := range e.list("participant1", "/api/participant/sessions?status=0&list=1") {
		if s["session_status"] != float64(0) {
			t.Errorf("status=0 gave %v", s["session_status"])
		}
		if _, has := s["session_participants"]; has {
			t.Errorf("list form has session_participants: %v", s)
		}
	}
	one := e.list("participant1", "/api/participant/sessions?id_session=5")
	if !eqInts(ids(one, "id_session"), []int{5}) {
		t.Errorf("id_session=5: %v", ids(one, "id_session"))
	}
	e.wantIDs("participant1", "/api/participant/sessions?session_uuid="+one[0]["session_uuid"].(string), "id_session", 5)
	day := func(d int) string { return time.Now().AddDate(0, 0, d).Format(time.DateOnly) }
	want := scalar[int](e, `SELECT count(*) FROM core.t_sessions WHERE session_start_datetime::date BETWEEN $1::date AND $2::date`,
		day(-6), day(-4))
	if got := e.list("participant1", "/api/participant/sessions?start_date="+day(-6)+"&end_date="+day(-4)); len(got) != want || want == 0 {
		t.Errorf("%d sessions start between 6 and 4 days ago, got %d", want, len(got))
	}
	e.expectEach(400, "participant1", "GET", "/api/participant/sessions?start_date=yesterday", "/api/participant/sessions?limit=-1",
		"/api/participant/sessions?id_session=abc")
	e.expect(403, e.staticToken("participant", 1), "GET", "/api/participant/sessions", nil)
	e.expect(401, "admin", "GET", "/api/participant/sessions", nil)
	e.expect(401, e.staticToken("device", 1), "GET", "/api/participant/sessions", nil)
}

// POST /api/participant/sessions: creates, deduplicates and updates the participant's own
// sessions (test_ParticipantQuerySessions post_*).
func TestParticipantSurfaceSessionWrite(t *testing.T) {
	e := newEnv(t)
	static := e.staticToken("participant", 1)
	p1, p4 := e.uuid("participant", 1), e.uuid("participant", 4)
	body := func(id, typ int, name string, parts ...string) map[string]any {
		return sessionBody(id, typ, name, time.Now().Format("2006-01-02 15:04:05.000000"), parts...)
	}
	post := func(who string, b any) map[string]any {
		t.Helper()
		return object(t, e.expect(200, who, "POST", "/api/participant/sessions", b))
	}
	created := post(static, body(0, 1, "TEST", p1))
	id := created["id_session"].(float64)
	if id <= 28 || created["id_creator_participant"] != float64(1) || created["id_creator_user"] != nil {
		t.Fatalf("created %v", created)
	}
	if ps := created["session_participants"].([]any); len(ps) != 1 || ps[0].(map[string]any)["participant_uuid"] != p1 {
		t.Errorf("participants %v", created["session_participants"])
	}
	// Same creator, name, type, day and participants: the same session, its start kept.
	again := post("participant1", body(0, 1, "TEST", p1, p1))
	if again["id_session"] != id || again["session_start_datetime"] != created["session_start_datetime"] {
		t.Errorf("deduplication: %v then %v", created, again)
	}
	if other := post(static, body(0, 2, "TEST", p1)); other["id_session"] == id {
		t.Errorf("another type is another session")
	}
	// Update of its own session (an explicit creator in the body is ignored).
	upd := post(static, map[string]any{"session": map[string]any{"id_session": id, "id_session_type": 1, "session_name": "TEST-UPDATE",
		"session_status": 2, "id_creator_user": 1}})
	if upd["session_name"] != "TEST-UPDATE" || upd["session_status"] != float64(2) || upd["id_creator_user"] != nil {
		t.Errorf("update: %v", upd)
	}
	// Session 1 was created by a user: not the participant's to change, though it takes part.
	e.expect(403, static, "POST", "/api/participant/sessions", body(1, 1, "HIJACK", p1))
	name := e.field("session", 1, "name")
	if name == "HIJACK" {
		t.Error("session 1 changed")
	}
	// Session types outside its project: 403 (5 is project 2's; 5000 does not exist).
	for _, typ := range []int{5, 5000, 0} {
		e.expect(403, static, "POST", "/api/participant/sessions", body(0, typ, "TEST", p1))
	}
	// Participants it cannot see are refused like unknown ones (OpenTera would link them).
	e.expect(400, static, "POST", "/api/participant/sessions", body(0, 1, "TEST", p4))
	e.expect(400, static, "POST", "/api/participant/sessions", body(0, 1, "TEST", "00000000-0000-0000-0000-00000000dead"))
	n := scalar[int](e, "SELECT count(*) FROM core.t_sessions_participants WHERE id_participant = 4")
	if n != 0 {
		t.Errorf("participant 4 was linked to %d sessions", n)
	}
	// Malformed bodies: 400 with a message.
	for _, b := range []string{`{}`, `{"session": {}}`, `{"session": {"id_session": 0}}`,
		`{"session": {"id_session": 0, "id_session_type": 1}}`,
		`{"session": {"id_session": 0, "id_session_type": 1, "session_participants": []}}`,
		`{"session": {"id_session": 0, "id_session_type": 1, "session_name": "x", "session_participants": []}}`,
		`{"session": {"id_session": 0, "id_session_type": 1, "session_name": "x", "session_start_datetime": "now", "session_participants": []}}`,
		`{"session": {"id_session": 0, "id_session_type": 1, "session_name": "x", "session_start_datetime": "2026-01-01", "session_participants": [1]}}`,
		`{"session": {"id_session": "abc"}}`, `{"session": {"id_session": 0, "id_session_type": 1, "session_status": 9}}`, `not json`} {
		if code, out := e.do(static, "POST", "/api/participant/sessions", b); code != 400 || len(out) < 3 {
			t.Errorf("%s: %d %s", b, code, out)
		}
	}
	e.expect(401, "admin", "POST", "/api/participant/sessions", body(0, 1, "TEST", p1))
	e.expect(401, e.staticToken("device", 1), "POST", "/api/participant/sessions", body(0, 1, "TEST", p1))
}

// GET /api/participant/assets (test_ParticipantQueryAssets).
func TestParticipantSurfaceAssets(t *testing.T) {
	e := newEnv(t)
	all := e.list("participant1", "/api/participant/assets")
	if !eqInts(ids(all, "id_asset"), []int{1}) {
		t.Fatalf("assets of participant 1: %v", ids(all, "id_asset"))
	}
	a := all[0]
	if a["asset_participant"] != "Participant #1" || a["asset_session_name"] == nil || a["asset_service_owner_name"] == nil {
		t.Errorf("asset JSON %v", a)
	}
	if _, has := a["asset_user"]; has {
		t.Errorf("asset_user without a user: %v", a)
	}
	static := e.staticToken("participant", 1)
	// A static token must name what it fetches.
	e.expect(403, static, "GET", "/api/participant/assets", nil)
	for _, q := range []string{"id_asset=1", "asset_uuid=" + a["asset_uuid"].(string), "id_session=2"} {
		e.wantIDs(static, "/api/participant/assets?"+q, "id_asset", 1)
	}
	// Access tokens for the full role only.
	if got := e.list("participant1", "/api/participant/assets?with_urls=true"); len(got) != 1 || got[0]["access_token"] == nil || got[0]["asset_url"] == nil {
		t.Errorf("with_urls, full: %v", got)
	}
	if got := e.list("participant1", "/api/participant/assets?with_only_token=true"); len(got) != 1 || len(got[0]) != 2 || got[0]["access_token"] == nil {
		t.Errorf("with_only_token, full: %v", got)
	}
	if got := e.list(static, "/api/participant/assets?id_asset=1&with_urls=true&with_only_token=true"); len(got) != 1 || got[0]["access_token"] != nil || got[0]["asset_name"] == nil {
		t.Errorf("a static token gets no access token: %v", got)
	}
	// Assets of others, and sessions it did not create.
	if got := e.list(static, "/api/participant/assets?id_asset=4"); len(got) != 0 {
		t.Errorf("asset 4 is device 1's: %v", got)
	}
	e.calls("GET", "/api/participant/assets", call{static, 403, "?id_session=3"}, call{static, 403, "?id_session=999"}, call{"admin", 401, ""})
	e.expect(401, e.staticToken("device", 1), "GET", "/api/participant/assets?id_asset=1", nil)
}
