package login_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/verifier"
)

// A Basic username PostgreSQL cannot compare (a NUL byte, invalid UTF-8) is an unknown user:
// 401 on the login routes and on every other target, never a 500 or a 503.
func TestBasicUsernameNotUTF8Is401(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	for name, raw := range map[string]string{"NUL": "no\x00body:x", "invalid UTF-8": "no\xffbody:x", "NUL password": "admin:ad\x00min"} {
		h := map[string]string{"Authorization": "Basic " + b64(raw)}
		for _, u := range []string{a + "/api/user/login", a + "/api/participant/login", a + "/api/user/logout", a + "/api/user/login/2fa?otp_code=1",
			core + "/api/user/sites", core + "/api/user/participants?id_project=1"} {
			wantUnauthorized(t, name+" "+u, do(t, req{url: u, header: h}))
		}
	}
}

// While PostgreSQL is down the login routes answer 503, as every other route does (the
// client may retry), not 500.
func TestLoginWhilePostgresDownIs503(t *testing.T) {
	e := newEnv(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close() // nothing listens there any more: connection refused
	down := func(c *fleet.Config) { c.Database.URL = "postgres://tera@" + closed + "/tera?connect_timeout=2" }
	a := e.replica(down)
	core := e.process("core", down)
	for _, u := range []string{a + "/api/user/login", a + "/api/participant/login", core + "/api/user/sites"} {
		r := do(t, req{url: u, basic: [2]string{"admin", "admin"}})
		wantCode(t, u+" with PostgreSQL down", r, 503)
	}
	r := do(t, req{url: a + "/api/device/login?token=" + e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)})
	wantCode(t, "device login with PostgreSQL down", r, 503)
	if strings.Contains(e.logs.String(), `"msg":"login request failed"`) {
		t.Errorf("an outage is logged per request:\n%s", e.logs.String())
	}
}

// Unknown user, wrong password and locked account cost the same: one bcrypt comparison, at the
// cost of the stored hashes. Counted through the verifier's hook, not timed.
func TestPasswordLoginCostsOneBcryptWhateverTheOutcome(t *testing.T) {
	e := newEnv(t)
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	v, err := verifier.New(context.Background(), verifier.Config{SigningKeysDir: e.keysDir}, e.db, js)
	if err != nil {
		t.Fatal(err)
	}
	var compared atomic.Int32
	var costs []int
	v.CompareHash = func(hash, password []byte) error {
		compared.Add(1)
		c, _ := bcrypt.Cost(hash)
		costs = append(costs, c)
		return bcrypt.CompareHashAndPassword(hash, password)
	}
	stored, _ := bcrypt.Cost([]byte(e.scalar(`SELECT user_password FROM core.t_users WHERE user_username = 'user4'`)))
	ctx := context.Background()
	check := func(what string, reason authn.Reason, verify func() error) {
		t.Helper()
		compared.Store(0)
		costs = nil
		err := verify()
		ae, ok := err.(*authn.Error)
		if !ok || ae.Reason != reason {
			t.Fatalf("%s: got %v, want reason %d", what, err, reason)
		}
		if n := compared.Load(); n != 1 {
			t.Fatalf("%s: %d bcrypt comparisons, want 1", what, n)
		}
		if costs[0] != stored {
			t.Fatalf("%s: compared at cost %d, the stored hashes have %d", what, costs[0], stored)
		}
	}
	user := func(name, pw string) func() error {
		return func() error { _, _, err := v.VerifyPassword(ctx, authn.KindUser, name, pw); return err }
	}
	anyKind := func(name, pw string) func() error {
		return func() error { _, _, err := v.VerifyAnyPassword(ctx, name, pw); return err }
	}
	// A wrong password first, so the dummy follows the stored cost even from a cold start.
	check("wrong password", authn.ReasonWrongPassword, user("user4", "nope"))
	check("unknown user", authn.ReasonWrongUsername, user("nobody", "nope"))
	check("NUL in the username", authn.ReasonWrongUsername, user("no\x00body", "nope"))
	check("unknown as user and as participant (Basic on any target)", authn.ReasonWrongUsername, anyKind("nobody", "nope"))
	check("participant without login", authn.ReasonWrongUsername, func() error {
		e.exec(`UPDATE core.t_participants SET participant_login_enabled = false WHERE participant_username = 'participant1'`)
		defer e.exec(`UPDATE core.t_participants SET participant_login_enabled = true WHERE participant_username = 'participant1'`)
		_, _, err := v.VerifyPassword(ctx, authn.KindParticipant, "participant1", "opentera")
		return err
	})
	for range authn.MaxLoginAttempts - 1 {
		check("wrong password", authn.ReasonWrongPassword, user("user4", "nope"))
	}
	check("locked account, wrong password", authn.ReasonTooManyAttempts, user("user4", "nope"))
	check("locked account, right password", authn.ReasonTooManyAttempts, user("user4", "user4"))
}

