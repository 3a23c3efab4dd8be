package videorehab_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/tera-health/tera/pkg/servicekit"
)

// /api/user/sessions/manager and /api/service/sessions/manager refuse what OpenTera refuses
// (400 naming the problem), what the caller may not see (403), what no service manages (501).
func TestManagerRefusals(t *testing.T) {
	e := newEnv(t, "core,usermanager,videorehab")
	f := e.ids()
	live := started(t, e.manage(admin, map[string]any{"action": "start", "id_session_type": 1, "session_participants": []string{f.part1}}))
	id := live["id_session"]
	const userPath, svcPath = "/api/user/sessions/manager", "/api/service/sessions/manager"
	vr, bureau := e.serviceToken("VideoRehabService"), e.serviceToken("BureauActif")
	for _, c := range []struct {
		who, path, body string
		want            int
		msg             string
	}{
		{"", userPath, `{"session_manage": {"action": "start"}}`, 401, ""},
		{"", svcPath, `{"session_manage": {"action": "start"}}`, 401, ""},
		{admin, svcPath, `{"session_manage": {"action": "start"}}`, 401, ""},
		{vr, userPath, `{"session_manage": {"action": "start"}}`, 401, ""},
		{admin, userPath, `{}`, 400, "Missing session_manage"},
		{vr, svcPath, `{}`, 400, "Missing session_manage"},
		{admin, userPath, `{"session_manage_invalid": {"action": "start", "id_session_type": 1}}`, 400, "Missing session_manage"},
		{admin, userPath, `{"session_manage": {"id_session_type": 1}}`, 400, "Missing action"},
		{vr, svcPath, `{"session_manage": {"id_session": 0, "id_session_type": 1, "parameters": ""}}`, 400, "Missing action"},
		{admin, userPath, `{"session_manage": {"action": "fly", "id_session_type": 1}}`, 400, "Invalid action: fly"},
		{admin, userPath, `{"session_manage": {"action": "start", "session_uuid": "invalid"}}`, 400, "Invalid session"},
		{vr, svcPath, `{"session_manage": {"action": "start", "session_uuid": "invalid", "id_service": 0}}`, 400, "Invalid session"},
		{admin, userPath, `{"session_manage": {"action": "start"}}`, 400, "Missing required id_session_type for new sessions"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session": 0, "id_session_type": 0}}`, 400, "Missing required id_session_type for new sessions"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": 999}}`, 400, "Invalid session type"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session": -1}}`, 400, "Invalid session"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": "video"}}`, 400, ""},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "session_users": [1]}}`, 400, "Invalid uuid in session_users"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "session_devices": "all"}}`, 400, ""},
		{admin, userPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `}}`, 400, "Missing parameters"},
		{admin, userPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `, "parameters": {}}}`, 400, "Missing reply code in parameters"},
		{admin, userPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `, "parameters": {"reply_code": "maybe"}}}`, 400, "Invalid reply code"},
		{admin, userPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `, "parameters": {"reply_code": 0}}}`, 400, "Invalid reply code"},
		{admin, userPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `, "parameters": {"reply_code": 5}}}`, 400, "Invalid reply code"},
		{admin, userPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `, "parameters": {"reply_code": 1.5}}}`, 400, "Invalid reply code"},
		{vr, svcPath, `{"session_manage": {"action": "invite_reply", "id_session": ` + num(id) + `, "parameters": {"reply_code": true}}}`, 400, "Invalid reply code"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "id_service": 999}}`, 200, ""}, // the type's service wins
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": 2, "id_service": 999}}`, 400, "Service not found"},
		{admin, userPath, `{"session_manage": {"action": "start", "id_session_type": 2}}`, 501, "Not implemented yet"},
		{e.serviceToken("FileTransferService"), svcPath, `{"session_manage": {"action": "start", "id_session_type": 3}}`, 501, "Not implemented yet"},
		// 403: what the caller does not see.
		{"basic:user4:user4", userPath, `{"session_manage": {"action": "start", "id_session_type": 1}}`, 403, "No access to session type"},
		{"basic:user4:user4", userPath, `{"session_manage": {"action": "stop", "id_session": ` + num(id) + `}}`, 403, "User doesn't have access to that session"},
		{"basic:user4:user4", userPath, `{"session_manage": {"action": "stop", "session_uuid": "` + live["session_uuid"].(string) + `"}}`, 403, "User doesn't have access to that session"},
		{user, userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "session_participants": ["` + f.part4 + `"]}}`, 403,
			"User doesn't have access to at least one participant of that session."},
		{user, userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "session_participants": ["no-such-participant"]}}`, 403,
			"User doesn't have access to at least one participant of that session."},
		{"basic:user3:user3", userPath, `{"session_manage": {"action": "invite", "id_session": ` + num(id) + `, "session_devices": ["` +
			e.scalar(`SELECT device_uuid FROM core.t_devices WHERE id_device = 3`) + `"]}}`, 403, "User doesn't have access to at least one device of that session."},
		{"basic:user3:user3", userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "id_creator_user": 6}}`, 403, "No access to session creator"},
		{"basic:siteadmin:siteadmin", userPath, `{"session_manage": {"action": "invite", "id_session": ` + num(id) + `, "session_participants": ["` + f.part4 + `"]}}`, 403,
			"User doesn't have access to at least one participant of that session."},
		{"basic:siteadmin:siteadmin", userPath, `{"session_manage": {"action": "start", "id_session_type": 1, "session_users": ["` + f.user3 + `"]}}`, 200, ""},
		{bureau, svcPath, `{"session_manage": {"action": "stop", "id_session": ` + num(id) + `}}`, 403, "Service doesn't have access to that session"},
		{vr, svcPath, `{"session_manage": {"action": "invite", "id_session": ` + num(id) + `, "session_participants": ["` + f.part4 + `"]}}`, 403,
			"Service doesn't have access to at least one participant of that session."},
		{bureau, svcPath, `{"session_manage": {"action": "start", "id_session_type": 1}}`, 403, "No access to session type"},
	} {
		st, body := e.do(c.who, http.MethodPost, c.path, c.body)
		if st != c.want || (c.msg != "" && strings.TrimSpace(string(body)) != `"`+c.msg+`"`) {
			t.Errorf("%s %s as %q: %d %s, want %d %q", c.path, c.body, c.who, st, body, c.want, c.msg)
		}
	}
	for _, m := range []string{http.MethodGet, http.MethodDelete, http.MethodPut} {
		if st, _ := e.do(admin, m, userPath, nil); st != 405 {
			t.Errorf("%s %s: %d, want 405", m, userPath, st)
		}
	}
	// An action on a session that is not live is the service's error, answered 200 as OpenTera.
	ended := e.scalar(`SELECT min(id_session)::text FROM core.t_sessions s JOIN core.t_sessions_types st USING (id_session_type)
		WHERE st.id_service = 6 AND s.id_session <> $1`, int(id.(float64)))
	for _, action := range []string{"stop", "invite", "remove"} {
		if a := e.manage(admin, map[string]any{"action": action, "id_session": json.Number(ended)}); a["status"] != "error" || a["error_text"] != "No matching session" {
			t.Errorf("%s on a session that is not live: %v", action, a)
		}
	}
	// A session of another service's type is refused by videorehab.
	other := e.scalar(`SELECT min(id_session)::text FROM core.t_sessions s JOIN core.t_sessions_types st USING (id_session_type) WHERE st.id_service IS NULL`)
	if a := e.manage(admin, map[string]any{"action": "start", "id_session": json.Number(other), "id_service": 6}); a["status"] != "error" {
		t.Errorf("start of a session of another type: %v", a)
	}
	// A service starting a session without a creator is its creator.
	s := started(t, e.manageSvc(vr, map[string]any{"action": "start", "id_session_type": 1, "session_participants": []string{f.part2},
		"id_creator_user": 0, "id_creator_participant": 0, "id_creator_device": 0, "id_creator_service": 0, "session_users": []string{},
		"session_devices": []string{}, "parameters": ""}))
	if s["id_creator_service"] != 6.0 || s["session_creator_uuid"] != e.scalar(`SELECT service_uuid FROM core.t_services WHERE id_service = 6`) ||
		!slices.Equal(strs(s["session_participants"]), []string{f.part2}) || s["session_parameters"] != nil {
		t.Errorf("service's session: %v", s)
	}
}

func num(v any) string { b, _ := json.Marshal(v); return string(b) }

// The session type's service answers, whatever it is: an external service serving
// session_manage (pkg/servicekit) gets the request as OpenTera completes it; no service
// running is 503.
func TestManagerForwardsToTheTypesService(t *testing.T) {
	e := newEnv(t, "core")
	f := e.ids()
	ctx := context.Background()
	if _, err := e.db.Exec(ctx, `
		INSERT INTO core.t_services (id_service, service_uuid, service_name, service_key, service_hostname, service_port, service_endpoint,
		  service_clientendpoint, service_enabled) VALUES (100, gen_random_uuid()::text, 'Exergames', 'Exergames', 'exergames', 8080, '/', '/exergames', true);
		INSERT INTO core.t_services_sites (id_service, id_site) VALUES (100, 1);
		INSERT INTO core.t_services_projects (id_service, id_project) VALUES (100, 1);
		INSERT INTO core.t_sessions_types (id_session_type, id_service, session_type_name, session_type_online, session_type_color, session_type_category)
		  VALUES (100, 100, 'Exergame', true, '#123456', 1);
		INSERT INTO core.t_sessions_types_sites (id_session_type, id_site) VALUES (100, 1);
		INSERT INTO core.t_sessions_types_projects (id_session_type, id_project) VALUES (100, 1);
		INSERT INTO core.t_services (id_service, service_uuid, service_name, service_key, service_hostname, service_port, service_endpoint,
		  service_clientendpoint, service_enabled) VALUES (101, gen_random_uuid()::text, 'Slow', 'Slow', 'slow', 8080, '/', '/slow', true);
		INSERT INTO core.t_services_sites (id_service, id_site) VALUES (101, 1);
		INSERT INTO core.t_services_projects (id_service, id_project) VALUES (101, 1);
		INSERT INTO core.t_sessions_types (id_session_type, id_service, session_type_name, session_type_online, session_type_color, session_type_category)
		  VALUES (101, 101, 'Slow', true, '#123456', 1);
		INSERT INTO core.t_sessions_types_sites (id_session_type, id_site) VALUES (101, 1);
		INSERT INTO core.t_sessions_types_projects (id_session_type, id_project) VALUES (101, 1);`); err != nil {
		t.Fatal(err)
	}
	body := `{"session_manage": {"action": "start", "id_session_type": 100, "session_participants": ["` + f.part1 + `"], "parameters": {"level": 2}}}`
	if st, out := e.do(admin, http.MethodPost, "/api/user/sessions/manager", body); st != 503 || strings.TrimSpace(string(out)) != `"Service Exergames is not running"` {
		t.Fatalf("no service running: %d %s", st, out)
	}
	if st, out := e.do(admin, http.MethodPost, "/api/user/sessions/manager", `{"session_manage": {"action": "start", "id_session_type": 1}}`); st != 503 {
		t.Fatalf("videorehab not running: %d %s", st, out)
	}
	got := make(chan json.RawMessage, 1)
	svc, err := servicekit.ServeRPC(e.nc, "Exergames", "1.0.0", map[string]servicekit.RPCHandler{
		servicekit.MethodSessionManage: func(ctx context.Context, req json.RawMessage) (any, error) {
			got <- req
			return map[string]any{"status": "started", "session": map[string]any{"id_session": 42}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Stop() }()
	st, out := e.do(admin, http.MethodPost, "/api/user/sessions/manager", body)
	var ans map[string]any
	if st != 200 || json.Unmarshal(out, &ans) != nil || ans["status"] != "started" || ans["session"].(map[string]any)["id_session"] != 42.0 || len(ans) != 2 {
		t.Fatalf("answer: %d %s", st, out)
	}
	var req struct {
		SessionManage map[string]any `json:"session_manage"`
	}
	if err := json.Unmarshal(<-got, &req); err != nil {
		t.Fatal(err)
	}
	want := `{"action":"start","id_creator_user":1,"id_service":100,"id_session":0,"id_session_type":100,"parameters":{"level":2},"session_participants":["` + f.part1 + `"]}`
	if b, _ := json.Marshal(req.SessionManage); string(b) != want {
		t.Fatalf("forwarded %s, want %s", b, want)
	}
	// invite_reply from the user API carries the caller as the one who replies.
	e.do(admin, http.MethodPost, "/api/user/sessions/manager", `{"session_manage": {"action": "invite_reply", "id_session_type": 100,
		"parameters": {"reply_code": "busy", "reply_msg": "later"}}}`)
	if err := json.Unmarshal(<-got, &req); err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(req.SessionManage["parameters"]); string(b) != `{"reply_code":3,"reply_msg":"later","user_uuid":"`+f.admin+`"}` {
		t.Fatalf("forwarded parameters %s", b)
	}
	// A service that takes the request and never answers: 504 after OpenTera's 10 s.
	sub, err := e.nc.Subscribe(servicekit.RPCSubject("Slow", servicekit.MethodSessionManage), func(*nats.Msg) {})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = e.nc.Flush()
	if st, out := e.do(admin, http.MethodPost, "/api/user/sessions/manager", `{"session_manage": {"action": "start", "id_session_type": 101}}`); st != 504 ||
		strings.TrimSpace(string(out)) != `"No answer from service."` {
		t.Fatalf("no answer: %d %s", st, out)
	}
}
