// Package logging is the logging target (OpenTera's LoggingService): a durable JetStream
// consumer stores the LogEvents and LoginEvents every target publishes (consumer.go) in schema
// logging, expired entries are deleted in batches (retention.go), and /log/api/logging/*
// serves them with OpenTera's filters and access rules (api.go).
package logging

import (
	"context"
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	loggingv1 "github.com/tera-health/tera/pkg/api/tera/logging/v1"
)

// Options configure the target.
type Options struct {
	DB *pgxpool.Pool
	JS jetstream.JetStream
	// Log is the API's logger. PipelineLog is the consumer's and the purge's, and must not feed
	// back into the log stream (fleet.Deps.LocalLog): a failure to store would otherwise publish
	// an event that fails to store, and so on.
	Log, PipelineLog *slog.Logger
	// Level is the least severe event stored (OpenTera's Logging.level); 0 stores everything.
	Level eventsv1.LogEvent_LogLevel
	// Retention deletes entries older than this every PurgeInterval, PurgeBatch rows per
	// statement; 0 keeps everything.
	Retention     time.Duration
	PurgeInterval time.Duration
	PurgeBatch    int
	// Metrics receives the target's metrics; nil registers nothing.
	Metrics prometheus.Registerer
}

// Service is the logging target.
type Service struct {
	o Options
	m metrics
}

type metrics struct {
	stored      *prometheus.CounterVec
	filtered    prometheus.Counter
	invalid     prometheus.Counter
	storeErrors prometheus.Counter
	purged      *prometheus.CounterVec
	batchSize   prometheus.Histogram
}

// New returns the target.
func New(o Options) *Service {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.PipelineLog == nil {
		o.PipelineLog = o.Log
	}
	if o.PurgeInterval <= 0 {
		o.PurgeInterval = time.Hour
	}
	if o.PurgeBatch <= 0 {
		o.PurgeBatch = 5000
	}
	s := &Service{o: o, m: metrics{
		stored: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tera_logging_stored_total",
			Help: "Events stored, by kind (log, login)."}, []string{"kind"}),
		filtered: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_logging_filtered_total",
			Help: "Events consumed and not stored: less severe than logging.level."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_logging_invalid_total",
			Help: "Messages terminated: not a LogEvent or LoginEvent, or refused by the database as data."}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_logging_store_errors_total",
			Help: "Failed attempts to store a batch (the batch is retried)."}),
		purged: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tera_logging_purged_total",
			Help: "Entries deleted by retention, by table."}, []string{"table"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "tera_logging_batch_size",
			Help: "Messages per stored batch.", Buckets: prometheus.ExponentialBuckets(1, 4, 6)}),
	}}
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.m.stored, s.m.filtered, s.m.invalid, s.m.storeErrors, s.m.purged, s.m.batchSize)
	}
	return s
}

// Name implements server.Service.
func (s *Service) Name() string { return "logging" }

// RegisterGRPC implements server.Service.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	loggingv1.RegisterLoggingServiceServer(g, &api{Service: s})
}

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return loggingv1.RegisterLoggingServiceHandler(ctx, mux, conn)
}

// Run consumes events and purges expired entries until ctx ends. Unacknowledged messages stay
// in the stream for the next replica or the next start.
func (s *Service) Run(ctx context.Context) error {
	g, ctx := errgroup.WithContext(ctx)
	g.Go(func() error { return s.consume(ctx) })
	if s.o.Retention > 0 {
		g.Go(func() error { s.retain(ctx); return nil })
	}
	return g.Wait()
}
