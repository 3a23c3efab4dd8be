package login_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/fleet"
)

func code(t *testing.T, secret string) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, time.Now(), totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func state(t *testing.T, e *env) *authn.State {
	t.Helper()
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	s, err := authn.OpenState(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestUserLoginLogoutRefresh(t *testing.T) {
	e := newEnv(t)
	a, b := e.replica(), e.replica()

	r := do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}})
	wantCode(t, "admin login", r, 200)
	m := r.json(t)
	if m["user_fullname"] != "Super Admin" || m["user_uuid"] != e.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`) {
		t.Fatalf("login reply %s", r.body)
	}
	if _, ok := m["websocket_url"]; ok {
		t.Fatal("websocket_url without with_websocket")
	}
	token := m["user_token"].(string)
	var claims authn.Claims
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Issuer != "TeraServer" || claims.IDUser != 1 || claims.UserSuperadmin == nil || !*claims.UserSuperadmin ||
		claims.ExpiresAt.Sub(claims.IssuedAt.Time) != time.Hour || claims.ID == "" {
		t.Fatalf("claims %s", payload)
	}
	// user3 holds LoggingService admin through group 2: service_access carries global roles.
	r = do(t, req{url: a + "/api/user/login", basic: [2]string{"user3", "user3"}})
	p3, _ := base64.RawURLEncoding.DecodeString(strings.Split(r.str("user_token", t), ".")[1])
	if !strings.Contains(string(p3), `"service_access":{"LoggingService":["admin"]}`) {
		t.Fatalf("user3 claims %s", p3)
	}

	wantUnauthorized(t, "wrong password", do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "nope"}}))
	wantUnauthorized(t, "unknown user", do(t, req{url: a + "/api/user/login", basic: [2]string{"nobody", "x"}}))
	wantUnauthorized(t, "no credentials", do(t, req{url: a + "/api/user/login"}))
	wantUnauthorized(t, "token on login", do(t, req{url: a + "/api/user/login", token: token}))
	e.exec(`UPDATE core.t_users SET user_enabled = false WHERE id_user = 5`)
	wantUnauthorized(t, "disabled user", do(t, req{url: a + "/api/user/login", basic: [2]string{"user3", "user3"}}))

	// websocket_url: a single-use key valid 60 s.
	r = do(t, req{url: a + "/api/user/login?with_websocket=true", basic: [2]string{"user4", "user4"}})
	wantCode(t, "login with websocket", r, 200)
	ws, err := url.Parse(r.str("websocket_url", t))
	if err != nil || ws.Scheme != "wss" || ws.Host != "tera.test" || ws.Path != "/wss/user" || ws.Query().Get("id") == "" {
		t.Fatalf("websocket_url %q", r.str("websocket_url", t))
	}
	st := state(t, e)
	target, ok, err := st.ConsumeConnectKey(context.Background(), ws.Query().Get("id"), authn.KindUser)
	if err != nil || !ok || target.Kind != authn.KindUser || target.UUID != r.str("user_uuid", t) {
		t.Fatalf("connect key: %v %v %+v", ok, err, target)
	}
	if _, ok, _ := st.ConsumeConnectKey(context.Background(), ws.Query().Get("id"), authn.KindUser); ok {
		t.Fatal("connect key used twice")
	}

	// Refresh on one replica: a 30-minute token; the old one is refused by the other replica.
	r = do(t, req{url: a + "/api/user/refresh_token", token: token})
	wantCode(t, "refresh", r, 200)
	fresh := r.str("refresh_token", t)
	pf, _ := base64.RawURLEncoding.DecodeString(strings.Split(fresh, ".")[1])
	var fc authn.Claims
	_ = json.Unmarshal(pf, &fc)
	if fc.ExpiresAt.Sub(fc.IssuedAt.Time) != 30*time.Minute {
		t.Fatalf("refreshed claims %s", pf)
	}
	wantUnauthorized(t, "old token after refresh, other replica", do(t, req{url: b + "/api/user/refresh_token", token: token}))
	wantUnauthorized(t, "refresh with basic", do(t, req{url: b + "/api/user/refresh_token", basic: [2]string{"admin", "admin"}}))

	// Logout on B revokes everywhere.
	r = do(t, req{url: b + "/api/user/logout", token: fresh})
	wantCode(t, "logout", r, 200)
	if string(r.body) != "\"User logged out.\"\n" {
		t.Fatalf("logout body %q", r.body)
	}
	wantUnauthorized(t, "token after logout, other replica", do(t, req{url: a + "/api/user/refresh_token", token: fresh}))
	wantUnauthorized(t, "token after logout, ?token=", do(t, req{url: a + "/api/user/logout?token=" + fresh}))
	wantCode(t, "logout with basic", do(t, req{url: a + "/api/user/logout", basic: [2]string{"admin", "admin"}}), 200)
}

func TestLockoutAcrossReplicas(t *testing.T) {
	e := newEnv(t)
	a, b := e.replica(), e.replica()
	for i := range 5 {
		base := a
		if i%2 == 1 {
			base = b
		}
		wantUnauthorized(t, "wrong password", do(t, req{url: base + "/api/user/login", basic: [2]string{"user4", "wrong"}}))
	}
	wantUnauthorized(t, "right password while locked, other replica", do(t, req{url: b + "/api/user/login", basic: [2]string{"user4", "user4"}}))
	wantUnauthorized(t, "right password while locked", do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}}))
	// Participants have their own counter.
	wantCode(t, "participant unaffected", do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "opentera"}}), 200)
	// The lock lifts when the counter expires (120 s); clearing it stands for the wait.
	st := state(t, e)
	uuid := e.scalar(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`)
	if n, _ := authn.Attempts(context.Background(), st.Attempts, authn.AttemptsKey(authn.KindUser, uuid)); n != 5 {
		t.Fatalf("counter %d, want 5", n)
	}
	if err := authn.ResetAttempts(context.Background(), st.Attempts, authn.AttemptsKey(authn.KindUser, uuid)); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "after the lock", do(t, req{url: b + "/api/user/login", basic: [2]string{"user4", "user4"}}), 200)
}

