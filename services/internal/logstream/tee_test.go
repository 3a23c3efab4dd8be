package logstream

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// Warn and Error records are published as LogEvents with their attributes; Info is not; every
// record still reaches the wrapped handler.
func TestTeePublishesWarningsAndErrors(t *testing.T) {
	nc, err := nats.Connect(testenv.NewNATS(t).ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	sub, err := nc.SubscribeSync(SubjectLogPrefix + ">")
	if err != nil {
		t.Fatal(err)
	}
	tee := NewTee(nc, "tera.test")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tee.Run(ctx) }()
	var out bytes.Buffer
	log := slog.New(tee.Handler(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelInfo})))
	log.Info("just info")
	log.With("component", "relay").WithGroup("db").Warn("slow query", "took", 3*time.Second, "sql", "SELECT 1")
	log.Error("failed", slog.Group("req", "path", "/api/user/sites"))

	var got []*eventsv1.LogEvent
	for len(got) < 2 {
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("after %d events: %v", len(got), err)
		}
		ev := &eventsv1.LogEvent{}
		if err := proto.Unmarshal(m.Data, ev); err != nil {
			t.Fatal(err)
		}
		if want := Subject(ev.Level); m.Subject != want {
			t.Errorf("subject %s, want %s", m.Subject, want)
		}
		got = append(got, ev)
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("unexpected event on %s", m.Subject)
	}
	if got[0].Level != eventsv1.LogEvent_LOGLEVEL_WARNING || got[0].Sender != "tera.test" ||
		got[0].Message != `slow query component=relay db.took=3s db.sql="SELECT 1"` {
		t.Errorf("warning: %v", got[0])
	}
	if got[1].Level != eventsv1.LogEvent_LOGLEVEL_ERROR || got[1].Message != "failed req.path=/api/user/sites" {
		t.Errorf("error: %v", got[1])
	}
	if time.Since(time.Unix(int64(got[1].Timestamp), 0)) > time.Minute {
		t.Errorf("timestamp %v", got[1].Timestamp)
	}
	for _, want := range []string{"just info", "slow query", "failed"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("wrapped handler missed %q: %s", want, out.String())
		}
	}
	cancel()
	<-done
}

// A full queue drops records instead of blocking the caller.
func TestTeeNeverBlocks(t *testing.T) {
	nc, err := nats.Connect(testenv.NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	tee := NewTee(nc, "tera.test") // not running: nothing drains the queue
	log := slog.New(tee.Handler(slog.DiscardHandler))
	for i := 0; i < QueueSize+100; i++ {
		log.Warn("flood") // a blocking send would hang here
	}
	if n := len(tee.q); n != QueueSize {
		t.Fatalf("queue holds %d records, want %d", n, QueueSize)
	}
	if d := testutil.ToFloat64(tee.dropped); d != 100 {
		t.Fatalf("%v records counted as dropped, want 100", d)
	}
}
