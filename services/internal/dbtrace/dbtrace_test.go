package dbtrace

import (
	"context"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestOperation(t *testing.T) {
	for sql, want := range map[string]string{
		"SELECT 1":                          "SELECT",
		"\n\t  insert into core.t_sites(x)": "INSERT",
		"-- name: ListSites\nSELECT *":      "SELECT",
		"/* a */ /* b */ update t":          "UPDATE",
		"WITH x AS (SELECT 1) DELETE":       "WITH",
		"begin":                             "BEGIN",
		"":                                  "SQL",
		"/* unterminated":                   "SQL",
	} {
		if got := operation(sql); got != want {
			t.Errorf("operation(%q) = %q, want %q", sql, got, want)
		}
	}
}

// A transaction begun in a traced context hands its traceparent to the outbox trigger in the
// BEGIN itself; an untraced one gets the default BEGIN.
func TestTxOptions(t *testing.T) {
	if o := TxOptions(context.Background()); o.BeginQuery != "" {
		t.Fatalf("untraced: %q", o.BeginQuery)
	}
	tp := sdktrace.NewTracerProvider()
	defer func() { _ = tp.Shutdown(context.Background()) }()
	ctx, span := tp.Tracer("t").Start(context.Background(), "write")
	defer span.End()
	o := TxOptions(ctx)
	want := "'00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01'"
	if !strings.HasPrefix(o.BeginQuery, "BEGIN; SELECT set_config('tera.traceparent', ") || !strings.Contains(o.BeginQuery, want) {
		t.Fatalf("traced: %q", o.BeginQuery)
	}
}