func TestClientVersionGate(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	r := do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}, header: map[string]string{"X-Client-Name": "OpenTeraPlus", "X-Client-Version": "2.0.0"}})
	wantCode(t, "major mismatch", r, 426)
	m := r.json(t)
	latest := func(m map[string]any) any { v, _ := m["version_latest"].(map[string]any); return v["client_version"] }
	if cv, _ := m["current_version"].([]any); latest(m) != "1.0.0" || len(cv) != 3 || cv[0] != "2" || m["version_error"] == nil || m["message"] == nil || m["user_token"] != nil {
		t.Fatalf("426 body %s", r.body)
	}
	r = do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}, header: map[string]string{"X-Client-Name": "OpenTeraPlus", "X-Client-Version": "1.2.0"}})
	wantCode(t, "minor mismatch", r, 200)
	if m := r.json(t); latest(m) != "1.0.0" || m["version_error"] == nil || m["user_token"] == nil {
		t.Fatalf("minor mismatch body %s", r.body)
	}
	r = do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}, header: map[string]string{"X-Client-Name": "SomethingElse", "X-Client-Version": "9.0.0"}})
	if m := r.json(t); r.code != 200 || m["version_error"] != nil {
		t.Fatalf("unknown client: %d %s", r.code, r.body)
	}
}

