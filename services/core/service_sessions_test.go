package core_test

import (
	"testing"
)

// secretSession adds a session of the Secret Participant (project 3, outside VideoRehab's
// projects) created by the superadmin, and returns its id.
func (e *env) secretSession() int {
	e.t.Helper()
	var id int
	err := e.db.QueryRow(e.t.Context(), `WITH s AS (
		INSERT INTO core.t_sessions (session_uuid, id_session_type, id_creator_user, session_name, session_start_datetime, session_status)
		VALUES (gen_random_uuid()::text, 2, 1, 'Secret session', now(), 0) RETURNING id_session)
		INSERT INTO core.t_sessions_participants (id_session, id_participant) SELECT id_session, 4 FROM s RETURNING id_session`).Scan(&id)
	if err != nil {
		e.t.Fatal(err)
	}
	return id
}

func TestServiceAPISessions(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	secret := e.secretSession()
	e.calls("GET", "/api/service/sessions", call{vr, 400, ""}, call{vr, 400, "?id_participant=1&start_date=yesterday"},
		call{vr, 403, "?id_session=" + itoa(secret)}, call{vr, 403, "?id_participant=4"}, call{vr, 403, "?id_device=3"}, call{vr, 403, "?id_user=99"})
	if got := e.list(ft, "/api/service/sessions?id_session="+itoa(secret)); len(got) != 1 {
		t.Errorf("FileTransfer on the secret session: %v", got)
	}
	got := e.list(vr, "/api/service/sessions?id_session=25&with_session_type=true&with_events=true")
	if len(got) != 1 || got[0]["id_creator_service"] != 6.0 || got[0]["session_participants"] == nil {
		t.Fatalf("session 25: %v", got)
	}
	if ev, _ := got[0]["session_events"].([]any); ev == nil {
		t.Errorf("with_events: %v", got[0])
	}
	ses := e.list(vr, "/api/service/sessions?id_session=2&with_events=true")
	if ev, _ := ses[0]["session_events"].([]any); len(ev) != 12 {
		t.Errorf("session 2 events: %d", len(ev))
	}
	uuid := e.uuid("session", 26)
	e.wantIDs(vr, "/api/service/sessions?uuid_session="+uuid, "id_session", 26)
	// By participant: its sessions (the Secret Participant's session is not among them).
	all := e.list(vr, "/api/service/sessions?id_participant=1&list=true")
	if len(all) != 28 || all[0]["session_participants"] != nil {
		t.Errorf("participant 1: %d sessions, first %v", len(all), all[0])
	}
	if got := e.list(vr, "/api/service/sessions?id_participant=1&limit=2&offset=1"); len(got) != 2 {
		t.Errorf("limit/offset: %d", len(got))
	}
	// By user: only the sessions of the service's scope.
	if got := e.list(vr, "/api/service/sessions?id_user=1"); len(got) != 8 { // sessions 1–8
		t.Errorf("superadmin's sessions for VideoRehab: %d", len(got))
	}
	if got := e.list(ft, "/api/service/sessions?id_user=1"); len(got) != 9 { // and the secret one
		t.Errorf("superadmin's sessions for FileTransfer: %d", len(got))
	}
}

func TestServiceAPISessionEvents(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	secret := e.secretSession()
	e.expect(400, vr, "GET", "/api/service/sessions/events", nil)
	if got := e.list(vr, "/api/service/sessions/events?id_session=1"); len(got) != 12 {
		t.Errorf("session 1 events: %d", len(got))
	}
	if got := e.list(vr, "/api/service/sessions/events?id_session="+itoa(secret)); len(got) != 0 {
		t.Errorf("secret session events: %v", got)
	}
	e.expect(400, vr, "POST", "/api/service/sessions/events", map[string]any{})
	e.expect(400, vr, "POST", "/api/service/sessions/events", map[string]any{"session_event": map[string]any{"id_session": 1}})
	e.expect(403, vr, "POST", "/api/service/sessions/events", map[string]any{"session_event": map[string]any{"id_session": secret,
		"id_session_event": 0, "id_session_event_type": 1, "session_event_datetime": "2024-01-01T10:00:00"}})
	ev := e.post(vr, "/api/service/sessions/events", map[string]any{"session_event": map[string]any{"id_session": 25,
		"id_session_event": 0, "id_session_event_type": 3, "session_event_datetime": "2024-01-01T10:00:00", "session_event_text": "from service"}})
	id := int(ev["id_session_event"].(float64))
	if ev["session_event_text"] != "from service" {
		t.Errorf("created event: %v", ev)
	}
	e.expect(400, vr, "DELETE", "/api/service/sessions/events", nil)
	e.expect(200, vr, "DELETE", "/api/service/sessions/events?id="+itoa(id), nil)
}

