// Package dbtrace traces PostgreSQL: a pgx tracer giving each query of a traced request its
// span, and the hand-over of a writer's trace to the outbox relay through the transaction's
// settings (the capture trigger copies tera.traceparent into the outbox row).
package dbtrace

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.40.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/tera-health/tera/pkg/telemetry"
)

// Tracer is a pgx tracer (queries, batches, COPY). Only queries run in a traced context get a
// span: the relay's polling, the readiness pings and the other background work would
// otherwise each start a trace of their own. A span records the statement text, never its
// arguments (passwords, tokens and personal data travel there), and the SQLSTATE of a
// failure, not its message (which may quote a value).
type Tracer struct {
	tracer trace.Tracer
}

// New returns the tracer for a pool's ConnConfig.Tracer; nil when tracing is off, so the pool
// has no tracer at all.
func New(t *telemetry.Tracing) pgx.QueryTracer {
	if t == nil {
		return nil
	}
	return &Tracer{tracer: t.Tracer()}
}

// maxQueryText bounds db.query.text: a bulk statement must not make a span of megabytes.
const maxQueryText = 2048

func (t *Tracer) start(ctx context.Context, conn *pgx.Conn, sql string) context.Context {
	if !trace.SpanFromContext(ctx).IsRecording() {
		return ctx
	}
	op := operation(sql)
	attrs := []attribute.KeyValue{semconv.DBSystemNamePostgreSQL, semconv.DBOperationName(op)}
	if sql != "" {
		if len(sql) > maxQueryText {
			sql = sql[:maxQueryText]
		}
		attrs = append(attrs, semconv.DBQueryText(sql))
	}
	if conn != nil {
		attrs = append(attrs, semconv.DBNamespace(conn.Config().Database))
	}
	ctx, _ = t.tracer.Start(ctx, op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	return ctx
}

func end(ctx context.Context, err error) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		var pe *pgconn.PgError
		code := "error"
		if errors.As(err, &pe) {
			code = pe.Code
			span.SetAttributes(semconv.DBResponseStatusCode(pe.Code))
		}
		span.SetStatus(codes.Error, code)
	}
	span.End()
}

// operation is the statement's first keyword (SELECT, INSERT, BEGIN, ...), the span's name.
func operation(sql string) string {
	sql = strings.TrimSpace(sql)
	for strings.HasPrefix(sql, "--") || strings.HasPrefix(sql, "/*") {
		var rest string
		var ok bool
		if strings.HasPrefix(sql, "--") {
			_, rest, ok = strings.Cut(sql, "\n")
		} else {
			_, rest, ok = strings.Cut(sql, "*/")
		}
		if !ok {
			return "SQL"
		}
		sql = strings.TrimSpace(rest)
	}
	if i := strings.IndexAny(sql, " \t\n\r(;"); i >= 0 {
		sql = sql[:i]
	}
	if sql == "" {
		return "SQL"
	}
	return strings.ToUpper(sql)
}

// TraceQueryStart implements pgx.QueryTracer.
func (t *Tracer) TraceQueryStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	return t.start(ctx, conn, d.SQL)
}

// TraceQueryEnd implements pgx.QueryTracer.
func (t *Tracer) TraceQueryEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryEndData) {
	end(ctx, d.Err)
}

// TraceBatchStart implements pgx.BatchTracer: one span for the batch, an event per query.
func (t *Tracer) TraceBatchStart(ctx context.Context, conn *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	return t.start(ctx, conn, "BATCH")
}

// TraceBatchQuery implements pgx.BatchTracer.
func (t *Tracer) TraceBatchQuery(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchQueryData) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	sql := d.SQL
	if len(sql) > maxQueryText {
		sql = sql[:maxQueryText]
	}
	span.AddEvent("query", trace.WithAttributes(semconv.DBQueryText(sql)))
}

// TraceBatchEnd implements pgx.BatchTracer.
func (t *Tracer) TraceBatchEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchEndData) {
	end(ctx, d.Err)
}

// TraceCopyFromStart implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromStart(ctx context.Context, conn *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	return t.start(ctx, conn, "COPY "+d.TableName.Sanitize())
}

// TraceCopyFromEnd implements pgx.CopyFromTracer.
func (t *Tracer) TraceCopyFromEnd(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromEndData) {
	end(ctx, d.Err)
}

// TxOptions are the options of a write transaction begun in ctx: when ctx is traced, the
// BEGIN also stores the span's traceparent in the transaction-local setting tera.traceparent,
// in the same round trip, for the outbox capture trigger. Zero options when it is not.
func TxOptions(ctx context.Context) pgx.TxOptions {
	tp := telemetry.Traceparent(ctx)
	if tp == "" || strings.Trim(tp, "0123456789abcdef-") != "" {
		// Only ever the hex form our propagator writes: it is spliced into the statement.
		return pgx.TxOptions{}
	}
	return pgx.TxOptions{BeginQuery: "BEGIN; SELECT set_config('tera.traceparent', '" + tp + "', true)"}
}
