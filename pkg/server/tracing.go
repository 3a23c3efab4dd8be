package server

import (
	"context"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc/filters"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"

	"github.com/tera-health/tera/pkg/telemetry"
)

// With Options.Tracing set, every HTTP request but the probes' and the scraper's has a server
// span; the gateway's hop to gRPC a client span and a server span (otelgrpc, the trace context
// in the call's metadata); gRPC calls from outside a server span continuing their caller's
// trace. The latency histograms carry the trace id as an exemplar (served to scrapers that ask
// for OpenMetrics). Without it, none of this is wired: not even a check per request.

func grpcServerTracing(t *telemetry.Tracing) []grpc.ServerOption {
	if t == nil {
		return nil
	}
	// Health probes and reflection say nothing of a request; like /livez they are not traced.
	untraced := filters.Any(filters.HealthCheck(), filters.ServicePrefix("grpc.reflection."))
	return []grpc.ServerOption{grpc.StatsHandler(otelgrpc.NewServerHandler(
		otelgrpc.WithTracerProvider(t.Provider), otelgrpc.WithPropagators(t.Propagator), otelgrpc.WithFilter(filters.Not(untraced))))}
}

func grpcClientTracing(t *telemetry.Tracing) []grpc.DialOption {
	if t == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithStatsHandler(otelgrpc.NewClientHandler(
		otelgrpc.WithTracerProvider(t.Provider), otelgrpc.WithPropagators(t.Propagator)))}
}

// startHTTPSpan starts the server span of r, continuing a trace its caller passed in
// traceparent. Only the route pattern is recorded, set when the request ends: raw paths carry
// ids and query strings tokens.
func startHTTPSpan(t *telemetry.Tracing, r *http.Request) (context.Context, trace.Span) {
	ctx := t.Propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	return t.Tracer().Start(ctx, r.Method, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method)))
}

func endHTTPSpan(span trace.Span, method, route string, code int) {
	span.SetName(method + " " + route)
	span.SetAttributes(semconv.HTTPRoute(route), semconv.HTTPResponseStatusCode(code))
	if code >= 500 {
		span.SetStatus(codes.Error, http.StatusText(code))
	}
	span.End()
}

// exemplar is the trace of an observation made in ctx, for the latency histograms.
func exemplar(ctx context.Context) prometheus.Labels {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsSampled() {
		return nil
	}
	return prometheus.Labels{"trace_id": sc.TraceID().String(), "span_id": sc.SpanID().String()}
}

func observe(ctx context.Context, o prometheus.Observer, v float64) {
	if e := exemplar(ctx); e != nil {
		if eo, ok := o.(prometheus.ExemplarObserver); ok {
			eo.ObserveWithExemplar(v, e)
			return
		}
	}
	o.Observe(v)
}
