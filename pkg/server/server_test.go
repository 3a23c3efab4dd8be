package server

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	testingv1 "github.com/tera-health/tera/pkg/api/tera/testing/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
)

type testingService struct {
	testingv1.UnimplementedTestingServiceServer
}

func (testingService) Name() string { return "testing" }
func (t testingService) RegisterGRPC(s *grpc.Server) {
	testingv1.RegisterTestingServiceServer(s, t)
}
func (testingService) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return testingv1.RegisterTestingServiceHandler(ctx, mux, conn)
}

func (testingService) Echo(_ context.Context, r *testingv1.EchoRequest) (*testingv1.EchoResponse, error) {
	if r.FailWith != "" {
		var c codes.Code
		if err := c.UnmarshalJSON([]byte(`"` + r.FailWith + `"`)); err != nil {
			return nil, apierr.InvalidArgument("unknown code " + r.FailWith)
		}
		return nil, status.Error(c, "failed as asked")
	}
	return &testingv1.EchoResponse{Message: r.Message}, nil
}

func (testingService) Panic(context.Context, *testingv1.PanicRequest) (*testingv1.PanicResponse, error) {
	var m map[string]int
	m["boom"] = 1 // nil map write: a real runtime panic
	return nil, nil
}

func (testingService) WhoAmI(ctx context.Context, _ *testingv1.WhoAmIRequest) (*testingv1.WhoAmIResponse, error) {
	c := authn.FromContext(ctx)
	return &testingv1.WhoAmIResponse{Kind: c.Kind.String(), Name: c.Name}, nil
}

// tokenAuth admits "Bearer good" as user Ada.
type tokenAuth struct{}

func (tokenAuth) Authenticate(ctx context.Context) (*authn.Caller, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) == 0 {
		return nil, nil
	}
	if auth[0] == "Bearer good" {
		return &authn.Caller{Kind: authn.KindUser, Name: "Ada"}, nil
	}
	if auth[0] == "Bearer device" {
		return &authn.Caller{Kind: authn.KindDevice, Name: "Robot"}, nil
	}
	return nil, errors.New("bad token")
}

type fixture struct {
	srv    *Server
	base   string
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, checks ...Check) *fixture {
	t.Helper()
	return startLogged(t, io.Discard, checks...)
}

// startLogged starts the test server with its JSON logs written to w.
func startLogged(t *testing.T, w io.Writer, checks ...Check) *fixture {
	t.Helper()
	return startOpts(t, Options{Logger: slog.New(slog.NewJSONHandler(w, nil)), Checks: checks})
}

// startOpts starts the test server with opts completed by the testing service and its
// authenticator.
func startOpts(t *testing.T, opts Options) *fixture {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTP.Listen = "127.0.0.1:0"
	cfg.GRPC.Listen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 2e9
	opts.Authenticator, opts.Services, opts.OpenAPI = tokenAuth{}, []Service{testingService{}}, []byte(`{"swagger":"2.0"}`)
	srv, err := New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fixture{srv: srv, base: "http://" + srv.HTTPAddr(), cancel: cancel, done: make(chan error, 1)}
	go func() { f.done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-f.done:
		case <-time.After(10 * time.Second):
			t.Error("server did not stop")
		}
	})
	return f
}

func get(t *testing.T, url string, header ...string) (int, string, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	return send(t, req, header...)
}

