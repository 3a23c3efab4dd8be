package core_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/tera-health/tera/pkg/telemetry"
)

// BenchmarkGetParticipantsByProject is the hot path of OpenTeraPlus over HTTP, through the
// whole server (gateway, gRPC, authentication, access rules, PostgreSQL), as a project admin.
// hack/loadtest measures the same request under concurrency against a running fleet.
//
//	go test ./core -run '^$' -bench GetParticipants
//
// The traced variant samples every request into an exporter that drops the spans: the cost of
// tracing on (the plain ones are tracing off, the default).
func BenchmarkGetParticipantsByProject(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	envs := map[string]*env{"": newEnv(b), "/traced": newTracedEnv(b, telemetry.New(tp, nil))}
	for _, c := range []struct{ name, who, env string }{
		{"basic", "user3", ""}, {"token", "user3/token", ""}, {"token/traced", "user3/token", "/traced"},
	} {
		e := envs[c.env]
		b.Run(c.name, func(b *testing.B) {
			auth := e.auth(c.who)
			req, _ := http.NewRequest("GET", e.base+"/api/user/participants?id_project=1", nil)
			req.Header.Set("Authorization", auth)
			for b.Loop() {
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
