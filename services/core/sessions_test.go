package core_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "github.com/tera-health/tera/pkg/api/tera/core/v1"
	"github.com/tera-health/tera/services/internal/store"
)

// dbDate is a date N days ago in the database's time zone, as the date filters compare.
func (e *env) dbDate(daysAgo int) string {
	e.t.Helper()
	return scalar[string](e, "SELECT ((now() - make_interval(days => $1))::date)::text", daysAgo)
}

func TestSessionsGetSelectors(t *testing.T) {
	e := newEnv(t)
	e.expect(400, "admin", "GET", "/api/user/sessions", nil)
	e.expect(400, "admin", "GET", "/api/user/sessions?status=0", nil) // falsy values count as absent, as OpenTera
	e.calls("GET", "/api/user/sessions", call{"admin", 400, "?id_participant=x"}, call{"admin", 400, "?id_participant=1&start_date=yesterday"},
		call{"admin", 400, "?id_participant=1&end_date=2026-13-01"}, call{"admin", 400, "?id_participant=1&limit=-1"}, call{"", 401, "?id_session=1"})

	n := func(who, q string) int { return len(e.list(who, "/api/user/sessions?"+q)) }
	cases := []struct {
		who, q string
		want   int
	}{
		{"admin", "id_participant=1", 28},
		{"admin", "id_participant=1&status=0", 12},
		{"admin", "id_participant=1&limit=2", 2},
		{"admin", "id_participant=1&limit=2&offset=27", 1},
		{"admin", "id_participant=1&list=1&limit=2&offset=11&status=0", 1},
		{"admin", "id_participant=2", 3},
		{"admin", "id_user=1", 8},
		{"admin", "id_user=1&status=0", 3},
		{"admin", "id_user=1&limit=2&offset=7", 1},
		{"admin", "id_user=3", 5},
		{"admin", "id_device=1", 12},
		{"admin", "id_device=1&status=0", 6},
		{"admin", "id_device=1&limit=2&offset=11", 1},
		{"admin", "id_device=2", 1},
		{"admin", "id_session=-1", 0},
		{"admin", "id_session=999", 0},
		{"admin", "list=true", 0}, // a flag without a selector: nothing
		{"siteadmin", "id_participant=1", 28},
		{"user", "id_participant=1", 28},
		{"user3", "id_participant=1", 28},
		{"user4", "id_participant=1", 0},
		{"user4", "id_session=1", 0},
		{"user", "id_session=5", 1},
		{"user4", "id_user=1", 0},
		{"user3", "id_user=5", 4},
		{"user", "id_user=1", 0}, // the superadmin is not among user's users
		{"user4", "id_device=1", 0},
		{"user", "id_device=1", 12},
	}
	for _, c := range cases {
		if got := n(c.who, c.q); got != c.want {
			t.Errorf("%s ?%s: %d sessions, want %d", c.who, c.q, got, c.want)
		}
	}
	// Dates compare with the start's day: sessions 1–24 start 0–7 days ago, 25–28 0–3 days ago.
	for _, c := range []struct {
		q    string
		want int
	}{
		{"start_date=" + e.dbDate(6) + "&end_date=" + e.dbDate(4), 9},
		{"start_date=" + e.dbDate(3), 16},
		{"end_date=" + e.dbDate(5), 9},
	} {
		if got := n("admin", "id_participant=1&"+c.q); got != c.want {
			t.Errorf("id_participant=1&%s: %d, want %d", c.q, got, c.want)
		}
	}
	// Newest first, id descending among equal starts.
	l := e.list("admin", "/api/user/sessions?id_device=1&limit=3")
	if got := ids(l, "id_session"); !eqInts(got, []int{17, 9, 18}) {
		t.Errorf("order: %v", got)
	}
	// session_uuid, last in the selector order.
	uuid := e.uuid("session", 3)
	e.wantIDs("user", "/api/user/sessions?session_uuid="+uuid, "id_session", 3)
	e.wantIDs("admin", "/api/user/sessions?id_session=4&session_uuid="+uuid, "id_session", 4)
	if got := e.list("user4", "/api/user/sessions?session_uuid="+uuid); len(got) != 0 {
		t.Errorf("user4 by uuid: %v", got)
	}
}

