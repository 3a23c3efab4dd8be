package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/tera-health/tera/pkg/telemetry"
)

// A REST call with a caller's traceparent is one trace: the HTTP server span continues the
// caller's, the gateway hop's client span and the gRPC server span follow; the access line and
// the latency histograms carry the trace id; probes (HTTP and gRPC health) are not traced;
// shutdown flushes.
func TestTracedRESTCallIsOneTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	var logs lockedBuffer
	f := startOpts(t, Options{
		Logger:  slog.New(telemetry.LogHandler(slog.NewJSONHandler(&logs, nil))),
		Tracing: telemetry.New(tp, tp.Shutdown),
	})
	const traceID, callerSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	code, _, _ := get(t, f.base+"/api/testing/echo?message=s3cret", "Authorization", "Bearer good",
		"Traceparent", "00-"+traceID+"-"+callerSpan+"-01")
	if code != 200 {
		t.Fatalf("echo: %d", code)
	}
	if code, _, _ := get(t, f.base+"/livez"); code != 200 {
		t.Fatalf("livez: %d", code)
	}
	conn, err := grpc.NewClient(f.srv.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(context.Background(), &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatal(err)
	}
	// Stopped, the server has finished every request: their spans, lines and observations are
	// all in.
	f.cancel()
	select {
	case err := <-f.done:
		f.done <- err // for the cleanup
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop")
	}
	if _, s := tp.Tracer("after").Start(context.Background(), "late"); s.IsRecording() {
		t.Fatal("the tracer provider was not shut down with the server")
	}

	spans := map[trace.SpanKind][]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.SpanKind()] = append(spans[s.SpanKind()], s)
		if s.SpanContext().TraceID().String() != traceID {
			t.Errorf("span %q in trace %s, not the caller's", s.Name(), s.SpanContext().TraceID())
		}
		for _, a := range s.Attributes() {
			if v := a.Value.Emit(); strings.Contains(v, "s3cret") || strings.Contains(v, "good") {
				t.Errorf("span %q attribute %s = %q carries the query or the token", s.Name(), a.Key, v)
			}
		}
	}
	if len(spans[trace.SpanKindServer]) != 2 || len(spans[trace.SpanKindClient]) != 1 {
		t.Fatalf("want 2 server spans (HTTP, gRPC) and 1 client span (the gateway hop), got %v", names(rec.Ended()))
	}
	var httpSpan, grpcSpan sdktrace.ReadOnlySpan
	for _, s := range spans[trace.SpanKindServer] {
		if s.Name() == "GET /api/testing/echo" {
			httpSpan = s
		} else {
			grpcSpan = s
		}
	}
	hop := spans[trace.SpanKindClient][0]
	switch {
	case httpSpan == nil || httpSpan.Parent().SpanID().String() != callerSpan:
		t.Fatalf("HTTP span does not continue the caller's: %v", names(rec.Ended()))
	case hop.Parent().SpanID() != httpSpan.SpanContext().SpanID():
		t.Fatalf("gateway hop %q is not a child of the HTTP span", hop.Name())
	case grpcSpan.Parent().SpanID() != hop.SpanContext().SpanID() || grpcSpan.Name() != "tera.testing.v1.TestingService/Echo":
		t.Fatalf("gRPC server span %q is not a child of the hop", grpcSpan.Name())
	}

	var traced []map[string]any
	for _, l := range logs.lines(t, "http request") {
		if l["route"] == "/api/testing/echo" {
			traced = append(traced, l)
		}
	}
	if len(traced) != 1 || traced[0]["trace_id"] != traceID || traced[0]["span_id"] != httpSpan.SpanContext().SpanID().String() {
		t.Fatalf("access line of the traced call %v, want trace_id %s span_id %s", traced, traceID, httpSpan.SpanContext().SpanID())
	}

	metrics := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
	f.srv.metricsHandler().ServeHTTP(metrics, req)
	body := metrics.Body.String()
	for _, metric := range []string{"tera_http_request_duration_seconds_bucket", "grpc_server_handling_seconds_bucket"} {
		// An exemplar follows the bucket it fell in: `... # {span_id="…",trace_id="…"} value ts`
		// (label order varies).
		if !strings.Contains(grep(grep(body, metric), " # {"), `trace_id="`+traceID+`"`) {
			t.Errorf("%s has no exemplar of the trace:\n%s", metric, grep(body, metric))
		}
	}

}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.SpanKind().String()+" "+s.Name())
	}
	return out
}
