package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/servicekit"
	"github.com/tera-health/tera/services/internal/outbox"
	"github.com/tera-health/tera/services/internal/testenv"
)

var (
	exampleOnce sync.Once
	examplePath string
	exampleErr  error
)

// exampleBinary builds examples/questionnaire, the external service a developer starts from.
func exampleBinary(t *testing.T) string {
	t.Helper()
	exampleOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tera-e2e-example-")
		if err != nil {
			exampleErr = err
			return
		}
		examplePath = filepath.Join(dir, "questionnaire")
		out, err := exec.Command("go", "build", "-o", examplePath, "../../examples/questionnaire").CombinedOutput()
		if err != nil {
			exampleErr = fmt.Errorf("build the example service: %v\n%s", err, out)
		}
	})
	if exampleErr != nil {
		t.Fatal(exampleErr)
	}
	return examplePath
}

// The example service runs beside the fleet as in a cluster: declared in tera.yaml and
// registered by core, it obtains its token from login with its client secret, lists
// participants through the service API, answers session_type_config over NATS, receives
// DatabaseEvents through its durable consumer, serves its page behind the router at its
// client endpoint, and is refused by every core replica within seconds of being disabled.
func TestExampleServiceInTheFleet(t *testing.T) {
	if servicekit.DatabaseStream != outbox.StreamName {
		t.Fatalf("servicekit reads stream %s, the outbox writes %s", servicekit.DatabaseStream, outbox.StreamName)
	}
	e, pool := seededEnv(t)
	ctx := context.Background()
	dir := t.TempDir()
	keys := filepath.Join(dir, "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	secret := authn.RandomHex(32)
	secretFile := filepath.Join(dir, "client_secret")
	svcAddr := freeAddr(t)
	_, port, _ := net.SplitHostPort(svcAddr)
	cfgFile := filepath.Join(dir, "tera.yaml")
	for f, content := range map[string]string{secretFile: secret, cfgFile: `external_services:
- key: Questionnaire
  name: Questionnaire
  hostname: 127.0.0.1
  port: ` + port + `
  client_endpoint: /questionnaire
  endpoint_participant: /questionnaire/
  client_secret_file: ` + secretFile + "\n"} {
		if err := os.WriteFile(f, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys)
	e.args = []string{"--config=" + cfgFile}
	e.services = map[string]string{"/questionnaire": "http://" + svcAddr}
	f := startFleet(t, e, map[string]int{"core": 2, "login": 2})

	var idService int
	eventually(t, "the declared service registered", func() bool {
		return pool.QueryRow(ctx, `SELECT id_service FROM core.t_services WHERE service_key = 'Questionnaire' AND service_enabled`).Scan(&idService) == nil
	})
	// An administrator gives the service project 1 (OpenTera's service-project link), the
	// scope of its service API.
	for _, q := range []string{`INSERT INTO core.t_services_sites (id_service, id_site) VALUES ($1, 1)`,
		`INSERT INTO core.t_services_projects (id_service, id_project) VALUES ($1, 1)`} {
		if _, err := pool.Exec(ctx, q, idService); err != nil {
			t.Fatal(err)
		}
	}

	svc := exec.Command(exampleBinary(t))
	svc.Env = append(os.Environ(), "TERA_SERVICE_KEY=Questionnaire", "TERA_SERVICE_CLIENT_SECRET_FILE="+secretFile, "TERA_PUBLIC_URL="+f.URL,
		"TERA_NATS_URL="+e.natsURL, "TERA_SERVICE_LISTEN="+svcAddr)
	slog := &testenv.Buffer{}
	svc.Stdout, svc.Stderr = slog, slog
	if err := svc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = svc.Process.Signal(syscall.SIGTERM)
		_ = svc.Wait()
		if t.Failed() {
			t.Logf("--- log of the example service:\n%s", slog.String())
		}
	})
	eventually(t, "the example's page behind the router", func() bool {
		code, _ := do(t, "GET", f.URL+"/questionnaire/healthz")
		return code == 200
	})

	admin := loginToken(t, f.URL, "user", "admin", "admin")
	participant := loginToken(t, f.URL, "participant", "participant1", "opentera")

	// The participant's page, verified by the service itself (JWKS); a user token is refused.
	code, body := do(t, "GET", f.URL+"/questionnaire/?token="+participant)
	if code != 200 || !strings.Contains(string(body), "How did you sleep?") {
		t.Fatalf("participant page: %d %s", code, body)
	}
	if code, _ := do(t, "GET", f.URL+"/questionnaire/?token="+admin); code != 401 {
		t.Fatalf("user token on the participant page: %d", code)
	}

	// Participants of project 1 through the service API, with the service's own token. Core
	// serves /api/service/* from the service API work (issue 13 §3); until it does, the example
	// answers 502 with core's 404 and the step is reported, not failed.
	code, body = do(t, "GET", f.URL+"/questionnaire/api/participants?id_project=1", "Authorization", "OpenTera "+admin)
	serviceAPI := !(code == http.StatusBadGateway && strings.Contains(string(body), ": 404"))
	if serviceAPI {
		var parts []map[string]any
		if code != 200 || json.Unmarshal(body, &parts) != nil || len(parts) == 0 || parts[0]["participant_name"] == nil {
			t.Fatalf("participants through the service API: %d %s", code, body)
		}
	} else {
		t.Logf("core does not serve /api/service/participants yet: listing participants not checked")
	}
	if code, _ := do(t, "GET", f.URL+"/questionnaire/api/participants?id_project=1", "Authorization", "OpenTera "+participant); code != 401 {
		t.Fatalf("participant token on an administrator endpoint: %d", code)
	}

	// OpenTera's session_type_config RPC, as core sends it.
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var cfg struct {
		ID        int      `json:"id_session_type"`
		Questions []string `json:"questions"`
	}
	if err := servicekit.Call(ctx, nc, "Questionnaire", servicekit.MethodSessionTypeConfig, map[string]int{"id_session_type": 4}, &cfg); err != nil ||
		cfg.ID != 4 || len(cfg.Questions) != 3 {
		t.Fatalf("session_type_config: %+v %v", cfg, err)
	}

	// A DatabaseEvent reaches the service through its durable consumer.
	if _, err := pool.Exec(ctx, `UPDATE core.t_participants SET participant_name = 'Renamed by e2e' WHERE id_participant = 1`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the participant event at the service", func() bool {
		_, body := do(t, "GET", f.URL+"/questionnaire/api/events", "Authorization", "OpenTera "+admin)
		return strings.Contains(string(body), "Renamed by e2e")
	})

	// Disabled: every replica refuses the service's token within seconds (login's service
	// endpoint, and core's service API when served), and login issues no new one.
	tok := serviceToken(t, f.URL, secret)
	var probes []string
	for _, r := range f.replicas {
		switch {
		case r.target == "login":
			probes = append(probes, "http://"+r.http+"/api/service/auth/code?endpoint_url=x")
		case r.target == "core" && serviceAPI:
			probes = append(probes, "http://"+r.http+"/api/service/participants?id_project=1")
		}
	}
	for _, p := range probes {
		if code, body := do(t, "GET", p, "Authorization", "OpenTera "+tok); code != 200 {
			t.Fatalf("service token on %s before disabling: %d %s", p, code, body)
		}
	}
	if _, err := pool.Exec(ctx, `UPDATE core.t_services SET service_enabled = false WHERE id_service = $1`, idService); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, p := range probes {
		for {
			code, _ := do(t, "GET", p, "Authorization", "OpenTera "+tok)
			if code == 401 {
				break
			}
			if time.Since(start) > authn.PrincipalCacheTTL+time.Second {
				t.Fatalf("%s still answers %d %s after the service was disabled", p, code, time.Since(start))
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("disabled service refused by %d replicas within %s", len(probes), time.Since(start))
	if serviceAPI {
		code, body = do(t, "GET", f.URL+"/questionnaire/api/participants?id_project=1", "Authorization", "OpenTera "+admin)
		if code != http.StatusBadGateway {
			t.Fatalf("the disabled service still reaches the service API: %d %s", code, body)
		}
	}
	if code, body := postForm(t, f.URL+"/api/service/token", secret); code != 401 {
		t.Fatalf("token for a disabled service: %d %s", code, body)
	}
}

func loginToken(t *testing.T, base, kind, name, password string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+"/api/"+kind+"/login", nil)
	req.SetBasicAuth(name, password)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	tok, _ := v[kind+"_token"].(string)
	if tok == "" {
		t.Fatalf("login %s: %d %v", name, resp.StatusCode, v)
	}
	return tok
}

func postForm(t *testing.T, u, secret string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, u, strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("Questionnaire", secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	out, _ := json.Marshal(v)
	return resp.StatusCode, out
}

func serviceToken(t *testing.T, base, secret string) string {
	t.Helper()
	code, body := postForm(t, base+"/api/service/token", secret)
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if code != 200 || json.Unmarshal(body, &v) != nil || v.AccessToken == "" {
		t.Fatalf("service token: %d %s", code, body)
	}
	return v.AccessToken
}
