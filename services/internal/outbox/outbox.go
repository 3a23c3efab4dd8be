// Package outbox is core's transactional outbox (ARCHITECTURE §3).
//
// Rows are written in the writer's transaction: by the capture triggers of migration
// 00003_outbox.sql for every model OpenTera publishes DatabaseEvents for, or explicitly with
// Enqueue. A Relay claims unpublished rows with FOR UPDATE SKIP LOCKED (so several relays never
// publish the same row concurrently), publishes each as a tera.events.v1.DatabaseEvent on
// tera.db.<model>.<created|updated|deleted> with Nats-Msg-Id = the outbox id, then marks them
// published in the same transaction. A relay that dies between publish and mark leaves the rows
// unmarked; the next relay publishes them again with the same message id, which JetStream's
// duplicate window drops, and consumers dedup by message id beyond it.
package outbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/tera-health/tera/pkg/telemetry"
)

// EventType is DatabaseEvent.EventType.
type EventType int16

const (
	Create EventType = 1
	Update EventType = 2
	Delete EventType = 3
)

// Verb is the subject token of an event type.
func (e EventType) Verb() string {
	switch e {
	case Create:
		return "created"
	case Update:
		return "updated"
	case Delete:
		return "deleted"
	}
	return "unknown"
}

// Subject is the JetStream subject of a model's event.
func Subject(model string, e EventType) string { return "tera.db." + model + "." + e.Verb() }

// StreamName is the JetStream stream holding database events.
const StreamName = "TERA_DB"

// DuplicateWindow is how long JetStream remembers message ids. A relay restarted within it never
// delivers a duplicate; consumers still dedup by Nats-Msg-Id for longer outages.
const DuplicateWindow = 10 * time.Minute

// Execer is a pool, connection or transaction.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Enqueue writes an event in the caller's transaction (for events the capture triggers do not
// produce). objectValue is the JSON OpenTera would send.
func Enqueue(ctx context.Context, db Execer, model string, e EventType, objectValue string) error {
	_, err := db.Exec(ctx, `INSERT INTO core.outbox (model, event_type, object_value, traceparent)
		VALUES ($1, $2, $3, nullif(current_setting('tera.traceparent', true), ''))`, model, int16(e), objectValue)
	if err != nil {
		return fmt.Errorf("outbox enqueue: %w", err)
	}
	_, err = db.Exec(ctx, `SELECT pg_notify('tera_outbox', '')`)
	return err
}

// EnsureStreams creates or updates the database-event stream; safe to call at every start.
func EnsureStreams(ctx context.Context, js jetstream.JetStream) error {
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        StreamName,
		Description: "core database events (DatabaseEvent), from the outbox relay",
		Subjects:    []string{"tera.db.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      7 * 24 * time.Hour,
		Duplicates:  DuplicateWindow,
	})
	if err != nil {
		return fmt.Errorf("ensure stream %s: %w", StreamName, err)
	}
	return nil
}

// MarshalDatabaseEvent encodes a tera.events.v1.DatabaseEvent (= opentera.protobuf.DatabaseEvent:
// 1 type enum, 2 object_type string, 3 object_value string) in protobuf wire format.
func MarshalDatabaseEvent(e EventType, objectType, objectValue string) []byte {
	b := make([]byte, 0, 8+len(objectType)+len(objectValue))
	if e != 0 {
		b = append(b, 0x08)
		b = binary.AppendUvarint(b, uint64(e))
	}
	for _, f := range []struct {
		tag byte
		s   string
	}{{0x12, objectType}, {0x1a, objectValue}} {
		if f.s == "" {
			continue
		}
		b = append(b, f.tag)
		b = binary.AppendUvarint(b, uint64(len(f.s)))
		b = append(b, f.s...)
	}
	return b
}

// Relay publishes outbox rows to JetStream.
type Relay struct {
	pool      *pgxpool.Pool
	js        jetstream.JetStream
	log       *slog.Logger
	tracing   *telemetry.Tracing
	batch     int
	poll      time.Duration
	retention time.Duration

	// afterPublish, when set (tests), runs after a batch is published and before it is marked;
	// an error aborts the batch as a crash would.
	afterPublish func(ids []int64) error

	published  atomic.Int64
	duplicates atomic.Int64
}

// NewRelay returns a relay publishing up to 500 rows per transaction, polling every second
// besides LISTEN/NOTIFY wake-ups, and deleting published rows after an hour.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) *Relay {
	return &Relay{pool: pool, js: js, log: log, batch: 500, poll: time.Second, retention: time.Hour}
}

