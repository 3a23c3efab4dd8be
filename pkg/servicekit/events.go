package servicekit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
)

// Subjects and streams of the contract (ARCHITECTURE §3).
const (
	// DatabaseStream holds core's DatabaseEvents on tera.db.<model>.<created|updated|deleted>.
	DatabaseStream = "TERA_DB"
	// SubjectDatabase is the prefix of database event subjects.
	SubjectDatabase = "tera.db."
)

// DatabaseSubject is the subject of one model's events ("*" for every event type).
func DatabaseSubject(model, verb string) string { return SubjectDatabase + model + "." + verb }

// Event is one DatabaseEvent delivered to the service.
type Event struct {
	Subject string
	// Model is the object type ("participant", "session", ...); Verb is created, updated or
	// deleted.
	Model, Verb string
	Type        eventsv1.DatabaseEvent_EventType
	// Object is OpenTera's JSON of the row; on delete, {"id_<model>": id}.
	Object json.RawMessage
	// MsgID is the outbox id (Nats-Msg-Id): the same event redelivered has the same MsgID, so a
	// handler with side effects dedups by it.
	MsgID string
	// Delivered counts deliveries of this event (1 the first time).
	Delivered uint64
}

// ConsumerName is the durable consumer of a service: one per service key, shared by its
// replicas, so each event reaches one replica once.
func ConsumerName(serviceKey string) string { return "service-" + natsToken(serviceKey) }

// natsToken makes a service key usable as one subject token or consumer name.
func natsToken(key string) string {
	return strings.NewReplacer(".", "_", " ", "_", "*", "_", ">", "_").Replace(key)
}

// EventHandler handles one event; an error redelivers it later (with backoff, up to
// maxDeliver deliveries), so handlers must be idempotent.
type EventHandler func(ctx context.Context, e Event) error

const maxDeliver = 10

// ConsumeDatabaseEvents delivers the DatabaseEvents of models (e.g. "participant", "session")
// to handle until ctx ends, through the service's durable consumer (created or updated here,
// so a restart resumes where the service stopped; deliver policy "new" when first created).
func (k *Kit) ConsumeDatabaseEvents(ctx context.Context, models []string, handle EventHandler) error {
	if k.JS == nil {
		return errors.New("events need NATS (TERA_NATS_URL)")
	}
	return ConsumeDatabaseEvents(ctx, k.JS, ConsumerName(k.Config.ServiceKey), models, handle)
}

// ConsumeDatabaseEvents is Kit.ConsumeDatabaseEvents on a given JetStream and consumer name.
func ConsumeDatabaseEvents(ctx context.Context, js jetstream.JetStream, durable string, models []string, handle EventHandler) error {
	if len(models) == 0 {
		return errors.New("no model to consume")
	}
	subjects := make([]string, len(models))
	for i, m := range models {
		subjects[i] = DatabaseSubject(m, "*")
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, DatabaseStream, jetstream.ConsumerConfig{
		Durable:        durable,
		Description:    "database events of an external service",
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverNewPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        30 * time.Second,
		MaxDeliver:     maxDeliver,
		MaxAckPending:  1000,
	})
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", durable, DatabaseStream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		e, perr := parseEvent(m)
		if perr != nil {
			_ = m.Term() // never readable: redelivering would not help
			return
		}
		if err := handle(ctx, e); err != nil {
			_ = m.NakWithDelay(retryDelay(e.Delivered))
			return
		}
		_ = m.Ack()
	})
	if err != nil {
		return fmt.Errorf("consume %s: %w", durable, err)
	}
	<-ctx.Done()
	cc.Drain()
	<-cc.Closed()
	return nil
}

// retryDelay is the wait before redelivering an event its handler failed: 1 s, doubling, at
// most 30 s.
func retryDelay(delivered uint64) time.Duration {
	d := time.Second
	for i := uint64(1); i < delivered && d < 30*time.Second; i++ {
		d *= 2
	}
	return min(d, 30*time.Second)
}

func parseEvent(m jetstream.Msg) (Event, error) {
	var ev eventsv1.DatabaseEvent
	if err := proto.Unmarshal(m.Data(), &ev); err != nil {
		return Event{}, err
	}
	e := Event{Subject: m.Subject(), Type: ev.GetType(), Object: json.RawMessage(ev.GetObjectValue()), Model: ev.GetObjectType(),
		MsgID: m.Headers().Get("Nats-Msg-Id")}
	parts := strings.Split(m.Subject(), ".")
	if len(parts) == 4 {
		e.Verb = parts[3]
		if e.Model == "" {
			e.Model = parts[2]
		}
	}
	if md, err := m.Metadata(); err == nil {
		e.Delivered = md.NumDelivered
	}
	return e, nil
}
