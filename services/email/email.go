// Package email is the email target (OpenTera's EmailService): templates scoped global, per
// site or per project (templates.go), and /email/api/send (send.go), whose messages go through
// a durable queue in PostgreSQL (queue.go) delivered over SMTP with go-mail (smtp.go).
package email

import (
	"context"
	"log/slog"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	emailv1 "github.com/tera-health/tera/pkg/api/tera/email/v1"
)

// Options configure the target.
type Options struct {
	DB  *pgxpool.Pool
	Log *slog.Logger
	// SMTP is the server mails go through.
	SMTP SMTP
	// Sender is the From address of every mail; the caller is its display name and Reply-To.
	Sender string
	// MaxAttempts bounds the deliveries of one message before it is given up.
	MaxAttempts int
	// RetryBackoff is the wait after the first failed attempt, doubled after each (at most an
	// hour).
	RetryBackoff time.Duration
	// PollInterval is how often the queue is checked for due messages.
	PollInterval time.Duration
	// Metrics receives the target's metrics; nil registers nothing.
	Metrics prometheus.Registerer
}

// Service is the email target.
type Service struct {
	o      Options
	mailer *mailer
	wake   chan struct{}
	m      metrics
}

type metrics struct {
	sent        prometheus.Counter
	retried     prometheus.Counter
	failed      prometheus.Counter
	unreachable prometheus.Counter
}

// New returns the target; the SMTP settings must be valid (SMTP.Validate).
func New(o Options) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 10
	}
	if o.RetryBackoff <= 0 {
		o.RetryBackoff = 30 * time.Second
	}
	if o.PollInterval <= 0 {
		o.PollInterval = 2 * time.Second
	}
	m, err := newMailer(o.SMTP)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, mailer: m, wake: make(chan struct{}, 1), m: metrics{
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_email_sent_total",
			Help: "Messages the SMTP server accepted."}),
		retried: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_email_retries_total",
			Help: "Delivery attempts that failed temporarily; the message stays queued."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_email_failed_total",
			Help: "Messages given up: refused permanently or too many attempts."}),
		unreachable: prometheus.NewCounter(prometheus.CounterOpts{Name: "tera_email_smtp_unreachable_total",
			Help: "Connections to the SMTP server that failed (connect, TLS or authentication)."}),
	}}
	if o.Metrics != nil {
		o.Metrics.MustRegister(s.m.sent, s.m.retried, s.m.failed, s.m.unreachable)
	}
	return s, nil
}

// Name implements server.Service.
func (s *Service) Name() string { return "email" }

// RegisterGRPC implements server.Service.
func (s *Service) RegisterGRPC(g *grpc.Server) {
	emailv1.RegisterEmailServiceServer(g, &api{Service: s})
}

// RegisterGateway implements server.Service.
func (s *Service) RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error {
	return emailv1.RegisterEmailServiceHandler(ctx, mux, conn)
}

// Run delivers due queued messages until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.o.PollInterval)
	defer t.Stop()
	for {
		s.deliverDue(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-s.wake:
		}
	}
}

type api struct {
	*Service
	emailv1.UnimplementedEmailServiceServer
}
