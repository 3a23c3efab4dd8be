package core_test

import (
	"context"
	"strconv"
	"testing"
	"time"
)

// /api/device/devices (OpenTera's DeviceQueryDevices and its test).
func TestDeviceSurfaceDevices(t *testing.T) {
	e := newEnv(t)
	d1, d2 := e.staticToken("device", 1), e.staticToken("device", 2)
	got := object(t, e.expect(200, d1, "GET", "/api/device/devices", nil))
	info := got["device_info"].(map[string]any)
	for _, k := range []string{"device_enabled", "device_name", "device_uuid", "id_device", "id_device_subtype", "id_device_type"} {
		if _, has := info[k]; !has {
			t.Errorf("device_info has no %s: %v", k, info)
		}
	}
	for _, k := range []string{"device_token", "device_config", "device_onlineable", "device_notes", "device_lastonline", "device_infos", "device_subtype"} {
		if _, has := info[k]; has {
			t.Errorf("device_info has %s: %v", k, info)
		}
	}
	if info["id_device"] != float64(1) {
		t.Errorf("device_info of %v", info["id_device"])
	}
	parts := got["participants_info"].([]any)
	if len(parts) != 2 || len(parts[0].(map[string]any)) != 2 || parts[0].(map[string]any)["participant_name"] != "Participant #1" {
		t.Errorf("participants_info %v", parts)
	}
	var types []int
	for _, st := range got["session_types_info"].([]any) {
		m := st.(map[string]any)
		if _, has := m["session_type_config"]; has {
			t.Errorf("minimal session type expected: %v", m)
		}
		types = append(types, int(m["id_session_type"].(float64)))
	}
	if len(types) != 4 {
		t.Errorf("session types of projects 1 and 3: %v", types)
	}
	// Its own config only.
	written := e.post(d1, "/api/device/devices", `{"device": {"device_config": "{\"x\": 1}", "device_name": "renamed", "device_enabled": false}}`)
	if written["device_config"] != `{"x": 1}` || written["device_name"] != "Apple Watch #W05P1" || written["device_enabled"] != true {
		t.Errorf("written %v", written)
	}
	e.post(d1, "/api/device/devices", `{"device": {"id_device": 1, "device_config": "{}"}}`)
	e.expect(403, d1, "POST", "/api/device/devices", `{"device": {"id_device": 2, "device_config": "{\"stolen\": 1}"}}`)
	cfg := scalar[*string](e, "SELECT device_config FROM core.t_devices WHERE id_device = 2")
	if cfg != nil && *cfg == `{"stolen": 1}` {
		t.Error("device 1 changed device 2")
	}
	for _, b := range []string{`{}`, `{"device": {}}`, `{"device": {"id_device": 1}}`, `{"device": {"device_config": 5}}`, `[`} {
		if code, out := e.do(d2, "POST", "/api/device/devices", b); code != 400 || len(out) < 3 {
			t.Errorf("%s: %d %s", b, code, out)
		}
	}
	// A disabled device (3), other kinds and no credential are not authenticated here.
	e.expect(401, e.staticToken("device", 3), "GET", "/api/device/devices", nil)
	e.expect(401, "admin", "GET", "/api/device/devices", nil)
	e.expect(401, "participant1", "GET", "/api/device/devices", nil)
	e.expect(401, e.staticToken("participant", 1), "POST", "/api/device/devices", `{"device": {"device_config": "{}"}}`)
	e.expect(401, "", "GET", "/api/device/devices", nil)
}

