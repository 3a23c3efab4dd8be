// Package telemetry is Tera's OpenTelemetry tracing: set up from the standard OTEL_*
// environment, off unless that environment asks for an exporter. Off means nothing at all: no
// provider, no stats handlers, no pgx tracer, no log wrapper; every caller holds a nil
// *Tracing and skips its instrumentation on that one nil check.
//
// What is traced when on: the HTTP request (pkg/server), the gateway's gRPC hop (client and
// server spans, otelgrpc), gRPC calls from outside, PostgreSQL queries with a traced parent
// (services/internal/dbtrace), the outbox relay's publish of each event written by a traced
// request and the consumers of those events (trace context in the NATS message headers). Span
// attributes never carry payloads, query strings, headers or SQL parameter values.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of Tera's own spans.
const ScopeName = "github.com/tera-health/tera"

// Tracing is an installed tracer provider and propagator. A nil *Tracing is tracing off; its
// methods are safe to call and do nothing.
type Tracing struct {
	Provider   trace.TracerProvider
	Propagator propagation.TextMapPropagator
	tracer     trace.Tracer
	shutdown   func(context.Context) error
}

// New wraps a provider (tests pass an SDK provider with an in-memory exporter). The W3C trace
// context and baggage propagators are used.
func New(tp trace.TracerProvider, shutdown func(context.Context) error) *Tracing {
	return &Tracing{
		Provider:   tp,
		Propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		tracer:     tp.Tracer(ScopeName),
		shutdown:   shutdown,
	}
}

// Tracer is Tera's tracer; nil when off.
func (t *Tracing) Tracer() trace.Tracer {
	if t == nil {
		return nil
	}
	return t.tracer
}

// Shutdown flushes the spans still queued and stops the exporter, within ctx.
func (t *Tracing) Shutdown(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	return t.shutdown(ctx)
}

// Enabled reports whether the environment asks for traces: OTEL_TRACES_EXPORTER names an
// exporter other than none, or, with OTEL_TRACES_EXPORTER unset, an OTLP endpoint is set.
// OTEL_SDK_DISABLED=true turns everything off. Unlike the specification's default exporter
// (otlp), nothing is exported without one of these: a fleet without a collector must not pay
// for spans nobody receives, nor log export failures.
func Enabled() bool {
	on, _ := exporterName()
	return on != ""
}

func exporterName() (string, error) {
	if strings.EqualFold(os.Getenv("OTEL_SDK_DISABLED"), "true") {
		return "", nil
	}
	v := strings.TrimSpace(os.Getenv("OTEL_TRACES_EXPORTER"))
	if v == "" {
		if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
			return "otlp", nil
		}
		return "", nil
	}
	// A list is allowed by the specification; Tera exports to one.
	name := strings.TrimSpace(strings.Split(v, ",")[0])
	switch name {
	case "none":
		return "", nil
	case "otlp", "console":
		return name, nil
	}
	return "", fmt.Errorf("OTEL_TRACES_EXPORTER: %q is not one of otlp, console, none", v)
}

// FromEnv installs a tracer provider configured by the OTEL_* environment, or returns nil
// (tracing off) when the environment asks for none. service is the default service.name
// (OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override it), version its service.version.
//
// Honoured: OTEL_SDK_DISABLED, OTEL_TRACES_EXPORTER (otlp, console, none),
// OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL (grpc, http/protobuf; default http/protobuf),
// OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,INSECURE,TIMEOUT,COMPRESSION,CERTIFICATE,...}
// (read by the exporters), OTEL_TRACES_SAMPLER[_ARG], OTEL_BSP_* and OTEL_SPAN_*_LIMIT (read
// by the SDK), OTEL_PROPAGATORS (tracecontext, baggage, none), OTEL_SERVICE_NAME and
// OTEL_RESOURCE_ATTRIBUTES.
func FromEnv(ctx context.Context, service, version string) (*Tracing, error) {
	name, err := exporterName()
	if err != nil || name == "" {
		return nil, err
	}
	prop, err := propagatorsFromEnv()
	if err != nil {
		return nil, err
	}
	var exp sdktrace.SpanExporter
	switch name {
	case "console":
		exp, err = stdouttrace.New(stdouttrace.WithWriter(os.Stderr))
	default:
		exp, err = otlpExporter(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("trace exporter: %w", err)
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(service), semconv.ServiceVersion(version)),
		resource.WithTelemetrySDK(), resource.WithHost(), resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	t := New(tp, tp.Shutdown)
	t.Propagator = prop
	return t, nil
}

func otlpExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	proto := os.Getenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "grpc":
		return otlptracegrpc.New(ctx)
	case "", "http/protobuf":
		return otlptracehttp.New(ctx)
	}
	return nil, fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL: %q is not one of grpc, http/protobuf", proto)
}

func propagatorsFromEnv() (propagation.TextMapPropagator, error) {
	v := os.Getenv("OTEL_PROPAGATORS")
	if v == "" {
		v = "tracecontext,baggage"
	}
	var ps []propagation.TextMapPropagator
	for _, n := range strings.Split(v, ",") {
		switch strings.TrimSpace(n) {
		case "tracecontext":
			ps = append(ps, propagation.TraceContext{})
		case "baggage":
			ps = append(ps, propagation.Baggage{})
		case "none", "":
		default:
			return nil, fmt.Errorf("OTEL_PROPAGATORS: %q is not one of tracecontext, baggage, none", n)
		}
	}
	return propagation.NewCompositeTextMapPropagator(ps...), nil
}

// Traced reports whether ctx carries a span being recorded (a sampled trace).
func Traced(ctx context.Context) bool {
	return trace.SpanFromContext(ctx).IsRecording()
}

// Error records err on span and marks it failed.
func Error(span trace.Span, err error) {
	if err == nil {
		return
	}
	span.RecordError(err)
	span.SetStatus(codes.Error, err.Error())
}
