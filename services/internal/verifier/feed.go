package verifier

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
)

// Feed invalidates a principal cache from core's DatabaseEvents (tera.db.<model>.<op>, which
// the outbox relay publishes right after the writing transaction commits).
//
// It subscribes with plain NATS, not a durable consumer: the cache only needs the events from
// now on, and any gap (disconnect, reconnect, slow consumer) turns the cache off and empties it
// until the subscription is delivering again. So a cached principal is at most as stale as the
// relay's publish latency, and never older than authn.PrincipalCacheTTL when events stop.
type Feed struct {
	Cache *authn.PrincipalCache
	NATS  *nats.Conn
	Log   *slog.Logger
}

// principalModels maps the models whose rows the verifier reads to the kind they affect.
var principalModels = map[string]authn.Kind{
	"user":        authn.KindUser,
	"participant": authn.KindParticipant,
	"device":      authn.KindDevice,
	"service":     authn.KindService,
}

// Run keeps the feed subscribed until ctx ends.
func (f *Feed) Run(ctx context.Context) error {
	defer f.Cache.SetLive(false)
	status := f.NATS.StatusChanged(nats.DISCONNECTED, nats.RECONNECTING, nats.CONNECTED, nats.CLOSED)
	defer f.NATS.RemoveStatusListener(status)
	var subs []*nats.Subscription
	unsubscribe := func() {
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		subs = nil
	}
	defer unsubscribe()
	for _, m := range []string{"user", "participant", "device", "service", "project"} {
		s, err := f.NATS.Subscribe("tera.db."+m+".*", f.handle)
		if err != nil {
			return err
		}
		// A slow consumer would drop events silently; the handler is cheap, so never drop.
		if err := s.SetPendingLimits(-1, -1); err != nil {
			return err
		}
		subs = append(subs, s)
	}
	f.resume(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case st := <-status:
			if st == nats.CONNECTED {
				f.resume(ctx)
			} else {
				f.Cache.SetLive(false)
			}
		}
	}
}

// resume turns the cache on once the server has the subscriptions (a flush round trip), so
// no event published from then on is missed.
func (f *Feed) resume(ctx context.Context) {
	if !f.NATS.IsConnected() {
		return
	}
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := f.NATS.FlushWithContext(fctx); err != nil {
		f.Log.Warn("principal cache stays off: NATS did not confirm the event subscriptions", "err", err)
		f.Cache.SetLive(false)
		return
	}
	f.Cache.SetLive(true)
}

func (f *Feed) handle(m *nats.Msg) {
	parts := strings.Split(m.Subject, ".")
	if len(parts) != 4 {
		return
	}
	model := parts[2]
	if model == "project" {
		// A project's enabled flag decides its participants'; participants are few per cache.
		f.Cache.InvalidateKind(authn.KindParticipant)
		return
	}
	kind, ok := principalModels[model]
	if !ok {
		return
	}
	var ev eventsv1.DatabaseEvent
	if err := proto.Unmarshal(m.Data, &ev); err != nil {
		f.Cache.InvalidateKind(kind)
		return
	}
	var row map[string]json.RawMessage
	var id int64
	if err := json.Unmarshal([]byte(ev.GetObjectValue()), &row); err == nil {
		err = json.Unmarshal(row["id_"+model], &id)
		if err == nil && id > 0 {
			f.Cache.Invalidate(kind, id)
			return
		}
	}
	// An event the feed cannot read still says something of this kind changed.
	f.Log.Warn("database event without an id; dropping every cached principal of its kind", "subject", m.Subject)
	f.Cache.InvalidateKind(kind)
}
