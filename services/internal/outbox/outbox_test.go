package outbox

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func setup(t *testing.T) (*pgxpool.Pool, jetstream.JetStream) {
	t.Helper()
	pool := testenv.FixtureDB(t)
	srv := testenv.NewNATS(t)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range 2 { // idempotent
		if err := EnsureStreams(ctx, js); err != nil {
			t.Fatal(err)
		}
	}
	return pool, js
}

func outboxIDs(t *testing.T, pool *pgxpool.Pool) map[string]bool {
	t.Helper()
	rows, err := pool.Query(context.Background(), `SELECT id::text FROM core.outbox`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]bool{}
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		out[id] = true
	}
	return out
}

// consume reads the whole stream as a consumer that dedups by Nats-Msg-Id would, and returns
// how many times each id was delivered.
func consume(t *testing.T, js jetstream.JetStream, want int) map[string]int {
	t.Helper()
	ctx := context.Background()
	cons, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	total := 0
	deadline := time.Now().Add(10 * time.Second)
	for total < want && time.Now().Before(deadline) {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(500*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			seen[m.Headers().Get(jetstream.MsgIDHeader)]++
			total++
			if !strings.HasPrefix(m.Subject(), "tera.db.") {
				t.Errorf("subject %s", m.Subject())
			}
		}
	}
	return seen
}

func TestCaptureTriggers(t *testing.T) {
	pool, _ := setup(t)
	ctx := context.Background()
	var n int
	if err := pool.QueryRow(ctx, `SELECT count(DISTINCT model) FROM core.outbox`).Scan(&n); err != nil || n < 15 {
		t.Fatalf("seed produced events for %d models (%v)", n, err)
	}
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM core.outbox WHERE object_value LIKE '%user_password%' OR object_value LIKE '%participant_password%'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events leak passwords (%v)", n, err)
	}
	if _, err := pool.Exec(ctx, `UPDATE core.t_participants SET deleted_at = now() WHERE id_participant = 3`); err != nil {
		t.Fatal(err)
	}
	var model, value string
	var kind int
	if err := pool.QueryRow(ctx, `SELECT model, event_type, object_value FROM core.outbox ORDER BY id DESC LIMIT 1`).Scan(&model, &kind, &value); err != nil {
		t.Fatal(err)
	}
	if model != "participant" || kind != 3 || value != `{"id_participant": 3}` {
		t.Fatalf("delete event = %s %d %s", model, kind, value)
	}
	// Bulk loads can switch capture off.
	tx, _ := pool.Begin(ctx)
	_, _ = tx.Exec(ctx, `SET LOCAL tera.outbox = 'off'`)
	var before, after int
	_ = tx.QueryRow(ctx, `SELECT count(*) FROM core.outbox`).Scan(&before)
	if _, err := tx.Exec(ctx, `UPDATE core.t_sites SET site_name = 'x'`); err != nil {
		t.Fatal(err)
	}
	_ = tx.QueryRow(ctx, `SELECT count(*) FROM core.outbox`).Scan(&after)
	_ = tx.Rollback(ctx)
	if before != after {
		t.Fatal("tera.outbox=off still captured")
	}
}

// A relay dies after publishing a batch but before marking it. The next relay publishes the same
// rows again with the same Nats-Msg-Id: nothing is lost, JetStream drops the duplicates, and a
// consumer deduping by message id sees every event exactly once.
func TestRelayCrashBetweenPublishAndMark(t *testing.T) {
	pool, js := setup(t)
	ctx := context.Background()
	all := outboxIDs(t, pool)
	if len(all) < 60 {
		t.Fatalf("only %d outbox rows", len(all))
	}

	crashing := NewRelay(pool, js, testenv.Quiet())
	crashing.batch = 50
	crashing.afterPublish = func([]int64) error { return ErrCrash }
	if _, err := crashing.RelayOnce(ctx); !errors.Is(err, ErrCrash) {
		t.Fatalf("crashing relay: %v", err)
	}
	var marked int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM core.outbox WHERE published_at IS NOT NULL`).Scan(&marked)
	if marked != 0 || crashing.Published() != 50 {
		t.Fatalf("after crash: %d marked, %d published", marked, crashing.Published())
	}

	next := NewRelay(pool, js, testenv.Quiet())
	next.batch = 64
	for {
		n, err := next.RelayOnce(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	var pending int
	_ = pool.QueryRow(ctx, `SELECT count(*) FROM core.outbox WHERE published_at IS NULL`).Scan(&pending)
	if pending != 0 {
		t.Fatalf("%d rows left unpublished", pending)
	}
	if next.Duplicates() != 50 || int(next.Published()+crashing.Published()) != len(all) {
		t.Fatalf("published %d+%d, duplicates %d, rows %d", crashing.Published(), next.Published(), next.Duplicates(), len(all))
	}
	seen := consume(t, js, len(all))
	for id := range all {
		if seen[id] != 1 {
			t.Errorf("outbox id %s delivered %d times", id, seen[id])
		}
	}
	if len(seen) != len(all) {
		t.Errorf("consumer saw %d ids, want %d", len(seen), len(all))
	}
}

// Several relays at once never publish the same row twice.
func TestConcurrentRelays(t *testing.T) {
	pool, js := setup(t)
	ctx := context.Background()
	all := outboxIDs(t, pool)
	relays := []*Relay{NewRelay(pool, js, testenv.Quiet()), NewRelay(pool, js, testenv.Quiet()), NewRelay(pool, js, testenv.Quiet())}
	var wg sync.WaitGroup
	for _, r := range relays {
		r.batch = 10
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n, err := r.RelayOnce(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				if n == 0 {
					return
				}
			}
		}()
	}
	wg.Wait()
	var total, dups int64
	for _, r := range relays {
		total += r.Published()
		dups += r.Duplicates()
	}
	if int(total) != len(all) || dups != 0 {
		t.Fatalf("published %d (duplicates %d), rows %d", total, dups, len(all))
	}
}

// Run wakes up on NOTIFY and publishes a new row as a DatabaseEvent.
func TestRunPublishesNewRows(t *testing.T) {
	pool, js := setup(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := NewRelay(pool, js, testenv.Quiet())
	r.poll = time.Hour // only NOTIFY can wake it
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()

	sub, err := js.OrderedConsumer(ctx, StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"tera.db.site.updated"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if _, err := pool.Exec(ctx, `UPDATE core.t_sites SET site_name = 'Renamed' WHERE id_site = 2`); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.Next(jetstream.FetchMaxWait(10 * time.Second))
	if err != nil {
		t.Fatal(err)
	}
	want := MarshalDatabaseEvent(Update, "site", "")
	if !strings.HasPrefix(string(msg.Data()), string(want)) || !strings.Contains(string(msg.Data()), `"site_name": "Renamed"`) {
		t.Fatalf("payload %q", msg.Data())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