// WithTracing publishes each event written by a traced request in its writer's trace: a
// producer span, child of the writer's span, whose context the message headers carry.
func (r *Relay) WithTracing(t *telemetry.Tracing) *Relay {
	r.tracing = t
	return r
}

// Published is the number of messages this relay published (JetStream accepted as new);
// Duplicates the number JetStream reported as already stored.
func (r *Relay) Published() int64  { return r.published.Load() }
func (r *Relay) Duplicates() int64 { return r.duplicates.Load() }

// Run relays until ctx ends. Errors are logged and retried; it returns nil when ctx is done.
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go r.listen(ctx, wake)
	lastCleanup := time.Time{}
	for {
		n, err := r.RelayOnce(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("outbox relay", "err", err)
		}
		if time.Since(lastCleanup) > time.Minute {
			if _, err := r.pool.Exec(ctx, `DELETE FROM core.outbox WHERE published_at < now() - $1::interval`, r.retention.String()); err != nil && ctx.Err() == nil {
				r.log.Warn("outbox cleanup", "err", err)
			}
			lastCleanup = time.Now()
		}
		if n == r.batch && err == nil {
			continue // more waiting
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(r.poll):
		}
	}
}

func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := r.pool.Acquire(ctx)
		if err != nil {
			sleep(ctx, time.Second)
			continue
		}
		if _, err := conn.Exec(ctx, "LISTEN tera_outbox"); err == nil {
			for {
				if _, err := conn.Conn().WaitForNotification(ctx); err != nil {
					break
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
		conn.Release()
		sleep(ctx, time.Second)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// RelayOnce claims one batch, publishes it and marks it; it returns how many rows it relayed.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	tx, err := r.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer func() { _ = tx.Rollback(ctx) }()
	rows, err := tx.Query(ctx, `SELECT id, model, event_type, object_value, coalesce(traceparent, '') FROM core.outbox
		WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	type row struct {
		id    int64
		model string
		kind  int16
		value string
		trace string
	}
	claimed, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
		var x row
		return x, rw.Scan(&x.id, &x.model, &x.kind, &x.value, &x.trace)
	})
	if err != nil {
		return 0, fmt.Errorf("claim: %w", err)
	}
	if len(claimed) == 0 {
		return 0, nil
	}
	ids := make([]int64, 0, len(claimed))
	// Publish asynchronously, then wait for every ack before marking.
	futures := make([]jetstream.PubAckFuture, 0, len(claimed))
	var spans publishSpans
	if r.tracing != nil {
		spans = make(publishSpans, len(claimed))
		defer spans.end()
	}
	for i, c := range claimed {
		msg := &nats.Msg{
			Subject: Subject(c.model, EventType(c.kind)),
			Data:    MarshalDatabaseEvent(EventType(c.kind), c.model, c.value),
			Header:  nats.Header{},
		}
		msg.Header.Set(jetstream.MsgIDHeader, strconv.FormatInt(c.id, 10))
		if spans != nil && c.trace != "" {
			_, spans[i] = r.tracing.Publish(r.tracing.Continue(ctx, c.trace), msg.Subject, msg.Header)
		}
		f, err := r.js.PublishMsgAsync(msg)
		if err != nil {
			spans.fail(i, err)
			return 0, fmt.Errorf("publish %d: %w", c.id, err)
		}
		futures = append(futures, f)
		ids = append(ids, c.id)
	}
	for i, f := range futures {
		select {
		case ack := <-f.Ok():
			if ack.Duplicate {
				r.duplicates.Add(1)
			} else {
				r.published.Add(1)
			}
		case err := <-f.Err():
			spans.fail(i, err)
			return 0, fmt.Errorf("publish %d: %w", ids[i], err)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if r.afterPublish != nil {
		if err := r.afterPublish(ids); err != nil {
			return 0, err
		}
	}
	if _, err := tx.Exec(ctx, `UPDATE core.outbox SET published_at = now() WHERE id = ANY($1)`, ids); err != nil {
		return 0, fmt.Errorf("mark: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("mark: %w", err)
	}
	return len(ids), nil
}

// publishSpans are the producer spans of a batch, by position (nil for untraced events); they
// end when the batch has its acks or failed.
type publishSpans []trace.Span

func (p publishSpans) fail(i int, err error) {
	if i < len(p) && p[i] != nil {
		telemetry.Error(p[i], err)
	}
}

func (p publishSpans) end() {
	for _, s := range p {
		if s != nil {
			s.End()
		}
	}
}

// ErrCrash is what tests return from afterPublish to simulate a relay dying.
var ErrCrash = errors.New("simulated relay crash")