// Every body over max_body_bytes gets one answer, whatever its size, framing and route: 400,
// ERROR_REASON_TOO_LARGE, a message naming the limit, no gRPC text. Bodies under the limit
// reach the handler (gRPC's own 4 MiB limit answered 429 for 4–8 MiB before).
func TestBodyOverLimitOneAnswer(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	site := func(n int) []byte {
		return []byte(`{"site": {"id_site": 0, "site_name": "` + strings.Repeat("a", n) + `"}}`)
	}
	post := func(url string, body []byte, chunked bool) response {
		t.Helper()
		var rd io.Reader = bytes.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // no length known: sent chunked
		}
		r, _ := http.NewRequest(http.MethodPost, url, rd)
		r.SetBasicAuth("admin", "admin")
		r.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return response{code: resp.StatusCode, body: b, header: resp.Header}
	}
	for _, size := range []int{5 << 20, 7<<20 + 512<<10} {
		r := post(core+"/api/user/sites", site(size), false)
		if r.code == 429 || r.code == 400 && r.header.Get("X-Tera-Error-Reason") == "ERROR_REASON_TOO_LARGE" || strings.Contains(string(r.body), "grpc") {
			t.Fatalf("%d MiB body, under the limit: %d %.200s", size>>20, r.code, r.body)
		}
	}
	for _, c := range []struct {
		url     string
		size    int
		chunked bool
	}{
		{core + "/api/user/sites", 8<<20 + 1, false}, {core + "/api/user/sites", 9 << 20, false}, {core + "/api/user/sites", 9 << 20, true},
		{core + "/api/user/sites", 64 << 20, false},
		{a + "/api/user/login/change_password", 9 << 20, false}, {a + "/api/user/login/change_password", 9 << 20, true},
	} {
		r := post(c.url, site(c.size), c.chunked)
		var msg string
		_ = json.Unmarshal(r.body, &msg)
		if r.code != 400 || r.header.Get("X-Tera-Error-Reason") != "ERROR_REASON_TOO_LARGE" || msg != "Request body too large (limit 8 MiB)" {
			t.Errorf("%s %d bytes chunked=%v: %d %s %q", c.url, c.size, c.chunked, r.code, r.header.Get("X-Tera-Error-Reason"), r.body)
		}
	}
}

// HEAD is answered as GET without a body on every GET route, gateway and plain alike (Flask).
func TestHeadAnswersAsGet(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	for _, u := range []string{core + "/api/user/sites", core + "/api/user/participants?id_project=1", a + "/api/user/login", a + "/login"} {
		get := do(t, req{url: u, basic: [2]string{"admin", "admin"}})
		head := do(t, req{method: http.MethodHead, url: u, basic: [2]string{"admin", "admin"}})
		if head.code != get.code || head.code != 200 || len(head.body) != 0 || head.ctype != get.ctype {
			t.Errorf("HEAD %s: %d %q %q; GET: %d %q", u, head.code, head.ctype, head.body, get.code, get.ctype)
		}
	}
	if r := do(t, req{method: http.MethodHead, url: core + "/api/user/sites"}); r.code != 401 || len(r.body) != 0 {
		t.Errorf("HEAD without credentials: %d %q", r.code, r.body)
	}
}

// A token of the wrong kind does not authenticate on a surface: 401, as OpenTera, not 403.
func TestWrongKindTokenIs401(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	part := do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "opentera"}})
	dev := e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)
	for name, tok := range map[string]string{"participant token": part.str("participant_token", t), "participant static token": part.str("base_token", t), "device token": dev} {
		for _, u := range []string{core + "/api/user/sites", core + "/api/user/participants?id_project=1", a + "/api/user/refresh_token", a + "/api/user/logout"} {
			wantUnauthorized(t, name+" on "+u, do(t, req{url: u, token: tok}))
		}
	}
	user := do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}}).str("user_token", t)
	for _, u := range []string{a + "/api/participant/refresh_token", a + "/api/device/login", a + "/api/participant/logout"} {
		wantUnauthorized(t, "user token on "+u, do(t, req{url: u, token: user}))
	}
}

// One access line per request, with route, status, duration and principal, on gateway and
// plain routes; no gRPC line for a REST call.
func TestAccessLogOneLinePerRequest(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	before := len(accessLines(t, e.logs.String()))
	do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}})
	do(t, req{url: core + "/api/user/sites", basic: [2]string{"user4", "user4"}})
	do(t, req{url: core + "/api/user/sites"})
	do(t, req{url: core + "/api/user/users?id_user=1", basic: [2]string{"user4", "user4"}})
	do(t, req{url: core + "/no/such/path"})
	lines := accessLines(t, e.logs.String())[before:]
	want := []struct {
		route  string
		status float64
		kind   string
	}{{"/api/user/login", 200, "user"}, {"/api/user/sites", 200, "user"}, {"/api/user/sites", 401, ""}, {"/api/user/users", 0, "user"}, {"unmatched", 404, ""}}
	if len(lines) != len(want) {
		t.Fatalf("%d access lines for %d requests:\n%v", len(lines), len(want), lines)
	}
	id4 := e.scalar(`SELECT id_user::text FROM core.t_users WHERE user_username = 'user4'`)
	for i, w := range want {
		l := lines[i]
		if l["route"] != w.route || (w.status != 0 && l["status"] != w.status) || l["method"] != "GET" || l["duration"] == nil {
			t.Errorf("line %d: %v, want route %s status %v", i, l, w.route, w.status)
		}
		if w.kind != "" && (l["principal_kind"] != w.kind || jsonNum(l["principal_id"]) != id4) {
			t.Errorf("line %d: principal %v %v, want %s %s", i, l["principal_kind"], l["principal_id"], w.kind, id4)
		}
	}
	if strings.Contains(e.logs.String(), `"msg":"grpc call"`) {
		t.Error("a REST call was logged a second time by the gRPC side")
	}
}

func jsonNum(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func accessLines(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(logs, "\n") {
		if !strings.Contains(l, `"msg":"http request"`) {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("access line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}