func TestServiceAPISessionTypes(t *testing.T) {
	e := newEnv(t)
	vr, ft := e.svc("VideoRehabService"), e.svc("FileTransferService")
	e.lists("/api/service/sessiontypes", "id_session_type", []listCase{
		{vr, "", []int{1}},
		{ft, "", []int{3, 5}}, // by name: "Collecte données" (secondary service), "FileTransfer"
		{vr, "id_site=1", []int{1}},
		{vr, "id_site=2", []int{}},
		{vr, "id_project=1", []int{1}},
		{vr, "id_project=2", []int{}},
		{ft, "id_project=2", []int{5}},
		{vr, "id_participant=1", []int{1}},
		{vr, "id_participant=4", []int{}},
		{vr, "id_session_type=1", []int{1}},
		{vr, "id_session_type=2", []int{}},
	})
	st := e.list(vr, "/api/service/sessiontypes")[0]
	if st["session_type_service_key"] != "VideoRehabService" || st["session_type_online"] != true {
		t.Errorf("session type 1: %v", st)
	}

	e.expect(400, vr, "GET", "/api/service/sessiontypes/projects", nil)
	links := e.list(vr, "/api/service/sessiontypes/projects?id_project=1&with_sites=true")
	if !eqInts(ids(links, "id_session_type"), []int{1}) || links[0]["project_name"] != "Default Project #1" || links[0]["site_name"] != "Default Site" {
		t.Errorf("links of project 1: %v", links)
	}
	if got := e.list(vr, "/api/service/sessiontypes/projects?id_session_type=5"); len(got) != 0 {
		t.Errorf("another service's type: %v", got)
	}
	if got := e.list(ft, "/api/service/sessiontypes/projects?id_session_type=5"); !eqInts(ids(got, "id_project"), []int{2}) || got[0]["site_name"] != nil {
		t.Errorf("type 5 for FileTransfer: %v", got)
	}
}

func TestServiceAPIServices(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	e.expect(400, vr, "GET", "/api/service/services", nil)
	got := e.list(vr, "/api/service/services?service_key=FileTransferService")
	if len(got) != 1 || got[0]["id_service"] != 3.0 || got[0]["service_roles"] != nil {
		t.Errorf("by key: %v", got)
	}
	e.wantIDs(vr, "/api/service/services?id_service=2", "id_service", 2)
	if got := e.list(vr, "/api/service/services?service_key=nope"); len(got) != 0 {
		t.Errorf("unknown key: %v", got)
	}
}

func TestServiceAPIPostSession(t *testing.T) {
	e := newEnv(t)
	vr := e.svc("VideoRehabService")
	p1, p4, user4, admin := e.uuid("participant", 1), e.uuid("participant", 4), e.uuid("user", 6), e.uuid("user", 1)
	post := func(want int, s map[string]any) []byte {
		t.Helper()
		return e.expect(want, vr, "POST", "/api/service/sessions", map[string]any{"session": s})
	}
	e.expect(400, vr, "POST", "/api/service/sessions", map[string]any{})
	post(400, map[string]any{"id_session_type": 1})
	post(400, map[string]any{"id_session": 0, "session_participants_uuids": []string{p1}})
	post(400, map[string]any{"id_session": 0, "id_session_type": 1, "session_participants_uuids": "x"})
	post(403, map[string]any{"id_session": 0, "id_session_type": 1, "session_participants_uuids": []string{p4}})
	post(403, map[string]any{"id_session": 0, "id_session_type": 1, "session_participants_uuids": []string{p1}, "session_users_uuids": []string{user4}})
	post(403, map[string]any{"id_session": 0, "id_session_type": 1, "session_devices_uuids": []string{"nope"}, "session_participants_uuids": []string{p1}})
	post(403, map[string]any{"id_session": 0, "id_session_type": 2, "session_participants_uuids": []string{p1}}) // not its type
	s := e.post(vr, "/api/service/sessions", map[string]any{"session": map[string]any{"id_session": 0, "id_session_type": 1,
		"session_participants_uuids": []string{p1}, "session_users_uuids": []string{admin}}})
	if s["id_creator_service"] != 6.0 || s["session_status"] != 1.0 || s["session_name"] == nil || len(s["session_participants"].([]any)) != 1 ||
		len(s["session_users"].([]any)) != 1 {
		t.Errorf("created session: %v", s)
	}
	id := int(s["id_session"].(float64))
	s = e.post(vr, "/api/service/sessions", map[string]any{"session": map[string]any{"id_session": id, "session_name": "Renamed", "session_status": 2}})
	if s["session_name"] != "Renamed" || s["session_status"] != 2.0 {
		t.Errorf("updated session: %v", s)
	}
	secret := e.secretSession()
	post(403, map[string]any{"id_session": secret, "session_name": "x"})
	if e.outboxCount("session", 1) == 0 {
		t.Error("no DatabaseEvent for the created session")
	}
}
