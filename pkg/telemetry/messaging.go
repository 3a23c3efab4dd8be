package telemetry

import (
	"context"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Messages carry trace context in their headers (NATS headers are MIME headers, as HTTP's), so
// a consumer's span continues the trace of the request that caused the message.

// Publish starts the producer span of a message to subject, child of the span in ctx, and
// writes its context into header. End the span once the server acknowledged the message.
// With tracing off it returns ctx and a no-op span and leaves header alone.
func (t *Tracing) Publish(ctx context.Context, subject string, header map[string][]string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	ctx, span := t.tracer.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(messagingAttrs(subject, "send")...))
	t.Propagator.Inject(ctx, propagation.HeaderCarrier(http.Header(header)))
	return ctx, span
}

// Consume starts the consumer span of a message received on subject, continuing the trace in
// its header. A message without trace context (from a writer that was not traced) gets no
// span: background consumers would otherwise start one trace per event.
func (t *Tracing) Consume(ctx context.Context, consumer, subject string, header map[string][]string) (context.Context, trace.Span) {
	if t == nil || len(header) == 0 {
		return ctx, noSpan
	}
	pctx := t.Propagator.Extract(ctx, propagation.HeaderCarrier(http.Header(header)))
	if !trace.SpanContextFromContext(pctx).IsValid() {
		return ctx, noSpan
	}
	attrs := append(messagingAttrs(subject, "process"), attribute.String("messaging.consumer.group.name", consumer))
	return t.tracer.Start(pctx, "process "+subject, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...))
}

// Continue is the context of a trace a remote writer passed as a W3C traceparent (the outbox
// row's copy of its writer's span), or ctx when tp is empty or malformed.
func (t *Tracing) Continue(ctx context.Context, traceparent string) context.Context {
	if t == nil || traceparent == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}

// Traceparent is the W3C traceparent of the span in ctx, or "" when it is not recorded.
func Traceparent(ctx context.Context) string {
	if !Traced(ctx) {
		return ""
	}
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// noSpan is what callers end when nothing was started: never the span of their context.
var noSpan = trace.SpanFromContext(context.Background())

func messagingAttrs(subject, op string) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("messaging.system", "nats"),
		attribute.String("messaging.destination.name", subject),
		attribute.String("messaging.operation.type", op),
	}
}