// /api/device/participants (test_DeviceQueryParticipants).
func TestDeviceSurfaceParticipants(t *testing.T) {
	e := newEnv(t)
	got := object(t, e.expect(200, e.staticToken("device", 1), "GET", "/api/device/participants", nil))["participants_info"].([]any)
	if len(got) != 2 {
		t.Fatalf("participants of device 1: %v", got)
	}
	p := got[0].(map[string]any)
	if p["participant_name"] != "Participant #1" || p["participant_username"] != "participant1" {
		t.Errorf("participant JSON %v", p)
	}
	if v, has := p["participant_token"]; !has || v != nil {
		t.Errorf("participant_token must be present and null: %v", p)
	}
	if got := object(t, e.expect(200, e.staticToken("device", 2), "GET", "/api/device/participants", nil))["participants_info"].([]any); len(got) != 1 {
		t.Errorf("participants of device 2: %v", got)
	}
	// Not onlineable: 403.
	if _, err := e.db.Exec(context.Background(), "UPDATE core.t_devices SET device_onlineable = false WHERE id_device = 2"); err != nil {
		t.Fatal(err)
	}
	e.expect(403, e.staticToken("device", 2), "GET", "/api/device/participants", nil)
	e.expect(401, "participant1", "GET", "/api/device/participants", nil)
}

// /api/device/sessions (test_DeviceQuerySessions): reads and deletes refused; writes of its
// own sessions with the participant API's rules.
func TestDeviceSurfaceSessions(t *testing.T) {
	e := newEnv(t)
	d1, d2 := e.staticToken("device", 1), e.staticToken("device", 2)
	e.expectEach(403, d1, "GET", "/api/device/sessions", "/api/device/sessions?id_session=9")
	e.expect(403, d1, "DELETE", "/api/device/sessions?id=9", nil)
	p1, p4 := e.uuid("participant", 1), e.uuid("participant", 4)
	body := func(id, typ int, name string, parts ...string) map[string]any {
		return sessionBody(id, typ, name, time.Now().UTC().Format(time.RFC3339), parts...)
	}
	created := object(t, e.expect(200, d1, "POST", "/api/device/sessions", body(0, 2, "Capteur", p1)))
	id := created["id_session"]
	if created["id_creator_device"] != float64(1) || created["session_creator_device"] != "Apple Watch #W05P1" {
		t.Fatalf("created %v", created)
	}
	if again := object(t, e.expect(200, d1, "POST", "/api/device/sessions", body(0, 2, "Capteur", p1))); again["id_session"] != id {
		t.Errorf("deduplication: %v then %v", id, again["id_session"])
	}
	upd := object(t, e.expect(200, d1, "POST", "/api/device/sessions", map[string]any{"session": map[string]any{"id_session": 9, "id_session_type": 1, "session_duration": 60}}))
	if upd["session_duration"] != float64(60) || upd["id_creator_device"] != float64(1) {
		t.Errorf("update of session 9: %v", upd)
	}
	// Device 2 did not create session 9; session 4 (device 2 invited) is not its own either.
	e.expect(403, d2, "POST", "/api/device/sessions", map[string]any{"session": map[string]any{"id_session": 9, "id_session_type": 1, "session_duration": 1}})
	e.expect(403, d2, "POST", "/api/device/sessions", map[string]any{"session": map[string]any{"id_session": 4, "id_session_type": 1, "session_duration": 1}})
	// Participants not linked to the device are refused.
	e.expect(400, d1, "POST", "/api/device/sessions", body(0, 2, "Capteur", p4))
	e.expect(403, d1, "POST", "/api/device/sessions", body(0, 5, "Capteur", p1))
	for _, b := range []string{`{}`, `{"session": {"id_session": 0}}`, `{"session": {"id_session": 0, "id_session_type": 2}}`} {
		e.expect(400, d1, "POST", "/api/device/sessions", b)
	}
	e.expect(401, "participant1", "POST", "/api/device/sessions", body(0, 2, "Capteur", p1))
	e.expect(401, "admin", "DELETE", "/api/device/sessions?id=9", nil)
}

