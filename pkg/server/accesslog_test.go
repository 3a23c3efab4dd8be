package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	testingv1 "github.com/tera-health/tera/pkg/api/tera/testing/v1"
	"github.com/tera-health/tera/pkg/authn"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the JSON log lines whose msg is msg.
func (l *lockedBuffer) lines(t *testing.T, msg string) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(l.b.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == msg {
			out = append(out, m)
		}
	}
	return out
}

func do(t *testing.T, method, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, url, nil)
	return send(t, req, header...)
}

func TestHeadIsGetWithoutBody(t *testing.T) {
	f := start(t)
	code, body, h := do(t, http.MethodHead, f.base+"/api/testing/echo?message=hi")
	if code != 200 || body != "" || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("HEAD: %d %q %q", code, body, h.Get("Content-Type"))
	}
	if code, body, _ := do(t, http.MethodHead, f.base+"/api/testing/whoami"); code != 401 || body != "" {
		t.Fatalf("HEAD without credentials: %d %q", code, body)
	}
	if code, _, _ := do(t, http.MethodHead, f.base+"/nothing-here"); code != 404 {
		t.Fatalf("HEAD on no route: %d", code)
	}
}

func TestBodyOverLimitNamesTheLimit(t *testing.T) {
	f := start(t)
	for _, size := range []int{8<<20 + 1, 9 << 20, 20 << 20} {
		resp, err := http.Post(f.base+"/api/testing/echo", "application/json", strings.NewReader(strings.Repeat("x", size)))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || resp.Header.Get(ReasonHeader) != "ERROR_REASON_TOO_LARGE" || b.String() != "\"Request body too large (limit 8 MiB)\"\n" {
			t.Fatalf("%d bytes: %d %q", size, resp.StatusCode, b.String())
		}
	}
	if got := TooLargeMessage(1000); got != "Request body too large (limit 1000 bytes)" {
		t.Fatal(got)
	}
	if grpcRecvLimit(8<<20) < 5*(8<<20) {
		t.Fatal("gRPC limit would refuse the proto form of a JSON body under the REST limit")
	}
}

// One access line per request: the gateway's relayed gRPC call adds none of its own but names
// the principal; a call from an outside gRPC client gets its own line; no secret is logged.
func TestAccessLogOneLinePerRequest(t *testing.T) {
	var logs lockedBuffer
	f := startLogged(t, &logs)
	do(t, http.MethodGet, f.base+"/api/testing/echo?message=hi&token=s3cret-token")
	do(t, http.MethodGet, f.base+"/api/testing/whoami", "Authorization", "Bearer good")
	do(t, http.MethodGet, f.base+"/api/testing/whoami", "Authorization", "Bearer forged")
	do(t, http.MethodGet, f.base+"/api/testing/echo?fail_with=NOT_FOUND")
	do(t, http.MethodHead, f.base+"/api/testing/echo")
	do(t, http.MethodGet, f.base+"/nothing-here")
	do(t, http.MethodGet, f.base+"/livez")
	lines := logs.lines(t, "http request")
	want := []struct {
		method, route string
		status        float64
		kind          string
	}{
		{"GET", "/api/testing/echo", 200, ""}, {"GET", "/api/testing/whoami", 200, "user"}, {"GET", "/api/testing/whoami", 401, ""},
		{"GET", "/api/testing/echo", 404, ""}, {"HEAD", "/api/testing/echo", 200, ""}, {"GET", "unmatched", 404, ""},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d access lines for %d requests (probes are not logged): %v", len(lines), len(want), lines)
	}
	for i, w := range want {
		l := lines[i]
		if l["method"] != w.method || l["route"] != w.route || l["status"] != w.status || l["duration"] == nil || (l["principal_kind"] != nil) != (w.kind != "") {
			t.Errorf("line %d: %v, want %+v", i, l, w)
		}
		if w.kind != "" && (l["principal_kind"] != w.kind || l["principal_id"] == nil) {
			t.Errorf("line %d: principal %v", i, l)
		}
	}
	if n := len(logs.lines(t, "grpc call")); n != 0 {
		t.Fatalf("%d gRPC lines for REST calls", n)
	}
	conn, err := grpc.NewClient(f.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A made-up request id does not pass an outside call off as the gateway's.
	ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer good", mdRequest, "0123")
	if _, err := testingv1.NewTestingServiceClient(conn).WhoAmI(ctx, &testingv1.WhoAmIRequest{}); err != nil {
		t.Fatal(err)
	}
	g := logs.lines(t, "grpc call")
	if len(g) != 1 || g[0]["method"] != "/tera.testing.v1.TestingService/WhoAmI" || g[0]["code"] != "OK" || g[0]["principal_kind"] != "user" {
		t.Fatalf("gRPC access lines: %v", g)
	}
	if strings.Contains(logs.b.String(), "s3cret-token") || strings.Contains(logs.b.String(), "Bearer") {
		t.Fatal("a credential reached the logs")
	}
}

// A dependency outage is one line when it goes down and one when it is back, however many
// readiness checks (and requests) fail in between.
func TestDependencyOutageLoggedOnce(t *testing.T) {
	var logs lockedBuffer
	var down atomic.Bool
	f := startLogged(t, &logs, Check{Name: "postgres", Fn: func(context.Context) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}})
	do(t, http.MethodGet, f.base+"/readyz")
	down.Store(true)
	for range 5 {
		do(t, http.MethodGet, f.base+"/readyz")
	}
	down.Store(false)
	for range 3 {
		do(t, http.MethodGet, f.base+"/readyz")
	}
	d, b := logs.lines(t, "dependency down"), logs.lines(t, "dependency back")
	if len(d) != 1 || d[0]["dependency"] != "postgres" || d[0]["err"] != "connection refused" {
		t.Fatalf("down lines: %v", d)
	}
	if len(b) != 1 || b[0]["dependency"] != "postgres" || b[0]["down_for"] == nil {
		t.Fatalf("back lines: %v", b)
	}
}

