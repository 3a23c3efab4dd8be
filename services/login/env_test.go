package login_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/services/internal/devmode"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// syncBuffer collects every replica's logs, to prove no secret reaches them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// env is one site: a database with OpenTera's test fixture, its own NATS server (the fixture's
// uuids are the same in every test, so shared KV state such as attempt counters must not be), a
// signing key set and a device CA; replicas of the login target run against it.
type env struct {
	t       testing.TB
	db      *pgxpool.Pool
	dbURL   string
	natsURL string
	keysDir string
	caDir   string
	logs    *syncBuffer
	keys    *authn.KeySet
}

func newEnv(t testing.TB) *env {
	t.Helper()
	e := &env{t: t, dbURL: testenv.FixtureURL(t), natsURL: testenv.NewNATS(t).ClientURL(), keysDir: t.TempDir(), caDir: t.TempDir(), logs: &syncBuffer{}}
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
	if e.keys, err = authn.LoadKeySet(e.keysDir); err != nil {
		t.Fatal(err)
	}
	return e
}

// replica starts one login target process and returns its base URL.
func (e *env) replica(mod ...func(*fleet.Config)) string { return e.process("login", mod...) }

// process starts one process running the targets of spec.
func (e *env) process(spec string, mod ...func(*fleet.Config)) string {
	t := e.t
	t.Helper()
	cfg := fleet.DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.ShutdownTimeout = config.Duration(time.Second)
	cfg.Database.URL = e.dbURL
	cfg.Database.MaxConns = 4
	cfg.NATS.URL = e.natsURL
	cfg.PublicURL = "https://tera.test"
	cfg.Auth.SigningKeysDir, cfg.Auth.DeviceCADir = e.keysDir, e.caDir
	cfg.Auth.TrustedProxies = []string{"127.0.0.1/32"}
	cfg.FileTransfer.Blob.Dir = t.TempDir()
	for _, m := range mod {
		m(&cfg)
	}
	log := slog.New(slog.NewJSONHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	targets, err := fleet.Resolve(spec)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p, err := fleet.Start(ctx, cfg, targets, fleet.Options{Log: log})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + p.Server.HTTPAddr()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/livez")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("login replica did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return base
}

type response struct {
	code   int
	ctype  string
	body   []byte
	header http.Header
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q is not a JSON object: %v", r.body, err)
	}
	return m
}

func (r response) str(k string, t *testing.T) string {
	t.Helper()
	v, _ := r.json(t)[k].(string)
	return v
}

type req struct {
	method  string
	url     string
	basic   [2]string
	token   string // Authorization: OpenTera <token>
	header  map[string]string
	body    io.Reader
	ctype   string
	client  *http.Client
	noBasic bool
}

func do(t *testing.T, q req) response {
	t.Helper()
	if q.method == "" {
		q.method = http.MethodGet
	}
	r, err := http.NewRequest(q.method, q.url, q.body)
	if err != nil {
		t.Fatal(err)
	}
	if q.basic[0] != "" {
		r.SetBasicAuth(q.basic[0], q.basic[1])
	}
	if q.token != "" {
		r.Header.Set("Authorization", "OpenTera "+q.token)
	}
	if q.ctype != "" {
		r.Header.Set("Content-Type", q.ctype)
	}
	for k, v := range q.header {
		r.Header.Set(k, v)
	}
	c := q.client
	if c == nil {
		c = &http.Client{Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	}
	resp, err := c.Do(r)
	if err != nil {
		t.Fatalf("%s %s: %v", q.method, q.url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return response{code: resp.StatusCode, ctype: resp.Header.Get("Content-Type"), body: b, header: resp.Header}
}

func jarClient(t *testing.T) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func wantUnauthorized(t *testing.T, what string, r response) {
	t.Helper()
	if r.code != 401 || !strings.HasPrefix(r.ctype, "text/html") || string(r.body) != "Unauthorized" {
		t.Fatalf("%s: got %d %q %q, want 401 text/html Unauthorized", what, r.code, r.ctype, r.body)
	}
}

// wantUnauthorizedWithin: a change made just before (a logout, a disabled account) reaches
// other targets' verifiers within a bound (authn.RevocationBound, the principal cache's), not at
// once; the request must be refused from bound on, and is usually refused at once.
func wantUnauthorizedWithin(t *testing.T, what string, bound time.Duration, send func() response) {
	t.Helper()
	start := time.Now()
	for {
		at := time.Since(start)
		r := send()
		if r.code == 401 {
			wantUnauthorized(t, what, r)
			t.Logf("%s: refused after %s", what, at)
			return
		}
		if at >= bound {
			t.Fatalf("%s: still %d %s %s after the change (bound %s)", what, r.code, r.body, at, bound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func wantCode(t *testing.T, what string, r response, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("%s: got %d %s, want %d", what, r.code, r.body, code)
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func (e *env) exec(sql string, args ...any) {
	e.t.Helper()
	if _, err := e.db.Exec(context.Background(), sql, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) scalar(sql string, args ...any) string {
	e.t.Helper()
	var v *string
	if err := e.db.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		e.t.Fatal(err)
	}
	if v == nil {
		return ""
	}
	return *v
}

func q(u string, params map[string]string) string {
	v := url.Values{}
	for k, p := range params {
		v.Set(k, p)
	}
	return u + "?" + v.Encode()
}

var errNotFound = errors.New("not found")