// /api/device/sessions/events (test_DeviceQuerySessionEvents).
func TestDeviceSurfaceSessionEvents(t *testing.T) {
	e := newEnv(t)
	d1, d2 := e.staticToken("device", 1), e.staticToken("device", 2)
	e.calls("GET", "/api/device/sessions/events", call{d1, 400, ""}, call{d1, 403, "?id_session=9"})
	e.expect(403, d1, "DELETE", "/api/device/sessions/events?id=1", nil)
	event := func(session, id int) string {
		return `{"session_event": {"id_session": ` + strconv.Itoa(session) + `, "id_session_event": ` + strconv.Itoa(id) +
			`, "id_session_event_type": 1, "session_event_datetime": "` + time.Now().Format("2006-01-02 15:04:05.000000") + `"}}`
	}
	// Sessions it created (9) or is invited to (17): allowed; others (1, and 4 for device 1): 403.
	for _, s := range []int{9, 17} {
		if ev := e.post(d1, "/api/device/sessions/events", event(s, 0)); ev["id_session"] != float64(s) {
			t.Errorf("event %v", ev)
		}
	}
	e.post(d2, "/api/device/sessions/events", event(4, 0))
	for _, s := range []int{1, 4, 999} {
		e.expect(403, d1, "POST", "/api/device/sessions/events", event(s, 0))
	}
	// Events 1–12 belong to session 1, which device 1 cannot touch, even named with its own session.
	e.expect(403, d1, "POST", "/api/device/sessions/events", event(9, 1))
	sid := scalar[int](e, "SELECT id_session FROM core.t_sessions_events WHERE id_session_event = 1")
	if sid != 1 {
		t.Errorf("event 1 moved to session %d", sid)
	}
	for _, b := range []string{`{}`, `{"session_event": {}}`, `{"session_event": {"id_session": 9}}`} {
		e.expect(400, d1, "POST", "/api/device/sessions/events", b)
	}
	e.expect(401, "participant1", "POST", "/api/device/sessions/events", event(9, 0))
}

// /api/device/assets (test_DeviceQueryAssets).
func TestDeviceSurfaceAssets(t *testing.T) {
	e := newEnv(t)
	d1, d2 := e.staticToken("device", 1), e.staticToken("device", 2)
	// Asset 4 names device 1 but lies in session 3, which device 1 neither created nor joined:
	// hidden (OpenTera lists it, and so the session's id and name).
	e.wantIDs(d1, "/api/device/assets", "id_asset", 5, 6, 7)
	if got := e.list(d1, "/api/device/assets?id_asset=4"); len(got) != 0 {
		t.Errorf("asset 4: %v", got)
	}
	urls := e.list(d1, "/api/device/assets?id_session=9&with_urls=true")
	if len(urls) != 3 || urls[0]["access_token"] == nil || urls[0]["asset_url"] != "https://tera.test/file/api/assets" || urls[0]["asset_name"] == nil {
		t.Errorf("with_urls: %v", urls)
	}
	if only := e.list(d1, "/api/device/assets?id_asset=5&with_only_token=true"); len(only) != 1 || len(only[0]) != 2 || only[0]["access_token"] == nil {
		t.Errorf("with_only_token: %v", only)
	}
	e.wantIDs(d1, "/api/device/assets?id_session=9", "id_asset", 5, 6, 7)
	if got := e.list(d1, "/api/device/assets?id_asset=5"); !eqInts(ids(got, "id_asset"), []int{5}) || got[0]["asset_device"] != "Apple Watch #W05P1" {
		t.Errorf("asset 5: %v", got)
	}
	// Session 3 holds its asset 4, but device 1 did not create it.
	e.expect(403, d1, "GET", "/api/device/assets?id_session=3", nil)
	if got := e.list(d2, "/api/device/assets"); len(got) != 0 {
		t.Errorf("device 2 has no assets: %v", got)
	}
	if got := e.list(d2, "/api/device/assets?id_asset=5"); len(got) != 0 {
		t.Errorf("device 2 read asset 5: %v", got)
	}
	e.expect(403, d2, "GET", "/api/device/assets?id_session=9", nil)
	e.expect(401, "participant1", "GET", "/api/device/assets", nil)
}