// routed serves plain HTTP routes beside the testing service.
type routed struct {
	testingService
	routes []Route
}

func (r routed) HTTPRoutes() []Route { return r.routes }

// oldStyle registers handlers on the mux itself, past the route table.
type oldStyle struct{ testingService }

func (oldStyle) HTTPRoutes(mux *http.ServeMux) {
	mux.HandleFunc("/sneaky", func(http.ResponseWriter, *http.Request) {})
}

func newWith(t *testing.T, svc Service) (*Server, error) {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	srv, err := New(context.Background(), cfg, Options{Services: []Service{svc}, Authenticator: tokenAuth{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil {
		t.Cleanup(srv.closers.closeAll)
	}
	return srv, err
}

func TestUndeclaredHTTPRouteIsRefusedAtStart(t *testing.T) {
	ok := func(http.ResponseWriter, *http.Request) {}
	for name, c := range map[string]struct {
		svc  Service
		want string
	}{
		"no access":      {routed{routes: []Route{{Path: "/x", Methods: map[string]http.HandlerFunc{"GET": ok}}}}, "/x (testing) has no declared access"},
		"no method":      {routed{routes: []Route{{Path: "/x", Access: &optionsv1.Access{Public: true}}}}, "/x (testing) serves no method"},
		"twice":          {routed{routes: []Route{{Path: "/x", Methods: map[string]http.HandlerFunc{"GET": ok}, Access: &optionsv1.Access{Public: true}}, {Path: "/x", Methods: map[string]http.HandlerFunc{"POST": ok}, Access: &optionsv1.Access{Public: true}}}}, "/x is served by testing and testing"},
		"method in path": {routed{routes: []Route{{Path: "GET /x", Methods: map[string]http.HandlerFunc{"GET": ok}, Access: &optionsv1.Access{Public: true}}}}, `"GET /x" (testing) is not a path`},
		"own mux":        {oldStyle{}, "testing registers HTTP handlers itself"},
		"own credential, not public": {routed{routes: []Route{{Path: "/x", Methods: map[string]http.HandlerFunc{"GET": ok},
			Access: &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_USER}}, Credential: "a key"}}},
			"/x (testing) declares a credential of its own but is not public"},
	} {
		_, err := newWith(t, c.svc)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: want a start-up error with %q, got %v", name, c.want, err)
		}
	}
}

// A declared route serves its methods (HEAD with GET), answers 405 with Allow to the others,
// and a non-public one is authenticated and checked by the server before its handler.
func TestDeclaredHTTPRoutes(t *testing.T) {
	whoami := func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(authn.FromContext(r.Context()).Name))
	}
	svc := routed{routes: []Route{
		{Path: "/open", Methods: map[string]http.HandlerFunc{"GET": whoami, "POST": whoami}, Access: &optionsv1.Access{Public: true}},
		{Path: "/users-only", Methods: map[string]http.HandlerFunc{"GET": whoami}, Access: &optionsv1.Access{Principals: []optionsv1.Principal{optionsv1.Principal_PRINCIPAL_USER}}},
	}}
	svc.routes[0].Methods["GET"] = func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("open")) }
	srv, err := newWith(t, svc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + srv.HTTPAddr()
	if code, body, _ := do(t, http.MethodGet, base+"/open"); code != 200 || body != "open" {
		t.Fatalf("GET /open: %d %q", code, body)
	}
	if code, body, _ := do(t, http.MethodHead, base+"/open"); code != 200 || body != "" {
		t.Fatalf("HEAD /open: %d %q", code, body)
	}
	code, body, h := do(t, http.MethodDelete, base+"/open")
	if code != 405 || h.Get("Allow") != "GET, HEAD, POST" || body != `{"message": "The method is not allowed for the requested URL."}`+"\n" {
		t.Fatalf("DELETE /open: %d %q Allow=%q", code, body, h.Get("Allow"))
	}
	if code, body, _ := do(t, http.MethodGet, base+"/users-only"); code != 401 || body != "Unauthorized" {
		t.Fatalf("no credentials: %d %q", code, body)
	}
	if code, _, _ := do(t, http.MethodGet, base+"/users-only", "Authorization", "Bearer device"); code != 401 {
		t.Fatalf("a device on a users-only route: %d", code)
	}
	if code, body, _ := do(t, http.MethodGet, base+"/users-only", "Authorization", "Bearer good"); code != 200 || body != "Ada" {
		t.Fatalf("a user: %d %q", code, body)
	}
}
