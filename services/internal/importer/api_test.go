package importer_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/services/internal/devmode"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/testenv"
)

// startFleet runs the core and login targets on dbURL and returns their base URL.
func startFleet(t *testing.T, dbURL string) string {
	t.Helper()
	keys, ca := t.TempDir(), t.TempDir()
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	if err := devmode.GenerateDeviceCA(ca, "test device CA"); err != nil {
		t.Fatal(err)
	}
	cfg := fleet.DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = config.Duration(time.Second)
	cfg.Database.URL, cfg.Database.MaxConns = dbURL, 4
	cfg.NATS.URL = testenv.NewNATS(t).ClientURL()
	cfg.PublicURL = "https://tera.test"
	cfg.Auth.SigningKeysDir, cfg.Auth.DeviceCADir = keys, ca
	targets, err := fleet.Resolve("core,login")
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
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + p.Server.HTTPAddr()
	for deadline := time.Now().Add(10 * time.Second); ; {
		resp, err := http.Get(base + "/livez")
		if err == nil {
			resp.Body.Close()
			return base
		}
		if time.Now().After(deadline) {
			t.Fatal("fleet did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type client struct {
	t    *testing.T
	base string
}

// call sends a request with basic credentials (user, password) or a token (user == "", password = token).
func (c client) call(method, path, user, secret string, body any) (int, []byte) {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	r, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	if user != "" {
		r.SetBasicAuth(user, secret)
	} else if secret != "" {
		r.Header.Set("Authorization", "OpenTera "+secret)
	}
	if body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(r)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func (c client) json(method, path, user, secret string, body any, out any) {
	c.t.Helper()
	code, b := c.call(method, path, user, secret, body)
	if code != 200 {
		c.t.Fatalf("%s %s as %q: %d %s", method, path, user, code, b)
	}
	if err := json.Unmarshal(b, out); err != nil {
		c.t.Fatalf("%s %s: %v in %s", method, path, err, b)
	}
}

// After importing the real OpenTera dump, the fixture's accounts log in with their OpenTera
// passwords and static tokens, and the API serves the source's ids and uuids.
func TestImportedSiteServesTheAPI(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dbURL := testenv.DatabaseURL(t)
	dst := connectTarget(t, dbURL)
	if _, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst}); err != nil {
		t.Fatal(err)
	}
	c := client{t, startFleet(t, dbURL)}

	tokens := map[string]string{}
	for _, u := range []string{"admin", "user3"} {
		var m map[string]any
		c.json("GET", "/api/user/login", u, u, nil, &m)
		tok, _ := m["user_token"].(string)
		if tok == "" {
			t.Fatalf("%s login: no user_token in %v", u, m)
		}
		tokens[u] = tok
	}
	var pl map[string]any
	c.json("GET", "/api/participant/login", "participant1", "opentera", nil, &pl)

	// Ids and uuids as the source has them.
	for _, e := range []struct{ path, idCol, uuidCol, table string }{
		{"/api/user/participants?id_participant=%d", "id_participant", "participant_uuid", "t_participants"},
		{"/api/user/sessions?id_session=%d", "id_session", "session_uuid", "t_sessions"},
		{"/api/user/devices?id_device=%d", "id_device", "device_uuid", "t_devices"},
	} {
		rows, err := src.Query(ctx, fmt.Sprintf("SELECT %s, %s FROM public.%s WHERE deleted_at IS NULL ORDER BY 1", e.idCol, e.uuidCol, e.table))
		if err != nil {
			t.Fatal(err)
		}
		want := map[int64]string{}
		for rows.Next() {
			var id int64
			var u string
			if err := rows.Scan(&id, &u); err != nil {
				t.Fatal(err)
			}
			want[id] = u
		}
		rows.Close()
		if len(want) == 0 {
			t.Fatalf("%s: no source rows", e.table)
		}
		for id, u := range want {
			var got []map[string]any
			c.json("GET", fmt.Sprintf(e.path, id), "", tokens["admin"], nil, &got)
			if len(got) != 1 || got[0][e.idCol] != float64(id) || got[0][e.uuidCol] != u {
				t.Errorf("%s: got %v, want %s=%d %s=%s", e.path, got, e.idCol, id, e.uuidCol, u)
			}
		}
	}

	// A static participant token from the source is accepted.
	var static string
	if err := src.QueryRow(ctx, "SELECT participant_token FROM public.t_participants WHERE id_participant = 1").Scan(&static); err != nil {
		t.Fatal(err)
	}
	var me map[string]any
	c.json("GET", "/api/participant/login", "", static, nil, &me)
	if me["participant_name"] != "Participant #1" || me["base_token"] != static {
		t.Errorf("static token login: %v", me)
	}
	// A static token sees only its participant's name (OpenTera's token-only view).
	var self map[string]any
	c.json("GET", "/api/participant/participants", "", static, nil, &self)
	if self["participant_name"] != "Participant #1" {
		t.Errorf("participant self with static token: %v", self)
	}
	if code, _ := c.call("GET", "/api/participant/participants", "", static[:len(static)-2]+"xx", nil); code != 401 {
		t.Errorf("altered static token: %d, want 401", code)
	}

	// A new participant gets an id above every imported one.
	var maxID float64
	if err := src.QueryRow(ctx, "SELECT max(id_participant) FROM public.t_participants").Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	var created []map[string]any
	c.json("POST", "/api/user/participants", "", tokens["admin"],
		map[string]any{"participant": map[string]any{"id_participant": 0, "participant_name": "After the switch", "id_project": 1}}, &created)
	if len(created) != 1 {
		t.Fatalf("new participant: %v", created)
	}
	if id, _ := created[0]["id_participant"].(float64); id <= maxID {
		t.Errorf("new participant: %v, want an id above %v", created, maxID)
	}
	if code, b := c.call("GET", "/api/user/login", "user3", "wrong", nil); code != 401 || strings.Contains(string(b), "user_token") {
		t.Errorf("wrong password: %d %s", code, b)
	}
}