// send sends req with the header pairs and returns status, body and headers.
func send(t *testing.T, req *http.Request, header ...string) (int, string, http.Header) {
	t.Helper()
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestPanicReturnsErrorAndServerKeepsServing(t *testing.T) {
	f := start(t)
	code, body, _ := get(t, f.base+"/api/testing/panic")
	if code != http.StatusInternalServerError || !strings.Contains(body, "Internal Server Error") {
		t.Fatalf("panic over REST: %d %q", code, body)
	}
	conn, err := grpc.NewClient(f.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, err = testingv1.NewTestingServiceClient(conn).Panic(context.Background(), &testingv1.PanicRequest{})
	if status.Code(err) != codes.Internal {
		t.Fatalf("panic over gRPC: want Internal, got %v", err)
	}
	code, body, _ = get(t, f.base+"/api/testing/echo?message=still+here")
	if code != 200 || !strings.Contains(body, `"message":"still here"`) {
		t.Fatalf("server not serving after panic: %d %q", code, body)
	}
	_, metrics, _ := get(t, f.base+"/metrics")
	if !strings.Contains(metrics, "tera_grpc_panics_recovered_total 2") {
		t.Fatalf("panics not counted:\n%s", grep(metrics, "panics"))
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestErrorsMapToOpenTeraStatusCodes(t *testing.T) {
	f := start(t)
	for failWith, want := range map[string]int{
		"INVALID_ARGUMENT": 400, "PERMISSION_DENIED": 403, "NOT_FOUND": 404, "ALREADY_EXISTS": 409,
		"UNAVAILABLE": 503, "INTERNAL": 500,
	} {
		code, body, _ := get(t, f.base+"/api/testing/echo?fail_with="+failWith)
		if code != want {
			t.Errorf("%s: got %d %q, want %d", failWith, code, body, want)
		}
		if want == 500 && strings.Contains(body, "failed as asked") {
			t.Errorf("internal error text leaked: %q", body)
		}
	}
	code, _, _ := get(t, f.base+"/api/testing/nothing-here")
	if code != 404 {
		t.Errorf("unknown path: %d", code)
	}
}

func TestAuthenticationHookAndDeclaredAccess(t *testing.T) {
	f := start(t)
	code, body, h := get(t, f.base+"/api/testing/whoami")
	if code != 401 || body != "Unauthorized" || !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("no credentials: %d %q %q", code, body, h.Get("Content-Type"))
	}
	if code, _, _ := get(t, f.base+"/api/testing/whoami", "Authorization", "Bearer forged"); code != 401 {
		t.Fatalf("bad credentials: %d", code)
	}
	if code, _, _ := get(t, f.base+"/api/testing/whoami", "Authorization", "Bearer device"); code != 401 {
		t.Fatalf("device on a user-only method: %d, want 401 (a credential of the wrong kind, as OpenTera)", code)
	}
	code, body, _ = get(t, f.base+"/api/testing/whoami", "Authorization", "Bearer good")
	if code != 200 || !strings.Contains(body, `"name":"Ada"`) || !strings.Contains(body, "PRINCIPAL_USER") {
		t.Fatalf("good credentials: %d %q", code, body)
	}
}

func TestReadinessFollowsDependenciesLivenessDoesNot(t *testing.T) {
	var down atomic.Bool
	f := start(t, Check{Name: "postgres", Fn: func(context.Context) error {
		if down.Load() {
			return errors.New("connection refused")
		}
		return nil
	}})
	if code, _, _ := get(t, f.base+"/readyz"); code != 200 {
		t.Fatalf("readyz with dependency up: %d", code)
	}
	down.Store(true)
	code, body, _ := get(t, f.base+"/readyz")
	if code != 503 || !strings.Contains(body, "[-]postgres failed") {
		t.Fatalf("readyz with dependency down: %d %q", code, body)
	}
	if code, _, _ := get(t, f.base+"/livez"); code != 200 {
		t.Fatalf("livez must not depend on dependencies: %d", code)
	}
	down.Store(false)
	if code, _, _ := get(t, f.base+"/readyz"); code != 200 {
		t.Fatalf("readyz after recovery: %d", code)
	}
}

func TestHealthReflectionDocsAndBodyLimit(t *testing.T) {
	f := start(t)
	conn, err := grpc.NewClient(f.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("grpc health: %v", err)
	}
	if code, body, _ := get(t, f.base+"/doc"); code != 200 || !strings.Contains(body, "swagger-ui") {
		t.Fatalf("/doc: %d", code)
	}
	if code, _, _ := get(t, f.base+"/doc/assets/swagger-ui-bundle.js"); code != 200 {
		t.Fatalf("/doc assets: %d", code)
	}
	if code, body, _ := get(t, f.base+"/doc/openapi.json"); code != 200 || !strings.Contains(body, "swagger") {
		t.Fatalf("/doc/openapi.json: %d", code)
	}
	big := strings.NewReader(strings.Repeat("x", 9<<20))
	resp, err := http.Post(f.base+"/api/testing/echo", "application/json", big)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get(ReasonHeader) != "ERROR_REASON_TOO_LARGE" {
		t.Fatalf("oversized body: %d", resp.StatusCode)
	}
}

func TestMethodWithoutAccessOptionIsRefusedAtStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	_, err := New(context.Background(), cfg, Options{Services: []Service{undeclared{}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "/tera.testing.v1.Undeclared/Call") {
		t.Fatalf("want start-up error naming the method, got %v", err)
	}
}

// undeclared registers a service whose descriptor has no access option (a hand-made desc).
type undeclared struct{}

func (undeclared) Name() string { return "undeclared" }
func (undeclared) RegisterGRPC(s *grpc.Server) {
	s.RegisterService(&grpc.ServiceDesc{
		ServiceName: "tera.testing.v1.Undeclared",
		HandlerType: (*any)(nil),
		Methods:     []grpc.MethodDesc{{MethodName: "Call", Handler: nil}},
	}, struct{}{})
}
func (undeclared) RegisterGateway(context.Context, *runtime.ServeMux, *grpc.ClientConn) error {
	return nil
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	f := start(t)
	f.cancel()
	select {
	case err := <-f.done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("shutdown exceeded its bound")
	}
	f.done <- nil // for the cleanup
}