func TestSessionsGetForms(t *testing.T) {
	e := newEnv(t)
	g := e.one("admin", "/api/user/sessions?id_session=2")
	want := map[string]any{"id_session": 2.0, "id_session_type": 2.0, "id_creator_user": 1.0, "id_creator_participant": 1.0,
		"id_creator_service": 6.0, "id_creator_device": nil, "session_name": "Séance #2", "session_duration": 120.0,
		"session_status": 0.0, "session_comments": nil, "session_parameters": nil, "session_creator_user": "Super Admin",
		"session_creator_participant": "Participant #1", "session_creator_service": "Télé-réadaptation vidéo",
		"session_assets_count": 3.0, "session_tests_count": 3.0}
	for k, v := range want {
		if got, ok := g[k]; !ok || got != v {
			t.Errorf("session 2 %s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	for _, k := range []string{"session_uuid", "session_start_datetime", "session_creator_user_uuid", "session_creator_participant_uuid", "session_creator_service_uuid"} {
		if s, _ := g[k].(string); s == "" {
			t.Errorf("session 2 %s = %v", k, g[k])
		}
	}
	for _, k := range []string{"session_creator_device", "session_creator_device_uuid", "session_type_name"} {
		if _, ok := g[k]; ok {
			t.Errorf("session 2 has %s", k)
		}
	}
	parts := g["session_participants"].([]any)
	p := parts[0].(map[string]any)
	if len(parts) != 1 || p["id_participant"] != 1.0 || p["participant_name"] != "Participant #1" || p["project_name"] != "Default Project #1" ||
		p["id_project"] != 1.0 || p["participant_uuid"] == "" || len(p) != 5 {
		t.Errorf("session_participants %v", parts)
	}
	users := g["session_users"].([]any)
	if len(users) != 2 || users[1].(map[string]any)["user_name"] != "Site Admin" {
		t.Errorf("session_users %v", users)
	}
	if d := e.list("admin", "/api/user/sessions?id_session=4")[0]["session_devices"].([]any); len(d) != 1 || d[0].(map[string]any)["device_name"] != "Kit Télé #1" {
		t.Errorf("session 4 devices %v", d)
	}
	// list: no comments, parameters or invitees; creators and counts stay.
	m := e.list("admin", "/api/user/sessions?id_session=2&list=true")[0]
	for _, k := range []string{"session_comments", "session_parameters", "session_participants", "session_users", "session_devices"} {
		if _, ok := m[k]; ok {
			t.Errorf("list form has %s", k)
		}
	}
	if m["session_creator_user"] != "Super Admin" || m["session_assets_count"] != 3.0 {
		t.Errorf("list form %v", m)
	}
	w := e.list("user", "/api/user/sessions?id_session=1&with_session_type=true")[0]
	if w["session_type_name"] != "Suivi vidéo" || w["session_type_color"] != "#00FF00" {
		t.Errorf("with_session_type %v", w)
	}
}

func TestSessionsWrite(t *testing.T) {
	e := newEnv(t)
	count := func() int { return scalar[int](e, "SELECT count(*) FROM core.t_sessions") }
	base := []any{"session_name", "Test Session", "session_start_datetime", "2026-12-01 10:00:00.000000", "id_session_type", 1, "session_status", 2}
	with := func(kv ...any) map[string]any { return wrap("session", append(append([]any{}, base...), kv...)...) }
	e.expect(400, "admin", "POST", "/api/user/sessions", `{}`)
	e.expect(400, "admin", "POST", "/api/user/sessions", with())                // no id_session
	e.expect(400, "admin", "POST", "/api/user/sessions", with("id_session", 0)) // no invitees
	e.expectPosts(400, "admin", "/api/user/sessions",
		with("id_session", 0, "session_participants_ids", []any{"one"}),
		with("id_session", 0, "session_participants_ids", []any{1.5}),
		with("id_session", 0, "session_users_ids", []int{1}, "session_status", 9),
		with("id_session", 0, "session_users_ids", []int{1}, "session_start_datetime", "tomorrow"),
		with("id_session", 0, "session_users_ids", []int{1}, "session_name", " "),
		`{"session": {"id_session": 0, "session_users_ids": [1], "id_session_type": 1}}`,
		`{"session": {"id_session": "x"}}`,
		`{"session": {"id_session": 0, "session_users_ids": [1], "session_name": "`+strings.Repeat("x", 9<<20)+`", "id_session_type": 1}}`,
	)
	e.expect(403, "admin", "POST", "/api/user/sessions", with("id_session", 0, "session_users_ids", []int{1}, "id_session_type", 99))
	e.expect(403, "user4", "POST", "/api/user/sessions", with("id_session", 0, "session_participants_ids", []int{1, 2}))
	// Invitees the caller cannot see: participant 4 (project 3), user 1 (a superadmin), device 3 (no site).
	before := count()
	e.expectPosts(403, "user", "/api/user/sessions",
		with("id_session", 0, "session_participants_ids", []int{1, 4}),
		with("id_session", 0, "session_participants_ids", []int{1}, "session_users_ids", []int{3, 1}),
		with("id_session", 0, "session_participants_ids", []int{1}, "session_devices_ids", []int{3}),
		with("id_session", 0, "session_participants_ids", []int{1}, "id_creator_user", 1),
	)
	if count() != before {
		t.Fatal("a refused POST wrote a session")
	}

	created := e.events("session", 1)
	s := e.post("user", "/api/user/sessions", with("id_session", 0, "session_participants_ids", []int{1, 2}, "session_users_ids", []int{3}))
	id := int(s["id_session"].(float64))
	if s["id_creator_user"] != 3.0 || s["session_creator_user"] != "Site User" || s["session_status"] != 2.0 ||
		s["session_start_datetime"] != "2026-12-01T10:00:00+00:00" || len(s["session_participants"].([]any)) != 2 ||
		len(s["session_users"].([]any)) != 1 || len(s["session_devices"].([]any)) != 0 || s["session_duration"] != 0.0 {
		t.Errorf("created %v", s)
	}
	created(1)
	// Defaults: in progress, starting now.
	d := e.post("admin", "/api/user/sessions", `{"session": {"id_session": 0, "session_users_ids": [1], "id_session_type": 2, "session_name": "Now"}}`)
	if d["session_status"] != 1.0 || !strings.HasPrefix(d["session_start_datetime"].(string), time.Now().UTC().Format("2006-01-02")) {
		t.Errorf("defaults %v", d)
	}

	e.expect(403, "user4", "POST", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": id, "session_name": "x"}})
	e.expect(403, "user", "POST", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": 999, "session_name": "x"}})
	u := e.post("user", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": id, "session_status": 3, "session_name": "Test Session 2",
		"session_participants_ids": []int{2, 3}, "session_parameters": "ParametersXYZJSONString", "session_comments": "c"}})
	if u["session_name"] != "Test Session 2" || u["session_status"] != 3.0 || u["session_parameters"] != "ParametersXYZJSONString" ||
		u["session_comments"] != "c" || !eqInts(ids(anyMaps(u["session_participants"]), "id_participant"), []int{2, 3}) ||
		len(u["session_users"].([]any)) != 1 {
		t.Errorf("updated %v", u)
	}
	o := e.post("user", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": id, "session_parameters": map[string]any{"a": 1}}})
	if p, _ := o["session_parameters"].(map[string]any); p["a"] != 1.0 {
		t.Errorf("parameters object %v", o["session_parameters"])
	}

	// Delete: every invitee visible, not in progress.
	e.calls("DELETE", "/api/user/sessions", call{"admin", 400, ""}, call{"admin", 403, "?id=999"}, call{"user4", 403, "?id=" + itoa(id)})
	e.expect(403, "admin", "DELETE", "/api/user/sessions?id=4", nil) // in progress
	deleted := e.events("session", 3)
	e.expect(200, "user", "DELETE", "/api/user/sessions?id="+itoa(id), nil)
	if got := e.list("admin", "/api/user/sessions?id_session="+itoa(id)); len(got) != 0 {
		t.Errorf("after delete: %v", got)
	}
	deleted(1)
	// A session with an invitee user the caller does not see (user 1 in session 1) stays.
	e.expect(403, "user3", "DELETE", "/api/user/sessions?id=1", nil)
}

func anyMaps(v any) []map[string]any {
	out := []map[string]any{}
	for _, x := range v.([]any) {
		out = append(out, x.(map[string]any))
	}
	return out
}

// Part 1 deletions OpenTera refuses while sessions exist.
func TestDeletionsRefusedWithSessions(t *testing.T) {
	e := newEnv(t)
	site := int(e.post("admin", "/api/user/sites", map[string]any{"site": map[string]any{"id_site": 0, "site_name": "S"}})["id_site"].(float64))
	project := int(e.post("admin", "/api/user/projects", map[string]any{"project": map[string]any{"id_project": 0, "id_site": site, "project_name": "P"}})["id_project"].(float64))
	group := int(e.post("admin", "/api/user/groups", map[string]any{"participant_group": map[string]any{"id_participant_group": 0, "id_project": project, "participant_group_name": "G"}})["id_participant_group"].(float64))
	part := int(e.post("admin", "/api/user/participants", map[string]any{"participant": map[string]any{"id_participant": 0, "id_project": project,
		"id_participant_group": group, "participant_name": "X"}})["id_participant"].(float64))
	ses := int(e.post("admin", "/api/user/sessions", map[string]any{"session": map[string]any{"id_session": 0, "id_session_type": 2,
		"session_name": "S", "session_status": 2, "session_participants_ids": []int{part}}})["id_session"].(float64))
	for _, p := range []string{"participants?id=" + itoa(part), "groups?id=" + itoa(group), "projects?id=" + itoa(project), "sites?id=" + itoa(site)} {
		e.expect(500, "admin", "DELETE", "/api/user/"+p, nil)
	}
	e.wantIDs("admin", "/api/user/participants?id_project="+itoa(project), "id_participant", part)
	e.expect(200, "admin", "DELETE", "/api/user/sessions?id="+itoa(ses), nil)
	e.expect(200, "admin", "DELETE", "/api/user/sites?id="+itoa(site), nil)
}

func TestSessionEvents(t *testing.T) {
	e := newEnv(t)
	e.expect(400, "admin", "GET", "/api/user/sessions/events", nil)
	ev := e.list("user", "/api/user/sessions/events?id_session=1")
	if got := ids(ev, "id_session_event"); !eqInts(got, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}) {
		t.Errorf("events of session 1: %v", got)
	}
	if ev[1]["id_session_event_type"] != 1.0 || ev[1]["session_event_text"] != "SessionEventTypes.GENERAL_INFO" ||
		ev[1]["session_event_context"] != "Défaut" || ev[1]["id_session"] != 1.0 || len(ev[1]) != 6 {
		t.Errorf("event 2: %v", ev[1])
	}
	if got := e.list("user4", "/api/user/sessions/events?id_session=1"); len(got) != 0 {
		t.Errorf("user4 sees %v", got)
	}

	body := func(kv ...any) map[string]any { return wrap("session_event", kv...) }
	e.expectPosts(400, "admin", "/api/user/sessions/events",
		`{}`,
		body("id_session", 1),
		body("id_session", 1, "id_session_event", 0, "id_session_event_type", 50, "session_event_datetime", "2026-12-01T10:00:00Z"),
		body("id_session", 1, "id_session_event", 0, "id_session_event_type", 1, "session_event_datetime", "noon"),
		body("id_session", 1, "id_session_event", 0, "id_session_event_type", 1),
	)
	e.expect(403, "user4", "POST", "/api/user/sessions/events", body("id_session", 1, "id_session_event", 0, "id_session_event_type", 1, "session_event_datetime", "2026-12-01T10:00:00Z"))
	c := e.post("user", "/api/user/sessions/events", body("id_session", 1, "id_session_event", 0, "id_session_event_type", 104,
		"session_event_datetime", "2026-12-01T10:00:00.5+01:00", "session_event_text", "t"))
	id := int(c["id_session_event"].(float64))
	if c["session_event_datetime"] != "2026-12-01T09:00:00.500000+00:00" || c["session_event_context"] != nil || c["id_session_event_type"] != 104.0 {
		t.Errorf("created %v", c)
	}
	u := e.post("user", "/api/user/sessions/events", body("id_session", 1, "id_session_event", id, "session_event_context", "ctx"))
	if u["session_event_context"] != "ctx" || u["session_event_text"] != "t" {
		t.Errorf("updated %v", u)
	}
	// Moving an event needs both sessions; user4 sees neither.
	e.expect(403, "user4", "POST", "/api/user/sessions/events", body("id_session", 1, "id_session_event", id, "session_event_text", "x"))
	e.expect(400, "user", "POST", "/api/user/sessions/events", body("id_session", 1, "id_session_event", 999, "session_event_text", "x"))
	e.calls("DELETE", "/api/user/sessions/events", call{"user", 400, ""}, call{"user", 400, "?id=999"}, call{"user4", 403, "?id=" + itoa(id)},
		call{"user", 200, "?id=" + itoa(id)})
	if got := len(e.list("user", "/api/user/sessions/events?id_session=1")); got != 12 {
		t.Errorf("%d events after delete", got)
	}
}

func TestSessionsGRPC(t *testing.T) {
	e := newEnv(t)
	conn, ctx := e.grpcConn("user3")
	c := corev1.NewSessionServiceClient(conn)
	r, err := c.GetSessions(ctx, &corev1.GetSessionsRequest{IdUser: 5, List: true})
	if err != nil || len(r.Sessions) != 4 || r.Sessions[0].SessionParticipants != nil {
		t.Fatalf("GetSessions: %v %v", r, err)
	}
	if _, err := c.DeleteSession(ctx, &corev1.DeleteSessionRequest{Id: new(int32(4))}); err == nil {
		t.Error("deleted a session in progress over gRPC")
	}
}

// The daily cleanup runs once per day for the whole fleet, whoever calls first.
func TestClosePastSessionsOncePerFleet(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A planned session in the future is left alone.
	if _, err := e.db.Exec(ctx, "UPDATE core.t_sessions SET session_start_datetime = now() + interval '1 day' WHERE id_session = 1"); err != nil {
		t.Fatal(err)
	}
	day := time.Now()
	var mu sync.Mutex
	runs, changed := 0, 0
	var wg sync.WaitGroup
	for range 4 { // four replicas waking at midnight
		wg.Add(1)
		go func() {
			defer wg.Done()
			ran, n, err := store.ClosePastSessions(ctx, e.db, day)
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if ran {
				runs++
				changed += n
			}
		}()
	}
	wg.Wait()
	// Not started (0) in the past: 2, 3, 9, 10, 11, 17, 18, 19, 25, 26, 27; in progress (1): 4, 12, 20, 28.
	if runs != 1 || changed != 15 {
		t.Errorf("%d runs changed %d sessions, want 1 run and 15", runs, changed)
	}
	var st1, st2, st4 int
	_ = e.db.QueryRow(ctx, "SELECT (SELECT session_status FROM core.t_sessions WHERE id_session = 1), (SELECT session_status FROM core.t_sessions WHERE id_session = 2), (SELECT session_status FROM core.t_sessions WHERE id_session = 4)").Scan(&st1, &st2, &st4)
	if st1 != 0 || st2 != 3 || st4 != 4 {
		t.Errorf("statuses after cleanup: 1→%d 2→%d 4→%d", st1, st2, st4)
	}
	if e.outboxCount("session", 2) < 15 {
		t.Error("the cleanup's updates emitted no DatabaseEvents")
	}
	if ran, _, _ := store.ClosePastSessions(ctx, e.db, day); ran {
		t.Error("ran twice the same day")
	}
	if ran, _, _ := store.ClosePastSessions(ctx, e.db, day.AddDate(0, 0, 1)); !ran {
		t.Error("did not run the next day")
	}
}
