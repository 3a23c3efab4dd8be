package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

var otelVars = []string{"OTEL_SDK_DISABLED", "OTEL_TRACES_EXPORTER", "OTEL_EXPORTER_OTLP_ENDPOINT",
	"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_PROPAGATORS"}

// Tracing is off unless the environment names an exporter or an endpoint; bad values are
// errors naming the variable.
func TestFromEnv(t *testing.T) {
	for _, c := range []struct {
		name string
		env  map[string]string
		on   bool
		err  string
	}{
		{name: "nothing set", env: nil},
		{name: "endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}, on: true},
		{name: "traces endpoint, grpc", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, on: true},
		{name: "console", env: map[string]string{"OTEL_TRACES_EXPORTER": "console"}, on: true},
		{name: "exporter none beats endpoint", env: map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x:4318"}},
		{name: "sdk disabled", env: map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"}},
		{name: "unknown exporter", env: map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, err: "OTEL_TRACES_EXPORTER"},
		{name: "unknown protocol", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, err: "OTEL_EXPORTER_OTLP_PROTOCOL"},
		{name: "unknown propagator", env: map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_PROPAGATORS": "b3"}, err: "OTEL_PROPAGATORS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, v := range otelVars {
				t.Setenv(v, c.env[v])
			}
			tr, err := FromEnv(context.Background(), "tera-test", "v0")
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("want an error naming %s, got %v", c.err, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = tr.Shutdown(context.Background()) }()
			if (tr != nil) != c.on || Enabled() != c.on {
				t.Fatalf("tracing on = %v (Enabled %v), want %v", tr != nil, Enabled(), c.on)
			}
		})
	}
}

func recorded(t *testing.T) (*Tracing, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return New(tp, tp.Shutdown), rec
}

// Lines logged in a traced context name the trace and span, through WithAttrs and WithGroup;
// others do not.
func TestLogHandler(t *testing.T) {
	tr, _ := recorded(t)
	var buf bytes.Buffer
	log := slog.New(LogHandler(slog.NewJSONHandler(&buf, nil))).With("target", "core").WithGroup("g")
	ctx, span := tr.Tracer().Start(context.Background(), "request")
	log.InfoContext(ctx, "traced", "k", "v")
	span.End()
	log.InfoContext(context.Background(), "untraced")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	var traced, untraced map[string]any
	_ = json.Unmarshal([]byte(lines[0]), &traced)
	_ = json.Unmarshal([]byte(lines[1]), &untraced)
	g, _ := traced["g"].(map[string]any)
	if g["trace_id"] != span.SpanContext().TraceID().String() || g["span_id"] != span.SpanContext().SpanID().String() || traced["target"] != "core" {
		t.Fatalf("traced line: %s", lines[0])
	}
	if strings.Contains(lines[1], "trace_id") {
		t.Fatalf("untraced line names a trace: %s", lines[1])
	}
}

// A message published in a trace carries it; its consumer's span continues it. Off, or on a
// message without trace context, nothing is started, and ending what is returned never ends
// the caller's span.
func TestMessageTraceContext(t *testing.T) {
	tr, rec := recorded(t)
	ctx, writer := tr.Tracer().Start(context.Background(), "writer")
	header := http.Header{"Nats-Msg-Id": {"7"}}
	_, pub := tr.Publish(ctx, "tera.db.site.updated", header)
	pub.End()
	if header.Get("Traceparent") == "" || header.Get("Nats-Msg-Id") != "7" {
		t.Fatalf("headers: %v", header)
	}
	cctx, consume := tr.Consume(context.Background(), "usermanager", "tera.db.site.updated", header)
	consume.End()
	if consume.SpanContext().TraceID() != writer.SpanContext().TraceID() || trace.SpanFromContext(cctx) != consume {
		t.Fatal("the consumer's span does not continue the writer's trace")
	}
	ended := rec.Ended()
	if len(ended) != 2 || ended[1].Parent().SpanID() != ended[0].SpanContext().SpanID() || ended[1].SpanKind() != trace.SpanKindConsumer {
		t.Fatalf("want publish then its child process span, got %d spans", len(ended))
	}

	for name, tracing := range map[string]*Tracing{"off": nil, "on, no context": tr} {
		h := http.Header{}
		_, s := tracing.Consume(ctx, "c", "s", h)
		s.End()
		if s.IsRecording() || !writer.IsRecording() {
			t.Fatalf("%s: Consume started a span or ended the caller's", name)
		}
	}
	var off *Tracing
	h := http.Header{}
	_, s := off.Publish(ctx, "s", h)
	s.End()
	if len(h) != 0 || !writer.IsRecording() {
		t.Fatal("Publish with tracing off wrote headers or ended the caller's span")
	}
	if tp := Traceparent(ctx); !strings.Contains(tp, writer.SpanContext().TraceID().String()) {
		t.Fatalf("Traceparent = %q", tp)
	}
	if Traceparent(context.Background()) != "" || off.Continue(ctx, "00-x") != ctx {
		t.Fatal("Traceparent or Continue made something of nothing")
	}
	writer.End()
}
