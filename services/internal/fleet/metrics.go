package fleet

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
)

// scrapeTimeout bounds the queries a scrape makes, so a dependency outage slows /metrics by at
// most this much (and reports tera_scrape_errors) instead of hanging it.
const scrapeTimeout = 2 * time.Second

// outboxCollector reports the transactional outbox's backlog at scrape time: what the relays
// have not yet published and how old the oldest such row is (the events' lag).
type outboxCollector struct {
	db              *pgxpool.Pool
	pending, oldest *prometheus.Desc
	errors          prometheus.Counter
}

func newOutboxCollector(db *pgxpool.Pool) *outboxCollector {
	return &outboxCollector{db: db,
		pending: prometheus.NewDesc("tera_outbox_pending_events", "Outbox rows not yet published to JetStream.", nil, nil),
		oldest: prometheus.NewDesc("tera_outbox_oldest_pending_seconds",
			"Age of the oldest unpublished outbox row (0 when none): how far events lag behind writes.", nil, nil),
		errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_outbox_scrape_errors_total",
			Help: "Scrapes that could not read the outbox backlog."}),
	}
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.pending
	ch <- c.oldest
	c.errors.Describe(ch)
}

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	var n int64
	var age float64
	// The partial index outbox_unpublished keeps this cheap however large the table grows.
	err := c.db.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM core.outbox WHERE published_at IS NULL`).Scan(&n, &age)
	if err != nil {
		c.errors.Inc()
	} else {
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(n))
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, age)
	}
	c.errors.Collect(ch)
}

// consumerRef names a durable JetStream consumer a target owns.
type consumerRef struct{ Stream, Consumer string }

// consumerLagCollector reports, for the durable consumers of this process's targets, the
// messages not yet delivered (pending) and delivered but not acknowledged (ack pending): the
// NATS consumer lag. Delivery stops silently when ack pending reaches MaxAckPending, so both
// are exported with that limit.
type consumerLagCollector struct {
	js                                 jetstream.JetStream
	refs                               []consumerRef
	pending, ackPending, maxAckPending *prometheus.Desc
	redelivered                        *prometheus.Desc
	errors                             *prometheus.CounterVec
}

func newConsumerLagCollector(js jetstream.JetStream, refs []consumerRef) *consumerLagCollector {
	l := []string{"stream", "consumer"}
	return &consumerLagCollector{js: js, refs: refs,
		pending:       prometheus.NewDesc("tera_nats_consumer_pending_messages", "Messages of the stream the durable consumer has not delivered yet.", l, nil),
		ackPending:    prometheus.NewDesc("tera_nats_consumer_ack_pending_messages", "Messages delivered and not yet acknowledged.", l, nil),
		maxAckPending: prometheus.NewDesc("tera_nats_consumer_max_ack_pending", "The consumer's MaxAckPending: delivery stops when ack pending reaches it.", l, nil),
		redelivered:   prometheus.NewDesc("tera_nats_consumer_redelivered_messages", "Messages delivered more than once and not yet acknowledged.", l, nil),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tera_nats_consumer_scrape_errors_total",
			Help: "Scrapes that could not read a consumer's state (consumer not created yet, NATS down)."}, l),
	}
}

func (c *consumerLagCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.pending, c.ackPending, c.maxAckPending, c.redelivered} {
		ch <- d
	}
	c.errors.Describe(ch)
}

func (c *consumerLagCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	for _, r := range c.refs {
		cons, err := c.js.Consumer(ctx, r.Stream, r.Consumer)
		var info *jetstream.ConsumerInfo
		if err == nil {
			info, err = cons.Info(ctx)
		}
		if err != nil {
			c.errors.WithLabelValues(r.Stream, r.Consumer).Inc()
			continue
		}
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, r.Stream, r.Consumer)
		}
		gauge(c.pending, float64(info.NumPending))
		gauge(c.ackPending, float64(info.NumAckPending))
		gauge(c.maxAckPending, float64(info.Config.MaxAckPending))
		gauge(c.redelivered, float64(info.NumRedelivered))
	}
	c.errors.Collect(ch)
}