func TestTwoFactor(t *testing.T) {
	e := newEnv(t)
	a, b := e.replica(), e.replica()
	key, _ := totp.Generate(totp.GenerateOpts{Issuer: "t", AccountName: "user4"})
	secret := key.Secret()
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true, user_2fa_otp_secret = $1 WHERE user_username = 'user4'`, secret)

	c := jarClient(t)
	r := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c})
	wantCode(t, "2fa login", r, 200)
	if m := r.json(t); m["reason"] != "2fa" || m["redirect_url"] != "/login_validate_2fa" || m["user_token"] != nil {
		t.Fatalf("2fa step body %s", r.body)
	}
	// Basic is refused for a 2FA user on anything but login endpoints (checked in pkg/authn);
	// here: the second step on the other replica, through the session in NATS KV.
	wantUnauthorized(t, "wrong code", do(t, req{url: b + "/api/user/login/2fa?otp_code=000000", client: c}))
	r = do(t, req{url: b + "/api/user/login/2fa?otp_code=" + code(t, secret), client: c})
	wantCode(t, "right code", r, 200)
	if r.str("user_token", t) == "" {
		t.Fatalf("no token after 2fa: %s", r.body)
	}
	// The session stays after the token, as OpenTera's login_user: a valid code logs in again.
	wantCode(t, "session kept", do(t, req{url: b + "/api/user/login/2fa?otp_code=" + code(t, secret), client: c}), 200)
	wantUnauthorized(t, "no session", do(t, req{url: a + "/api/user/login/2fa?otp_code=123456"}))

	// 5 wrong codes lock 2FA (403) across replicas.
	c2 := jarClient(t)
	do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c2})
	for i := range 5 {
		base := []string{a, b}[i%2]
		wantUnauthorized(t, "wrong code", do(t, req{url: base + "/api/user/login/2fa?otp_code=000000", client: c2}))
	}
	wantCode(t, "2fa locked", do(t, req{url: a + "/api/user/login/2fa?otp_code=" + code(t, secret), client: c2}), 403)
}

func TestTwoFactorSetupAndForcedPasswordChange(t *testing.T) {
	e := newEnv(t)
	a, b := e.replica(), e.replica()
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = true, user_force_password_change = true WHERE user_username = 'user4'`)
	c := jarClient(t)

	// Warm the Basic cache with the old password (logout accepts Basic).
	wantCode(t, "basic before change", do(t, req{url: b + "/api/user/logout", basic: [2]string{"user4", "user4"}}), 200)

	r := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}, client: c})
	if m := r.json(t); m["reason"] != "password_change" || m["redirect_url"] != "/login_change_password" {
		t.Fatalf("first step %s", r.body)
	}
	form := func(v map[string]string) *strings.Reader {
		u := url.Values{}
		for k, x := range v {
			u.Set(k, x)
		}
		return strings.NewReader(u.Encode())
	}
	const ct = "application/x-www-form-urlencoded"
	wantCode(t, "mismatch", do(t, req{method: "POST", url: a + "/api/user/login/change_password", client: c, ctype: ct,
		body: form(map[string]string{"new_password": "Abcdefgh1!x", "confirm_password": "Abcdefgh1!y"})}), 400)
	wantCode(t, "weak", do(t, req{method: "POST", url: a + "/api/user/login/change_password", client: c, ctype: ct,
		body: form(map[string]string{"new_password": "weak", "confirm_password": "weak"})}), 400)
	const newPassword = "N3w!Secret-Pass"
	r = do(t, req{method: "POST", url: b + "/api/user/login/change_password", client: c, ctype: "application/json",
		body: strings.NewReader(`{"new_password": "` + newPassword + `", "confirm_password": "` + newPassword + `"}`)})
	wantCode(t, "change", r, 200)
	if string(r.body) != "\"Password changed\"\n" {
		t.Fatalf("after change %s", r.body)
	}
	// As OpenTera's client, log in again with the new password: the next step is the 2FA setup.
	if m := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", newPassword}, client: c}).json(t); m["reason"] != "2fa_setup" || m["redirect_url"] != "/login_setup_2fa" {
		t.Fatalf("login after change %v", m)
	}
	// The old password no longer works anywhere, though a replica had it cached.
	wantUnauthorized(t, "old password, cached replica", do(t, req{url: b + "/api/user/logout", basic: [2]string{"user4", "user4"}}))

	r = do(t, req{url: a + "/api/user/login/setup_2fa", client: c})
	wantCode(t, "setup get", r, 200)
	png, err := base64.StdEncoding.DecodeString(r.str("qr_code", t))
	if err != nil || !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("qr_code is not a base64 PNG")
	}
	secret := r.str("otp_secret", t)
	wantCode(t, "setup bad code", do(t, req{method: "POST", url: b + "/api/user/login/setup_2fa", client: c, ctype: "application/json",
		body: strings.NewReader(`{"otp_secret": "` + secret + `", "otp_code": "000000"}`)}), 401)
	r = do(t, req{method: "POST", url: b + "/api/user/login/setup_2fa", client: c, ctype: "application/json",
		body: strings.NewReader(`{"otp_secret": "` + secret + `", "otp_code": "` + code(t, secret) + `", "with_email_enabled": false}`)})
	wantCode(t, "setup confirm", r, 200)
	if !strings.HasPrefix(r.str("redirect_url", t), "/login_validate_2fa?code=") {
		t.Fatalf("setup reply: %s", r.body)
	}
	if r = do(t, req{url: a + "/api/user/login/2fa?otp_code=" + code(t, secret), client: c}); r.str("user_token", t) == "" {
		t.Fatalf("no token after setup and validation: %s", r.body)
	}
	if got := e.scalar(`SELECT user_2fa_otp_secret FROM core.t_users WHERE user_username = 'user4'`); got != secret {
		t.Fatal("secret not stored")
	}
	// Next login: 2FA validation.
	r = do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", newPassword}, client: jarClient(t)})
	if m := r.json(t); m["reason"] != "2fa" {
		t.Fatalf("second login %s", r.body)
	}
	if strings.Contains(e.logs.String(), newPassword) || strings.Contains(e.logs.String(), secret) {
		t.Fatal("a password or OTP secret reached the logs")
	}
}

