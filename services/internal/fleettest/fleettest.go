// Package fleettest runs targets as separate in-process servers against one test site: OpenTera's
// test fixture, a private NATS server, a signing key set and a device CA. Each target can be
// stopped and started on its own, as a Deployment is.
package fleettest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/services/internal/devmode"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/testenv"
)

// Site is one site's dependencies.
type Site struct {
	t       testing.TB
	DB      *pgxpool.Pool
	DBURL   string
	NATSURL string
	keysDir string
	caDir   string
}

// NewSite prepares a site; everything is removed when the test ends.
func NewSite(t testing.TB) *Site {
	t.Helper()
	return NewSiteOn(t, testenv.FixtureURL(t))
}

// NewSiteOn prepares a site on a database the test filled itself (an import, …).
func NewSiteOn(t testing.TB, dbURL string) *Site {
	t.Helper()
	s := &Site{t: t, DBURL: dbURL, NATSURL: testenv.NewNATS(t).ClientURL(), keysDir: t.TempDir(), caDir: t.TempDir()}
	pool, err := pgxpool.New(context.Background(), s.DBURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	s.DB = pool
	if _, err := authn.GenerateKeyFile(s.keysDir); err != nil {
		t.Fatal(err)
	}
	if err := devmode.GenerateDeviceCA(s.caDir, "test device CA"); err != nil {
		t.Fatal(err)
	}
	return s
}

// Start runs a process serving the targets of spec and returns its base URL once it is ready;
// stop ends it and waits until it has (also done when the test ends).
func (s *Site) Start(spec string, mod ...func(*fleet.Config)) (base string, stop func()) {
	t := s.t
	t.Helper()
	cfg := fleet.DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = config.Duration(5 * time.Second)
	cfg.Database.URL, cfg.Database.MaxConns = s.DBURL, 4
	cfg.NATS.URL = s.NATSURL
	cfg.Auth.SigningKeysDir, cfg.Auth.DeviceCADir = s.keysDir, s.caDir
	cfg.FileTransfer.Blob.Dir = t.TempDir()
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
	// Generous: a loaded 2-core CI machine starts every target slowly.
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return base, stop
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not become ready", spec)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Login returns a dynamic token of a user or participant (kind "user" or "participant") from
// the login target at loginURL.
func Login(t testing.TB, loginURL, kind, name, password string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(name, password)
	a := Do(t, http.MethodGet, loginURL+"/api/"+kind+"/login", req.Header, nil)
	var v map[string]any
	_ = json.Unmarshal(a.Body, &v)
	tok, _ := v[kind+"_token"].(string)
	if a.Status != http.StatusOK || tok == "" {
		t.Fatalf("login %s: %d %s", name, a.Status, a.Body)
	}
	return tok
}

// Answer is an HTTP response read whole.
type Answer struct {
	Status int
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (a Answer) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Body, v); err != nil {
		t.Fatalf("answer %d %s: %v", a.Status, a.Body, err)
	}
}

// Do sends a request (body, when not nil, as JSON) and reads the answer.
func Do(t testing.TB, method, url string, header http.Header, body any) Answer {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header.Clone()
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return Answer{resp.StatusCode, b}
}

// Signer signs tokens with the site's keys (asset access tokens a test forges: expired, of
// another requester…).
func (s *Site) Signer() *authn.Signer {
	s.t.Helper()
	keys, err := authn.LoadKeySet(s.keysDir)
	if err != nil {
		s.t.Fatal(err)
	}
	return &authn.Signer{Keys: keys}
}
