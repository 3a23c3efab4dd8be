package logging_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/services/internal/devmode"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/logstream"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is one site: OpenTera's test fixture, a private NATS server, a signing key set; the
// login and logging targets run as separate processes against it, so logging can be stopped
// while login goes on.
type env struct {
	t       *testing.T
	db      *pgxpool.Pool
	dbURL   string
	natsURL string
	keysDir string
	caDir   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	e := &env{t: t, dbURL: testenv.FixtureURL(t), natsURL: testenv.NewNATS(t).ClientURL(), keysDir: t.TempDir(), caDir: t.TempDir()}
	pool, err := pgxpool.New(context.Background(), e.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	e.db = pool
	if _, err := authn.GenerateKeyFile(e.keysDir); err != nil {
		t.Fatal(err)
	}
	if err := devmode.GenerateDeviceCA(e.caDir, "test device CA"); err != nil {
		t.Fatal(err)
	}
	return e
}

// start runs a process serving the targets of spec; stop ends it and waits until it has.
func (e *env) start(spec string, mod ...func(*fleet.Config)) (base string, stop func()) {
	t := e.t
	t.Helper()
	cfg := fleet.DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = config.Duration(2 * time.Second)
	cfg.Database.URL = e.dbURL
	cfg.Database.MaxConns = 4
	cfg.NATS.URL = e.natsURL
	cfg.Auth.SigningKeysDir, cfg.Auth.DeviceCADir = e.keysDir, e.caDir
	for _, m := range mod {
		m(&cfg)
	}
	targets, err := fleet.Resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := fleet.Start(ctx, cfg, targets, fleet.Options{Log: testenv.Quiet()})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", spec, err)
			}
		}
	}
	t.Cleanup(stop)
	base = "http://" + p.Server.HTTPAddr()
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready", spec)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base, stop
}

type answer struct {
	status int
	body   []byte
}

func (a answer) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.body, v); err != nil {
		t.Fatalf("answer %d %s: %v", a.status, a.body, err)
	}
}

