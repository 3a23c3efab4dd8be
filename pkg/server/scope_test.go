package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	testingv1 "github.com/tera-health/tera/pkg/api/tera/testing/v1"
	"github.com/tera-health/tera/pkg/authn"
)

// scopedReached counts the calls that reached the Scoped handler.
var scopedReached atomic.Int32

// Scoped checks nothing itself: the declared permission is all that guards it.
func (testingService) Scoped(context.Context, *testingv1.ScopedRequest) (*testingv1.ScopedResponse, error) {
	scopedReached.Add(1)
	return &testingv1.ScopedResponse{Reached: true}, nil
}

// HasPermission grants admin on site 1 only, and only for the declared kind of object.
func (testingService) HasPermission(_ context.Context, c *authn.Caller, perm optionsv1.Permission, obj optionsv1.Object, id int64) (bool, error) {
	return c.Kind == authn.KindUser && perm == optionsv1.Permission_PERMISSION_ADMIN && obj == optionsv1.Object_OBJECT_SITE && id == 1, nil
}

func TestDeclaredPermissionRefusedWithoutHandlerCheck(t *testing.T) {
	f := start(t)
	post := func(body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, f.base+"/api/testing/scoped", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer good")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	scopedReached.Store(0)
	if code, body := post(`{"target": {"id_site": 2}}`); code != 403 || !strings.Contains(body, "No admin access to site") {
		t.Fatalf("lacking the permission: %d %s", code, body)
	}
	if scopedReached.Load() != 0 {
		t.Fatal("the handler ran for a caller without the declared permission")
	}
	for _, body := range []string{`{"target": {"id_site": 1}}`, `{"target": {"id_site": 0}}`, `{"target": {}}`, `{}`} {
		if code, b := post(body); code != 200 || !strings.Contains(b, "true") {
			t.Errorf("%s: %d %s", body, code, b)
		}
	}
	if scopedReached.Load() != 4 {
		t.Errorf("handler reached %d times, want 4 (granted, zero and absent scopes)", scopedReached.Load())
	}
}

// noChecker registers the testing service from a Service that cannot check its scopes.
type noChecker struct{}

func (noChecker) Name() string { return "nochecker" }
func (noChecker) RegisterGRPC(s *grpc.Server) {
	testingv1.RegisterTestingServiceServer(s, testingService{})
}
func (noChecker) RegisterGateway(context.Context, *runtime.ServeMux, *grpc.ClientConn) error {
	return nil
}

func TestScopeWithoutCheckerRefusesToStart(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	_, err := New(context.Background(), cfg, Options{Services: []Service{noChecker{}}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err == nil || !strings.Contains(err.Error(), "/tera.testing.v1.TestingService/Scoped") || !strings.Contains(err.Error(), "PermissionChecker") {
		t.Fatalf("want a start-up error naming the method, got %v", err)
	}
}
