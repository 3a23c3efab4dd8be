package login_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/services/internal/verifier"
	"github.com/tera-health/tera/services/login"
)

// OpenTera parses /api/user/login strictly (parse_args(strict=True)): an unknown query
// parameter is a 400, once the credentials are checked.
func TestUserLoginUnknownParameterIs400(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	r := do(t, req{url: a + "/api/user/login?with_websocket=true&colour=blue", basic: [2]string{"admin", "admin"}})
	wantCode(t, "unknown parameter", r, 400)
	if m := r.json(t); m["message"] != "Unknown arguments: colour" {
		t.Fatalf("400 body %s", r.body)
	}
	wantUnauthorized(t, "unknown parameter, no credentials", do(t, req{url: a + "/api/user/login?colour=blue"}))
	wantCode(t, "known parameter", do(t, req{url: a + "/api/user/login?with_websocket=false", basic: [2]string{"admin", "admin"}}), 200)
}

// version_latest is OpenTera's client entry (every field, null when unset) whenever the client
// name is known, also when the version is current; a different version adds version_error, a
// different major one is a 426.
func TestVersionLatestWheneverClientKnown(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	login := func(version string) response {
		return do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"},
			header: map[string]string{"X-Client-Name": "OpenTeraPlus", "X-Client-Version": version}})
	}
	wantLatest := func(what string, m map[string]any) {
		t.Helper()
		v, ok := m["version_latest"].(map[string]any)
		if !ok || v["client_name"] != "OpenTeraPlus" || v["client_version"] != "1.0.0" || len(v) != 7 {
			t.Fatalf("%s: version_latest %v", what, m["version_latest"])
		}
		for _, k := range []string{"client_windows_download_url", "client_mac_download_url", "client_linux_download_url"} {
			if x, present := v[k]; !present || x != nil {
				t.Fatalf("%s: %s = %v, want null", what, k, x)
			}
		}
	}
	r := login("1.0.0")
	wantCode(t, "current version", r, 200)
	m := r.json(t)
	wantLatest("current version", m)
	if _, ok := m["version_error"]; ok || m["user_token"] == nil {
		t.Fatalf("current version body %s", r.body)
	}
	r = login("1.2.0")
	wantCode(t, "other minor version", r, 200)
	m = r.json(t)
	wantLatest("other minor version", m)
	if m["version_error"] != "Client major version mismatch" || m["user_token"] == nil {
		t.Fatalf("other minor version body %s", r.body)
	}
	r = login("2.0.0")
	wantCode(t, "other major version", r, 426)
	m = r.json(t)
	wantLatest("other major version", m)
	if cv, _ := m["current_version"].([]any); len(cv) != 3 || cv[0] != "2" || m["user_token"] != nil {
		t.Fatalf("426 body %s", r.body)
	}
	r = do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}, header: map[string]string{"X-Client-Name": "Other", "X-Client-Version": "9"}})
	if m := r.json(t); r.code != 200 || m["version_latest"] != nil || m["version_error"] != nil {
		t.Fatalf("unknown client: %d %s", r.code, r.body)
	}
}

// A known path called with a method it does not serve is a 405 (with Allow), not a 404: every
// route of the login target's table, every method it does not serve.
func TestKnownLoginPathWrongMethodIs405(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	wantCode(t, "GET change_password", do(t, req{url: a + "/api/user/login/change_password"}), 405)
	wantCode(t, "POST refresh_token", do(t, req{method: http.MethodPost, url: a + "/api/user/refresh_token"}), 405)
	wantCode(t, "DELETE refresh_token", do(t, req{method: http.MethodDelete, url: a + "/api/user/refresh_token"}), 405)

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
	svc, err := login.New(context.Background(), login.Options{DB: e.db, Verifier: v})
	if err != nil {
		t.Fatal(err)
	}
	routes := svc.HTTPRoutes()
	n := 0
	for _, rt := range routes {
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if rt.Methods[m] != nil {
				continue
			}
			r := do(t, req{method: m, url: a + rt.Path})
			if r.code != 405 || r.header.Get("Allow") == "" || r.json(t)["message"] != "The method is not allowed for the requested URL." {
				t.Errorf("%s %s: %d %q Allow=%q", m, rt.Path, r.code, r.body, r.header.Get("Allow"))
			}
			n++
		}
	}
	if len(routes) < 20 || n < 50 {
		t.Fatalf("only %d routes, %d refused methods tried", len(routes), n)
	}
}

// Every Basic login opens the login session (OpenTera's login_user), so the 2FA steps of a user
// without 2FA are refused for what they are (403), not for a missing session (401).
func TestBasicLoginSetsSession(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	c := jarClient(t)
	r := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c})
	wantCode(t, "login", r, 200)
	if !strings.Contains(r.header.Get("Set-Cookie"), "session=") {
		t.Fatalf("no session cookie: %q", r.header.Get("Set-Cookie"))
	}
	wantCode(t, "setup_2fa without 2FA", do(t, req{url: a + "/api/user/login/setup_2fa", client: c}), 403)
	// OpenTera logs the user out with that 403; log in again for the next step.
	do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c})
	r = do(t, req{url: a + "/api/user/login/2fa?otp_code=123456", client: c})
	wantCode(t, "2fa without 2FA", r, 403)
	wantUnauthorized(t, "no session at all", do(t, req{url: a + "/api/user/login/setup_2fa"}))
}