func TestParticipantLogin(t *testing.T) {
	e := newEnv(t)
	a, b := e.replica(), e.replica()
	r := do(t, req{url: a + "/api/participant/login?with_websocket=true", basic: [2]string{"participant1", "opentera"}})
	wantCode(t, "participant basic", r, 200)
	m := r.json(t)
	static := e.scalar(`SELECT participant_token FROM core.t_participants WHERE id_participant = 1`)
	if m["participant_name"] != "Participant #1" || m["base_token"] != static || m["participant_token"] == nil ||
		!strings.Contains(r.str("websocket_url", t), "/wss/participant?id=") {
		t.Fatalf("participant login %s", r.body)
	}
	types := m["session_types_info"].([]any)
	if len(types) != 4 || types[0].(map[string]any)["session_type_name"] != "Suivi vidéo" {
		t.Fatalf("session_types_info %v", types)
	}
	dynamic := r.str("participant_token", t)

	r = do(t, req{url: b + "/api/participant/login", token: dynamic})
	wantCode(t, "dynamic token", r, 200)
	if r.json(t)["participant_token"] == nil {
		t.Fatal("full role without a new dynamic token")
	}
	r = do(t, req{url: b + "/api/participant/login?token=" + static})
	wantCode(t, "static token", r, 200)
	if _, ok := r.json(t)["participant_token"]; ok {
		t.Fatal("static token (limited) got a dynamic token")
	}
	wantCode(t, "refresh with static token", do(t, req{url: a + "/api/participant/refresh_token", token: static}), 403)
	r = do(t, req{url: a + "/api/participant/refresh_token", token: dynamic})
	wantCode(t, "refresh", r, 200)
	wantUnauthorized(t, "refreshed-away token", do(t, req{url: b + "/api/participant/login", token: dynamic}))
	refreshed := r.str("refresh_token", t)
	wantCode(t, "logout", do(t, req{url: b + "/api/participant/logout", token: refreshed}), 200)
	wantUnauthorized(t, "after logout", do(t, req{url: a + "/api/participant/login", token: refreshed}))
	wantCode(t, "static token survives logout", do(t, req{url: a + "/api/participant/logout", token: static}), 200)
	wantCode(t, "static token still valid", do(t, req{url: a + "/api/participant/login", token: static}), 200)

	wantUnauthorized(t, "wrong password", do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "nope"}}))
	e.exec(`UPDATE core.t_participants SET participant_login_enabled = false WHERE id_participant = 1`)
	wantUnauthorized(t, "login disabled", do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "opentera"}}))
	e.exec(`UPDATE core.t_participants SET participant_enabled = false WHERE id_participant = 1`)
	wantUnauthorized(t, "disabled participant, static token", do(t, req{url: a + "/api/participant/login", token: static}))
}

