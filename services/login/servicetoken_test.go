package login_test

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/fleet"
)

// declare returns a config change declaring the external service Questionnaire with secret.
func declare(t *testing.T, secret string) func(*fleet.Config) {
	f := filepath.Join(t.TempDir(), "client_secret")
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return func(c *fleet.Config) {
		c.ExternalServices = []fleet.ExternalService{{Key: "Questionnaire", Name: "Questionnaire", Hostname: "questionnaire", Port: 8080,
			ClientEndpoint: "/questionnaire", DefaultConfig: `{"questions": 3}`, ClientSecretFile: f}}
	}
}

func tokenRequest(t *testing.T, base string, form url.Values, basic [2]string) response {
	return do(t, req{method: "POST", url: base + "/api/service/token", ctype: "application/x-www-form-urlencoded",
		body: strings.NewReader(form.Encode()), basic: basic})
}

// A service declared in the configuration is registered by core (once, whatever the number of
// replicas, keeping an administrator's changes to service_enabled), obtains a token from login
// with its client secret, and is refused as soon as it is disabled.
func TestServiceClientCredentials(t *testing.T) {
	e := newEnv(t)
	secret := authn.RandomHex(32)
	mod := declare(t, secret)
	e.process("core", mod)
	e.process("core", mod)
	a := e.replica(mod)

	var uuid string
	deadline := time.Now().Add(10 * time.Second)
	for uuid == "" {
		uuid = e.scalar(`SELECT max(service_uuid) FROM core.t_services WHERE service_key = 'Questionnaire'`)
		if time.Now().After(deadline) {
			t.Fatal("service not registered")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := e.scalar(`SELECT count(*)::text FROM core.t_services WHERE service_key = 'Questionnaire'`); n != "1" {
		t.Fatalf("%s rows", n)
	}
	if v := e.scalar(`SELECT service_clientendpoint || ' ' || service_enabled || ' ' || service_default_config FROM core.t_services
		WHERE service_key = 'Questionnaire'`); v != `/questionnaire true {"questions": 3}` {
		t.Fatalf("registered row: %s", v)
	}
	if h := e.scalar(`SELECT encode(secret_sha256, 'hex') FROM core.t_services_credentials c JOIN core.t_services s USING (id_service)
		WHERE s.service_key = 'Questionnaire'`); h == "" || strings.Contains(h, secret) {
		t.Fatalf("stored credential %q", h)
	}

	grant := url.Values{"grant_type": {"client_credentials"}}
	r := tokenRequest(t, a, grant, [2]string{"Questionnaire", secret})
	wantCode(t, "token with basic", r, 200)
	m := r.json(t)
	if m["token_type"] != "Bearer" || m["expires_in"] != float64(3600) || m["service_uuid"] != uuid || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("token answer %s", r.body)
	}
	tok := r.str("access_token", t)
	wantCode(t, "the token works on a service endpoint", do(t, req{url: a + "/api/service/auth/code?endpoint_url=x", token: tok}), 200)

	r = tokenRequest(t, a, url.Values{"grant_type": {"client_credentials"}, "client_id": {"Questionnaire"}, "client_secret": {secret}}, [2]string{})
	wantCode(t, "token with the secret in the body", r, 200)

	for name, c := range map[string]struct {
		form  url.Values
		basic [2]string
		code  int
		err   string
	}{
		"wrong secret":       {grant, [2]string{"Questionnaire", secret[:63] + "x"}, 401, "invalid_client"},
		"unknown client":     {grant, [2]string{"Nobody", secret}, 401, "invalid_client"},
		"system service":     {grant, [2]string{"FileTransferService", secret}, 401, "invalid_client"},
		"no credentials":     {grant, [2]string{}, 401, "invalid_client"},
		"password grant":     {url.Values{"grant_type": {"password"}}, [2]string{"Questionnaire", secret}, 400, "unsupported_grant_type"},
		"missing grant type": {url.Values{}, [2]string{"Questionnaire", secret}, 400, "unsupported_grant_type"},
	} {
		r := tokenRequest(t, a, c.form, c.basic)
		if r.code != c.code || r.str("error", t) != c.err {
			t.Errorf("%s: %d %s, want %d %s", name, r.code, r.body, c.code, c.err)
		}
	}
	wantCode(t, "GET", do(t, req{url: a + "/api/service/token"}), 405)

	e.exec(`UPDATE core.t_services SET service_enabled = false WHERE service_key = 'Questionnaire'`)
	wantUnauthorizedWithin(t, "token of a disabled service", authn.PrincipalCacheTTL, func() response {
		return do(t, req{url: a + "/api/service/auth/code?endpoint_url=x", token: tok})
	})
	r = tokenRequest(t, a, grant, [2]string{"Questionnaire", secret})
	if r.code != 401 || r.str("error_description", t) != "service disabled" {
		t.Fatalf("token for a disabled service: %d %s", r.code, r.body)
	}
	// A restart re-registers the declaration but leaves the administrator's decision alone.
	e.process("core", mod)
	time.Sleep(300 * time.Millisecond)
	if v := e.scalar(`SELECT service_enabled::text FROM core.t_services WHERE service_key = 'Questionnaire'`); v != "false" {
		t.Fatalf("re-registration enabled the service again")
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the client secret reached the logs")
	}
}
