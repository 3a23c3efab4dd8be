package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/tera-health/tera/pkg/authn"
)

func do(t *testing.T, method, url string, header ...string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// A client logs in through the ingress (served by one of two login replicas), uses its token on
// core (two replicas, verifying locally), logs out, and the token is refused everywhere.
func TestLoginTokenWorksOnCoreAndLogoutRevokesEverywhere(t *testing.T) {
	e, _ := seededEnv(t)
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys)
	f := startFleet(t, e, map[string]int{"core": 2, "login": 2})

	req, _ := http.NewRequest(http.MethodGet, f.URL+"/api/user/login", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		UserToken string `json:"user_token"`
		UserUUID  string `json:"user_uuid"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 || err != nil || login.UserToken == "" {
		t.Fatalf("login through the ingress: %d %v", resp.StatusCode, err)
	}
	auth := "OpenTera " + login.UserToken

	// Each core replica verifies the token on its own.
	for i := 0; i < 4; i++ {
		code, body := do(t, http.MethodGet, f.URL+"/api/user/participants?id_project=1&list=true", "Authorization", auth)
		if code != 200 {
			t.Fatalf("participants with the token (request %d): %d %s", i, code, body)
		}
		var ps []map[string]any
		if err := json.Unmarshal(body, &ps); err != nil || len(ps) != 3 {
			t.Fatalf("want project 1's 3 participants, got %s (%v)", body, err)
		}
	}
	if code, _ := do(t, http.MethodGet, f.URL+"/api/user/logout", "Authorization", auth); code != 200 {
		t.Fatalf("logout: %d", code)
	}
	// Core replicas answer from their local revocation sets: refused within
	// authn.RevocationBound of the logout, then by every replica.
	start := time.Now()
	for refused := 0; refused < 4; {
		at := time.Since(start)
		code, _ := do(t, http.MethodGet, f.URL+"/api/user/participants?id_project=1", "Authorization", auth)
		switch {
		case code == 401:
			refused++
		case at >= authn.RevocationBound:
			t.Fatalf("revoked token accepted by a core replica %s after the logout: %d", at, code)
		}
	}
	if code, _ := do(t, http.MethodGet, f.URL+"/api/user/participants?id_project=1"); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
}