func TestDeviceLoginAndRegistration(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	untrusted := e.replica(func(c *fleet.Config) { c.Auth.TrustedProxies = []string{"10.0.0.0/8"} })
	tok1 := e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)
	for _, r := range []response{do(t, req{url: a + "/api/device/login", token: tok1}), do(t, req{url: a + "/api/device/login?token=" + tok1})} {
		wantCode(t, "device 1", r, 200)
		m := r.json(t)
		info := m["device_info"].(map[string]any)
		if info["device_uuid"] != "b707e0b2-e649-47e7-a938-2b949c423f73" || info["device_type"] != "Capteur" ||
			len(m["participants_info"].([]any)) != 2 || !strings.Contains(r.str("websocket_url", t), "/wss/device?id=") {
			t.Fatalf("device login %s", r.body)
		}
	}
	wantUnauthorized(t, "disabled device 3", do(t, req{url: a + "/api/device/login", token: e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 3`)}))
	wantUnauthorized(t, "bogus token", do(t, req{url: a + "/api/device/login?token=abc.def.ghi"}))

	key := e.scalar(`SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = 'DeviceRegisterKey'`)
	wantCode(t, "bad register key", do(t, req{url: q(a+"/api/device/register", map[string]string{"key": "nope", "name": "x", "type_key": "robot"})}), 401)
	time.Sleep(1100 * time.Millisecond)
	wantCode(t, "missing args", do(t, req{url: q(a+"/api/device/register", map[string]string{"key": key})}), 400)
	time.Sleep(1100 * time.Millisecond)
	r := do(t, req{url: q(a+"/api/device/register", map[string]string{"key": key, "name": "New kit", "type_key": "newtype", "subtype_name": "v2"})})
	wantCode(t, "register GET", r, 200)
	if m := r.json(t); m["device_enabled"] != false || m["device_token"] == nil || m["device_name"] != "New kit" {
		t.Fatalf("register %s", r.body)
	}
	wantCode(t, "rate limit", do(t, req{url: q(a+"/api/device/register", map[string]string{"key": key, "name": "y", "type_key": "robot"})}), 429)
	wantUnauthorized(t, "new device is disabled", do(t, req{url: a + "/api/device/login", token: r.str("device_token", t)}))

	// POST with a CSR: a certificate signed by the device CA, usable through a trusted proxy.
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csrDER, _ := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "anything"}}, priv)
	csr := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: csrDER})
	time.Sleep(1100 * time.Millisecond)
	r = do(t, req{method: "POST", url: q(a+"/api/device/register", map[string]string{"key": key, "name": "Cert kit", "type_key": "robot", "onlineable": "true"}),
		ctype: "application/octet-stream", body: bytes.NewReader(csr)})
	wantCode(t, "register POST", r, 200)
	m := r.json(t)
	certPEM, _ := m["device_certificate"].(string)
	if certPEM == "" || !strings.Contains(m["ca_info"].(string), "BEGIN CERTIFICATE") {
		t.Fatalf("register POST %s", r.body)
	}
	devUUID := m["device_uuid"].(string)
	hdr := map[string]string{"X-Ssl-Client-Cert": url.PathEscape(certPEM)}
	wantUnauthorized(t, "certificate of a disabled device", do(t, req{url: a + "/api/device/login", header: hdr}))
	e.exec(`UPDATE core.t_devices SET device_enabled = true WHERE device_uuid = $1`, devUUID)
	r = do(t, req{url: a + "/api/device/login", header: hdr})
	wantCode(t, "certificate login", r, 200)
	if r.json(t)["device_info"].(map[string]any)["device_uuid"] != devUUID {
		t.Fatalf("certificate login %s", r.body)
	}
	wantUnauthorized(t, "certificate header from an untrusted peer", do(t, req{url: untrusted + "/api/device/login", header: hdr}))
	// The certificate is the device's credential on core's device API too.
	core := e.process("core")
	r = do(t, req{url: core + "/api/device/devices", header: hdr})
	wantCode(t, "certificate on core's device API", r, 200)
	if r.json(t)["device_info"].(map[string]any)["device_uuid"] != devUUID {
		t.Fatalf("device API by certificate %s", r.body)
	}
	// A certificate not signed by the device CA.
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: bigOne(), Subject: pkix.Name{CommonName: devUUID}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &other.PublicKey, other)
	forged := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	wantUnauthorized(t, "self-signed certificate", do(t, req{url: a + "/api/device/login", header: map[string]string{"X-Ssl-Client-Cert": url.PathEscape(forged)}}))
	wantCode(t, "device logout", do(t, req{url: a + "/api/device/logout", token: tok1}), 200)
}

func TestServiceAuthCodeSSO(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	svcUUID := e.scalar(`SELECT service_uuid FROM core.t_services WHERE service_key = 'FileTransferService'`)
	signer := &authn.Signer{Keys: e.keys}
	stok, err := signer.ServiceToken(svcUUID)
	if err != nil {
		t.Fatal(err)
	}
	wantUnauthorized(t, "auth code with a user token", do(t, req{url: a + "/api/service/auth/code?endpoint_url=x",
		token: do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}}).str("user_token", t)}))
	wantCode(t, "missing endpoint", do(t, req{url: a + "/api/service/auth/code", token: stok}), 400)
	r := do(t, req{url: a + "/api/service/auth/code?endpoint_url=viewer", token: stok})
	wantCode(t, "auth code", r, 200)
	codeStr := r.str("auth_code", t)

	// The browser logs in on /login?auth_code= and is sent to the service with the code.
	c := jarClient(t)
	page := do(t, req{url: a + "/login?auth_code=" + codeStr, client: c})
	if page.code != 200 || !strings.Contains(string(page.body), `value="`+codeStr+`"`) {
		t.Fatalf("login page %d", page.code)
	}
	r = do(t, req{method: "POST", url: a + "/login", client: c, ctype: "application/x-www-form-urlencoded",
		body: strings.NewReader(url.Values{"username": {"admin"}, "password": {"admin"}, "auth_code": {codeStr}}.Encode())})
	if r.code != 303 || r.header.Get("Location") != "/file/viewer/?auth_code="+codeStr {
		t.Fatalf("after login: %d %q", r.code, r.header.Get("Location"))
	}
	entry, err := state(t, e).AuthCodes.Get(context.Background(), codeStr)
	if err != nil || !strings.Contains(string(entry.Value()), `"user_token"`) || !strings.Contains(string(entry.Value()), svcUUID) {
		t.Fatalf("auth code entry: %v", err)
	}
	e.exec(`UPDATE core.t_services SET service_enabled = false WHERE service_uuid = $1`, svcUUID)
	wantUnauthorized(t, "disabled service", do(t, req{url: a + "/api/service/auth/code?endpoint_url=viewer", token: stok}))
}

func TestLoginEvents(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync("tera.login")
	if err != nil {
		t.Fatal(err)
	}
	_ = nc.Flush()
	do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}, header: map[string]string{"X-Client-Name": "curl", "X-Client-Version": "8"}})
	do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "bad"}})
	do(t, req{url: a + "/api/user/login", basic: [2]string{"ghost", "bad"}})
	do(t, req{url: a + "/api/device/login", token: e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 3`)})
	want := []eventsv1.LoginEvent_LoginStatus{
		eventsv1.LoginEvent_LOGIN_STATUS_SUCCESS, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_WRONG_PASSWORD,
		eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_WRONG_USERNAME, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_DISABLED_ACCOUNT,
	}
	adminUUID := e.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`)
	for i, w := range want {
		msg, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		var ev eventsv1.LoginEvent
		if err := proto.Unmarshal(msg.Data, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.GetLoginStatus() != w {
			t.Fatalf("event %d status %v, want %v", i, ev.GetLoginStatus(), w)
		}
		switch i {
		case 0:
			if ev.GetUserUuid() != adminUUID || ev.GetClientName() != "curl" || ev.GetLoginType() != eventsv1.LoginEvent_LOGIN_TYPE_PASSWORD ||
				ev.GetClientIp() != "127.0.0.1" || ev.GetServerEndpoint() != "/api/user/login" {
				t.Fatalf("success event %v", &ev)
			}
		case 1:
			if ev.GetUserUuid() != adminUUID {
				t.Fatalf("wrong password event %v", &ev)
			}
		case 3:
			if ev.GetDeviceUuid() == "" {
				t.Fatalf("disabled device event %v", &ev)
			}
		}
	}
}

func TestJWKS(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	r := do(t, req{url: a + "/.well-known/jwks.json"})
	wantCode(t, "jwks", r, 200)
	var set struct {
		Keys []map[string]string `json:"keys"`
	}
	if err := json.Unmarshal(r.body, &set); err != nil || len(set.Keys) != 1 || set.Keys[0]["alg"] != "ES256" || set.Keys[0]["crv"] != "P-256" {
		t.Fatalf("jwks %s", r.body)
	}
	token := do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "admin"}}).str("user_token", t)
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[0])
	if !strings.Contains(string(hdr), `"kid":"`+set.Keys[0]["kid"]+`"`) || !strings.Contains(string(hdr), `"alg":"ES256"`) {
		t.Fatalf("token header %s", hdr)
	}
}
