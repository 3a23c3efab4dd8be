package logging_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/logstream"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one site; the login and logging targets run as separate processes against it, so
// logging can be stopped while login goes on.
type env struct {
	*fleettest.Site
	t *testing.T
}

func newEnv(t *testing.T) *env { return &env{Site: fleettest.NewSite(t), t: t} }

func do(t *testing.T, method, u string, header http.Header) fleettest.Answer {
	return fleettest.Do(t, method, u, header, nil)
}

func basic(user, pass string) http.Header {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"OpenTera " + token}} }

func login(t *testing.T, loginURL, kind, user, pass string) string {
	return fleettest.Login(t, loginURL, kind, user, pass)
}

func (e *env) uuidOf(table, col, where string) string {
	var u string
	if err := e.DB.QueryRow(context.Background(), "SELECT "+col+" FROM core."+table+" WHERE "+where).Scan(&u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

type entries []map[string]any

func get(t *testing.T, base, path string, q url.Values, token string) fleettest.Answer {
	t.Helper()
	return do(t, "GET", base+"/log/api/logging/"+path+"?"+q.Encode(), bearer(token))
}

// A failed login on the login target appears in login_entries within a second.
func TestFailedLoginAppearsInLoginEntries(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.Start("login")
	logURL, _ := e.Start("logging")
	admin := login(t, loginURL, "user", "admin", "admin")
	userUUID := e.uuidOf("t_users", "user_uuid", "user_username = 'user'")

	if a := do(t, "GET", loginURL+"/api/user/login", basic("user", "wrong password")); a.Status != 401 {
		t.Fatalf("failed login answered %d %s", a.Status, a.Body)
	}
	failedAt := time.Now()
	q := url.Values{"user_uuid": {userUUID}, "with_names": {"true"}}
	var got entries
	for {
		got = nil
		get(t, logURL, "login_entries", q, admin).JSON(t, &got)
		if len(got) > 0 {
			break
		}
		if time.Since(failedAt) > time.Second {
			t.Fatal("the failed login is not in login_entries after a second")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("failed login stored and served %v after the answer", time.Since(failedAt).Round(time.Millisecond))
	l := got[0]
	want := map[string]any{"login_user_uuid": userUUID, "login_status": 2.0, "login_type": 2.0, "login_sender": "login",
		"login_server_endpoint": "/api/user/login", "login_user_name": "Site User", "login_log_level": 4.0}
	for k, v := range want {
		if l[k] != v {
			t.Errorf("%s = %v, want %v (entry %v)", k, l[k], v, l)
		}
	}
	for _, k := range []string{"id_login_event", "login_timestamp", "login_client_ip", "login_participant_uuid",
		"login_device_uuid", "login_service_uuid", "login_client_name", "login_client_version", "login_os_name",
		"login_os_version", "login_message", "login_participant_name", "login_device_name"} {
		if _, ok := l[k]; !ok {
			t.Errorf("entry lacks %s: %v", k, l)
		}
	}
}

// 10,000 log events published while the logging target is stopped are all stored, once each,
// after it starts again.
func TestEventsPublishedWhileLoggingIsDownAreStored(t *testing.T) {
	e := newEnv(t)
	_, stop := e.Start("logging")
	stop() // the durable consumer exists; nobody consumes now

	nc, err := nats.Connect(e.NATSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	const n = 10000
	for i := 0; i < n; i++ {
		b, _ := proto.Marshal(&eventsv1.LogEvent{Level: eventsv1.LogEvent_LOGLEVEL_ERROR,
			Timestamp: float64(time.Now().UnixNano()) / 1e9, Sender: "outage-test", Message: fmt.Sprintf("event %d", i)})
		if err := nc.Publish(logstream.Subject(eventsv1.LogEvent_LOGLEVEL_ERROR), b); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st, err := js.Stream(ctx, logstream.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.Msgs >= n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream holds %d messages, want %d", info.State.Msgs, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	count := func() (total, distinct int) {
		if err := e.DB.QueryRow(ctx, `SELECT count(*), count(DISTINCT message) FROM logging.t_log_entry WHERE sender = 'outage-test'`).
			Scan(&total, &distinct); err != nil {
			t.Fatal(err)
		}
		return
	}
	if total, _ := count(); total != 0 {
		t.Fatalf("%d events stored while logging was stopped", total)
	}

	e.Start("logging")
	deadline = time.Now().Add(60 * time.Second)
	for {
		total, distinct := count()
		if total == n && distinct == n {
			break
		}
		if total > n || time.Now().After(deadline) {
			t.Fatalf("stored %d events (%d distinct), want %d", total, distinct, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// log_entries: superadmins and the LoggingService admin role only; OpenTera's filters.
func TestLogEntriesAccessAndFilters(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.Start("login")
	logURL, _ := e.Start("logging")
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		level := 2
		if i%2 == 1 {
			level = 4
		}
		// Dated in the past: the warnings the servers log (403 answers, …) come first in
		// time order and are left out by end_date.
		if _, err := e.DB.Exec(ctx, `INSERT INTO logging.t_log_entry (log_level, sender, message, "timestamp") VALUES ($1, 'test', $2, $3)`,
			level, fmt.Sprintf("m%d", i), base.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	admin := login(t, loginURL, "user", "admin", "admin")
	user := login(t, loginURL, "user", "user", "user")
	// user3 is in "Admins - Project 1", which holds LoggingService's admin role.
	loggingAdmin := login(t, loginURL, "user", "user3", "user3")
	participant := login(t, loginURL, "participant", "participant1", "opentera")

	if a := get(t, logURL, "log_entries", nil, user); a.Status != 403 {
		t.Errorf("user without the role: %d %s", a.Status, a.Body)
	}
	// A credential of another kind does not authenticate on a user-only RPC (pkg/server).
	if a := get(t, logURL, "log_entries", nil, participant); a.Status != 401 {
		t.Errorf("participant: %d %s", a.Status, a.Body)
	}
	if a := do(t, "GET", logURL+"/log/api/logging/log_entries", nil); a.Status != 401 {
		t.Errorf("anonymous: %d %s", a.Status, a.Body)
	}
	var all entries
	inMarch := url.Values{"end_date": {"2026-03-31"}}
	get(t, logURL, "log_entries", inMarch, loggingAdmin).JSON(t, &all)
	if len(all) != 10 || all[0]["message"] != "m9" || all[0]["timestamp"] != "2026-03-01T21:00:00+00:00" {
		t.Fatalf("LoggingService admin sees %v", all)
	}
	for _, k := range []string{"id_log_entry", "log_level", "sender", "message", "timestamp"} {
		if _, ok := all[0][k]; !ok {
			t.Errorf("entry lacks %s", k)
		}
	}

	cases := []struct {
		q    url.Values
		want []string
	}{
		{url.Values{"limit": {"3"}, "end_date": {"2026-03-31"}}, []string{"m9", "m8", "m7"}},
		{url.Values{"limit": {"2"}, "offset": {"3"}, "end_date": {"2026-03-31"}}, []string{"m6", "m5"}},
		{url.Values{"log_level": {"2"}, "limit": {"2"}, "end_date": {"2026-03-31"}}, []string{"m8", "m6"}},
		{url.Values{"start_date": {"2026-03-01T19:00:00"}, "end_date": {"2026-03-02"}}, []string{"m9", "m8", "m7"}},
		{url.Values{"start_date": {"2026-03-01T14:00:00+02:00"}, "end_date": {"2026-03-01T13:00:00Z"}}, []string{"m1", "m0"}},
		{url.Values{"end_date": {"2026-03-01T12:00:00.000000"}}, []string{"m0"}},
	}
	for _, c := range cases {
		var got entries
		a := get(t, logURL, "log_entries", c.q, admin)
		a.JSON(t, &got)
		var msgs []string
		for _, g := range got {
			msgs = append(msgs, g["message"].(string))
		}
		if strings.Join(msgs, ",") != strings.Join(c.want, ",") {
			t.Errorf("%v: got %v, want %v", c.q, msgs, c.want)
		}
	}
	var stats map[string]any
	get(t, logURL, "log_entries", url.Values{"stats": {"true"}, "log_level": {"2"}, "end_date": {"2026-03-31"}}, admin).JSON(t, &stats)
	if stats["count"] != 5.0 || stats["min_timestamp"] != "2026-03-01T12:00:00+00:00" || stats["max_timestamp"] != "2026-03-01T20:00:00+00:00" {
		t.Errorf("stats: %v", stats)
	}
	for _, q := range []url.Values{{"start_date": {"yesterday"}}, {"limit": {"-1"}}, {"offset": {"x"}}} {
		if a := get(t, logURL, "log_entries", q, admin); a.Status != 400 {
			t.Errorf("%v: %d %s", q, a.Status, a.Body)
		}
	}
}

// login_entries: a superadmin sees every attempt; a user the attempts of the principals they
// can access; a participant its own; uuid filters only for accessible principals.
func TestLoginEntriesAccess(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.Start("login")
	logURL, _ := e.Start("logging")
	ctx := context.Background()
	uuid := func(name string) string { return e.uuidOf("t_users", "user_uuid", "user_username = '"+name+"'") }
	p1 := e.uuidOf("t_participants", "participant_uuid", "id_participant = 1")
	p4 := e.uuidOf("t_participants", "participant_uuid", "id_participant = 4")
	insert := func(col, u string, n int) {
		for i := 0; i < n; i++ {
			if _, err := e.DB.Exec(ctx, `INSERT INTO logging.t_logins (login_timestamp, login_log_level, login_sender, `+col+`,
				login_status, login_type, login_client_ip) VALUES (now(), 4, 'test', $1, 2, 2, '127.0.0.1')`, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	insert("login_user_uuid", uuid("admin"), 3)
	insert("login_user_uuid", uuid("user4"), 2)
	insert("login_participant_uuid", p1, 4)
	insert("login_participant_uuid", p4, 5)

	admin := login(t, loginURL, "user", "admin", "admin") // one success each from here on
	user4 := login(t, loginURL, "user", "user4", "user4")
	user := login(t, loginURL, "user", "user", "user")
	participant := login(t, loginURL, "participant", "participant1", "opentera")
	deadline := time.Now().Add(5 * time.Second)
	for {
		var n int
		_ = e.DB.QueryRow(ctx, `SELECT count(*) FROM logging.t_logins WHERE login_sender = 'login'`).Scan(&n)
		if n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d login successes stored, want 4", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	countOf := func(token string, q url.Values) int {
		t.Helper()
		if q == nil {
			q = url.Values{}
		}
		q.Set("stats", "true")
		var s map[string]any
		a := get(t, logURL, "login_entries", q, token)
		a.JSON(t, &s)
		c, _ := s["count"].(float64)
		return int(c)
	}
	checks := []struct {
		name  string
		token string
		q     url.Values
		want  int
	}{
		{"superadmin, everything", admin, nil, 18},
		{"superadmin, one user", admin, url.Values{"user_uuid": {uuid("user4")}}, 3},
		{"no-access user sees only themselves", user4, nil, 3},
		{"no-access user asking for admin", user4, url.Values{"user_uuid": {uuid("admin")}}, 0},
		{"no-access user asking for a participant", user4, url.Values{"participant_uuid": {p1}}, 0},
		// "user" is in "Users - Projects 1 & 2": themselves and participant #1 (project 1),
		// not the secret participant (project 3), not user4.
		{"project user", user, nil, 1 + 5},
		{"project user asking for the secret participant", user, url.Values{"participant_uuid": {p4}}, 0},
		{"project user, participant or self", user, url.Values{"participant_uuid": {p1}, "user_uuid": {uuid("user")}}, 1 + 5},
		{"participant sees itself", participant, nil, 5},
		{"participant asking for another", participant, url.Values{"participant_uuid": {p4}}, 0},
	}
	for _, c := range checks {
		if got := countOf(c.token, c.q); got != c.want {
			t.Errorf("%s: %d entries, want %d", c.name, got, c.want)
		}
	}
	var got entries
	get(t, logURL, "login_entries", url.Values{"with_names": {"true"}, "participant_uuid": {p1}, "limit": {"1"}}, user).JSON(t, &got)
	if len(got) != 1 || got[0]["login_participant_name"] != "Participant #1" || got[0]["login_user_name"] != nil {
		t.Errorf("with_names: %v", got)
	}
	got = nil
	get(t, logURL, "login_entries", url.Values{"limit": {"1"}}, user).JSON(t, &got)
	if _, ok := got[0]["login_user_name"]; ok {
		t.Errorf("names without with_names: %v", got[0])
	}
	// Static participant tokens are refused, as OpenTera (dynamic tokens only).
	var static string
	if err := e.DB.QueryRow(ctx, `SELECT participant_token FROM core.t_participants WHERE id_participant = 1`).Scan(&static); err != nil {
		t.Fatal(err)
	}
	if a := get(t, logURL, "login_entries", nil, static); a.Status != 403 {
		t.Errorf("static participant token: %d %s", a.Status, a.Body)
	}
}

// Every target publishes its warnings and errors: a database error of the core target lands in
// log_entries with the process's targets as sender.
func TestErrorsOfEveryTargetAreStored(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.Start("login")
	coreURL, _ := e.Start("core")
	e.Start("logging")
	ctx := context.Background()
	admin := login(t, loginURL, "user", "admin", "admin")
	if _, err := e.DB.Exec(ctx, `ALTER TABLE core.t_sites RENAME TO t_sites_gone`); err != nil {
		t.Fatal(err)
	}
	if a := do(t, "GET", coreURL+"/api/user/sites", bearer(admin)); a.Status != 500 {
		t.Fatalf("sites without their table: %d %s", a.Status, a.Body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var level int
		var msg string
		err := e.DB.QueryRow(ctx, `SELECT log_level, message FROM logging.t_log_entry
			WHERE sender = 'tera.core' AND message LIKE 'core: database error%' LIMIT 1`).Scan(&level, &msg)
		if err == nil {
			if level != int(eventsv1.LogEvent_LOGLEVEL_ERROR) || !strings.Contains(msg, "t_sites") {
				t.Errorf("stored level %d message %q", level, msg)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the core target's error did not reach log_entries")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