func do(t *testing.T, method, u string, header http.Header) answer {
	t.Helper()
	req, err := http.NewRequest(method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{resp.StatusCode, b}
}

func basic(user, pass string) http.Header {
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth(user, pass)
	return req.Header
}

func bearer(token string) http.Header { return http.Header{"Authorization": {"OpenTera " + token}} }

// login returns a dynamic token of a user or participant ("user" or "participant").
func login(t *testing.T, loginURL, kind, user, pass string) string {
	t.Helper()
	a := do(t, "GET", loginURL+"/api/"+kind+"/login", basic(user, pass))
	if a.status != 200 {
		t.Fatalf("login %s: %d %s", user, a.status, a.body)
	}
	var v map[string]any
	a.json(t, &v)
	tok, _ := v[kind+"_token"].(string)
	if tok == "" {
		t.Fatalf("login %s: no token in %s", user, a.body)
	}
	return tok
}

func (e *env) uuidOf(table, col, where string) string {
	var u string
	if err := e.db.QueryRow(context.Background(), "SELECT "+col+" FROM core."+table+" WHERE "+where).Scan(&u); err != nil {
		e.t.Fatal(err)
	}
	return u
}

type entries []map[string]any

func get(t *testing.T, base, path string, q url.Values, token string) answer {
	t.Helper()
	return do(t, "GET", base+"/log/api/logging/"+path+"?"+q.Encode(), bearer(token))
}

// A failed login on the login target appears in login_entries within a second.
func TestFailedLoginAppearsInLoginEntries(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.start("login")
	logURL, _ := e.start("logging")
	admin := login(t, loginURL, "user", "admin", "admin")
	userUUID := e.uuidOf("t_users", "user_uuid", "user_username = 'user'")

	if a := do(t, "GET", loginURL+"/api/user/login", basic("user", "wrong password")); a.status != 401 {
		t.Fatalf("failed login answered %d %s", a.status, a.body)
	}
	failedAt := time.Now()
	q := url.Values{"user_uuid": {userUUID}, "with_names": {"true"}}
	var got entries
	for {
		got = nil
		get(t, logURL, "login_entries", q, admin).json(t, &got)
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
	_, stop := e.start("logging")
	stop() // the durable consumer exists; nobody consumes now

	nc, err := nats.Connect(e.natsURL)
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
		if err := e.db.QueryRow(ctx, `SELECT count(*), count(DISTINCT message) FROM logging.t_log_entry WHERE sender = 'outage-test'`).
			Scan(&total, &distinct); err != nil {
			t.Fatal(err)
		}
		return
	}
	if total, _ := count(); total != 0 {
		t.Fatalf("%d events stored while logging was stopped", total)
	}

	e.start("logging")
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
	loginURL, _ := e.start("login")
	logURL, _ := e.start("logging")
	ctx := context.Background()
	base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for i := 0; i < 10; i++ {
		level := 2
		if i%2 == 1 {
			level = 4
		}
		// Dated in the past: the warnings the servers log (403 answers, …) come first in
		// time order and are left out by end_date.
		if _, err := e.db.Exec(ctx, `INSERT INTO logging.t_log_entry (log_level, sender, message, "timestamp") VALUES ($1, 'test', $2, $3)`,
			level, fmt.Sprintf("m%d", i), base.Add(time.Duration(i)*time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	admin := login(t, loginURL, "user", "admin", "admin")
	user := login(t, loginURL, "user", "user", "user")
	// user3 is in "Admins - Project 1", which holds LoggingService's admin role.
	loggingAdmin := login(t, loginURL, "user", "user3", "user3")
	participant := login(t, loginURL, "participant", "participant1", "opentera")

	if a := get(t, logURL, "log_entries", nil, user); a.status != 403 {
		t.Errorf("user without the role: %d %s", a.status, a.body)
	}
	// A credential of another kind does not authenticate on a user-only RPC (pkg/server).
	if a := get(t, logURL, "log_entries", nil, participant); a.status != 401 {
		t.Errorf("participant: %d %s", a.status, a.body)
	}
	if a := do(t, "GET", logURL+"/log/api/logging/log_entries", nil); a.status != 401 {
		t.Errorf("anonymous: %d %s", a.status, a.body)
	}
	var all entries
	inMarch := url.Values{"end_date": {"2026-03-31"}}
	get(t, logURL, "log_entries", inMarch, loggingAdmin).json(t, &all)
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
		a.json(t, &got)
		var msgs []string
		for _, g := range got {
			msgs = append(msgs, g["message"].(string))
		}
		if strings.Join(msgs, ",") != strings.Join(c.want, ",") {
			t.Errorf("%v: got %v, want %v", c.q, msgs, c.want)
		}
	}
	var stats map[string]any
	get(t, logURL, "log_entries", url.Values{"stats": {"true"}, "log_level": {"2"}, "end_date": {"2026-03-31"}}, admin).json(t, &stats)
	if stats["count"] != 5.0 || stats["min_timestamp"] != "2026-03-01T12:00:00+00:00" || stats["max_timestamp"] != "2026-03-01T20:00:00+00:00" {
		t.Errorf("stats: %v", stats)
	}
	for _, q := range []url.Values{{"start_date": {"yesterday"}}, {"limit": {"-1"}}, {"offset": {"x"}}} {
		if a := get(t, logURL, "log_entries", q, admin); a.status != 400 {
			t.Errorf("%v: %d %s", q, a.status, a.body)
		}
	}
}

// login_entries: a superadmin sees every attempt; a user the attempts of the principals they
// can access; a participant its own; uuid filters only for accessible principals.
func TestLoginEntriesAccess(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.start("login")
	logURL, _ := e.start("logging")
	ctx := context.Background()
	uuid := func(name string) string { return e.uuidOf("t_users", "user_uuid", "user_username = '"+name+"'") }
	p1 := e.uuidOf("t_participants", "participant_uuid", "id_participant = 1")
	p4 := e.uuidOf("t_participants", "participant_uuid", "id_participant = 4")
	insert := func(col, u string, n int) {
		for i := 0; i < n; i++ {
			if _, err := e.db.Exec(ctx, `INSERT INTO logging.t_logins (login_timestamp, login_log_level, login_sender, `+col+`,
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
		_ = e.db.QueryRow(ctx, `SELECT count(*) FROM logging.t_logins WHERE login_sender = 'login'`).Scan(&n)
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
		a.json(t, &s)
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
	get(t, logURL, "login_entries", url.Values{"with_names": {"true"}, "participant_uuid": {p1}, "limit": {"1"}}, user).json(t, &got)
	if len(got) != 1 || got[0]["login_participant_name"] != "Participant #1" || got[0]["login_user_name"] != nil {
		t.Errorf("with_names: %v", got)
	}
	got = nil
	get(t, logURL, "login_entries", url.Values{"limit": {"1"}}, user).json(t, &got)
	if _, ok := got[0]["login_user_name"]; ok {
		t.Errorf("names without with_names: %v", got[0])
	}
	// Static participant tokens are refused, as OpenTera (dynamic tokens only).
	var static string
	if err := e.db.QueryRow(ctx, `SELECT participant_token FROM core.t_participants WHERE id_participant = 1`).Scan(&static); err != nil {
		t.Fatal(err)
	}
	if a := get(t, logURL, "login_entries", nil, static); a.status != 403 {
		t.Errorf("static participant token: %d %s", a.status, a.body)
	}
}

// Every target publishes its warnings and errors: a database error of the core target lands in
// log_entries with the process's targets as sender.
func TestErrorsOfEveryTargetAreStored(t *testing.T) {
	e := newEnv(t)
	loginURL, _ := e.start("login")
	coreURL, _ := e.start("core")
	e.start("logging")
	ctx := context.Background()
	admin := login(t, loginURL, "user", "admin", "admin")
	if _, err := e.db.Exec(ctx, `ALTER TABLE core.t_sites RENAME TO t_sites_gone`); err != nil {
		t.Fatal(err)
	}
	if a := do(t, "GET", coreURL+"/api/user/sites", bearer(admin)); a.status != 500 {
		t.Fatalf("sites without their table: %d %s", a.status, a.body)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var level int
		var msg string
		err := e.db.QueryRow(ctx, `SELECT log_level, message FROM logging.t_log_entry
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
