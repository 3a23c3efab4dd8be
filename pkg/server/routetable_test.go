package server

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"testing"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
)

// The route table the access matrix walks: registered gRPC services and declared plain routes.
func TestRouteTableIsListed(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	ok := func(http.ResponseWriter, *http.Request) {}
	svc := routed{routes: []Route{{Path: "/page", Methods: map[string]http.HandlerFunc{"GET": ok, "POST": ok}, Access: &optionsv1.Access{Public: true}}}}
	srv, err := New(context.Background(), cfg, Options{Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)), Services: []Service{svc}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.closers.closeAll()
	if got := srv.PlainRoutes(); len(got) != 1 || got[0].Path != "/page" || len(got[0].Methods) != 2 {
		t.Errorf("routes %v", got)
	}
	if _, ok := srv.GRPCServices()["tera.testing.v1.TestingService"]; !ok {
		t.Errorf("services %v", srv.GRPCServices())
	}
}