// After a forced password change succeeds, the session stays and a second change is a 400
// ("not required"), not a 401.
func TestForcedPasswordChangeTwice(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	e.exec(`UPDATE core.t_users SET user_force_password_change = true WHERE user_username = 'user4'`)
	c := jarClient(t)
	r := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c})
	if m := r.json(t); m["reason"] != "password_change" {
		t.Fatalf("login %s", r.body)
	}
	change := func(pw string) response {
		return do(t, req{method: http.MethodPost, url: a + "/api/user/login/change_password", client: c, ctype: "application/json",
			body: strings.NewReader(`{"new_password": "` + pw + `", "confirm_password": "` + pw + `"}`)})
	}
	r = change("N3w!Secret-Pass")
	wantCode(t, "first change", r, 200)
	if string(r.body) != "\"Password changed\"\n" {
		t.Fatalf("first change body %q", r.body)
	}
	r = change("An0ther!Secret-Pass")
	wantCode(t, "second change", r, 400)
	if string(r.body) != "\"User not required to change password\"\n" {
		t.Fatalf("second change body %q", r.body)
	}
	wantCode(t, "session still there", change("An0ther!Secret-Pass"), 400)
	wantCode(t, "new password works", do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "N3w!Secret-Pass"}}), 200)
}

// The 2FA setup POST answers as OpenTera: {message, redirect_url: /login_validate_2fa?code=…},
// no token; the session then validates the second factor.
func TestSetup2FAPostRepliesLikeOpenTera(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = true WHERE user_username = 'user4'`)
	c := jarClient(t)
	if m := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c}).json(t); m["reason"] != "2fa_setup" {
		t.Fatalf("login %v", m)
	}
	secret := do(t, req{url: a + "/api/user/login/setup_2fa", client: c}).str("otp_secret", t)
	otpCode := code(t, secret)
	r := do(t, req{method: http.MethodPost, url: a + "/api/user/login/setup_2fa", client: c, ctype: "application/json",
		body: strings.NewReader(`{"otp_secret": "` + secret + `", "otp_code": "` + otpCode + `"}`)})
	wantCode(t, "setup", r, 200)
	m := r.json(t)
	if m["message"] != "2FA enabled for this user." || m["redirect_url"] != "/login_validate_2fa?code="+otpCode || len(m) != 2 {
		t.Fatalf("setup reply %s", r.body)
	}
	r = do(t, req{url: a + "/api/user/login/2fa?otp_code=" + code(t, secret), client: c})
	wantCode(t, "2fa after setup", r, 200)
	if r.str("user_token", t) == "" {
		t.Fatalf("no token: %s", r.body)
	}
}

// A participant login carries websocket_url as OpenTera's does: whenever the participant is not
// online, asked for or not.
func TestParticipantLoginWebsocketURL(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	r := do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "opentera"}})
	wantCode(t, "basic", r, 200)
	if !strings.HasPrefix(r.str("websocket_url", t), "wss://tera.test/wss/participant?id=") {
		t.Fatalf("basic login without websocket_url: %s", r.body)
	}
	r = do(t, req{url: a + "/api/participant/login?token=" + r.str("base_token", t)})
	wantCode(t, "static token", r, 200)
	if !strings.HasPrefix(r.str("websocket_url", t), "wss://tera.test/wss/participant?id=") {
		t.Fatalf("token login without websocket_url: %s", r.body)
	}
}

// A participant already online (a live websocket) gets no websocket_url, and a 403 when it
// asks for one, as OpenTera's ParticipantLogin.
func TestParticipantLoginWhileOnline(t *testing.T) {
	e := newEnv(t)
	base := e.process("all")
	r := do(t, req{url: base + "/api/participant/login", basic: [2]string{"participant1", "opentera"}})
	u, err := url.Parse(r.str("websocket_url", t))
	if err != nil || u.Path != "/wss/participant" {
		t.Fatalf("websocket_url %q", r.str("websocket_url", t))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+u.RequestURI(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r = do(t, req{url: base + "/api/participant/login", basic: [2]string{"participant1", "opentera"}})
		if _, has := r.json(t)["websocket_url"]; !has {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still given a websocket_url while online: %s", r.body)
		}
		time.Sleep(50 * time.Millisecond)
	}
	wantCode(t, "online", r, 200)
	r = do(t, req{url: base + "/api/participant/login?with_websocket=true", basic: [2]string{"participant1", "opentera"}})
	wantCode(t, "online, websocket asked for", r, 403)
}

// Device register checks its arguments (400) before the key (401), as OpenTera's strict parser
// runs first.
func TestDeviceRegisterMissingArgumentsBeforeKey(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	key := e.scalar(`SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = 'DeviceRegisterKey'`)
	wantCode(t, "nothing", do(t, req{url: a + "/api/device/register"}), 400)
	e.exec(`SELECT pg_sleep(1.1)`) // the register endpoint allows 1 request/s
	wantCode(t, "wrong key, no name", do(t, req{url: a + "/api/device/register?key=wrong&type_key=x"}), 400)
	e.exec(`SELECT pg_sleep(1.1)`)
	r := do(t, req{url: a + "/api/device/register?key=wrong&type_key=x&name=robot"})
	wantCode(t, "wrong key, every argument", r, 401)
	if string(r.body) != "\"Invalid registration key\"\n" {
		t.Fatalf("401 body %q", r.body)
	}
	e.exec(`SELECT pg_sleep(1.1)`)
	wantCode(t, "unknown argument", do(t, req{url: a + "/api/device/register?key=" + key + "&type_key=x&name=robot&colour=blue"}), 400)
}
