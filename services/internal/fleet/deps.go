package fleet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/dbtrace"
)

// Deps are the shared resources the targets of one process use.
type Deps struct {
	Config Config
	// Log publishes its warnings and errors as LogEvents (logstream.Tee) when NATS is in use.
	Log *slog.Logger
	// LocalLog only writes to the process's output: for the logging target's own pipeline,
	// whose failures must not feed events back into itself.
	LocalLog *slog.Logger
	// Metrics is the process's registry, served at /metrics.
	Metrics *prometheus.Registry
	DB      *pgxpool.Pool
	NATS    *nats.Conn
	JS      jetstream.JetStream
	// Verifier authenticates callers locally (pkg/authn); nil when no signing keys are
	// configured.
	Verifier *authn.Verifier
	// Keys are the signing keys of the process's verifier (also when a caller supplied it):
	// core signs asset access tokens with them. Nil without keys.
	Keys *authn.KeySet
	// Tracing is the process's tracing (pkg/telemetry); nil when off.
	Tracing *telemetry.Tracing
}

// OpenDB connects a pool; the database may be down: the pool reconnects and readiness reports it.
func OpenDB(ctx context.Context, c DatabaseConfig) (*pgxpool.Pool, error) {
	return OpenTracedDB(ctx, c, nil)
}

// OpenTracedDB is OpenDB whose queries in traced requests get spans (services/internal/dbtrace);
// t nil is OpenDB.
func OpenTracedDB(ctx context.Context, c DatabaseConfig, t *telemetry.Tracing) (*pgxpool.Pool, error) {
	pc, err := pgxpool.ParseConfig(c.URL)
	if err != nil {
		// pgx errors may echo the DSN; don't wrap it.
		return nil, errors.New("database.url: cannot parse the PostgreSQL URL")
	}
	pc.MaxConns = c.MaxConns
	if tr := dbtrace.New(t); tr != nil {
		pc.ConnConfig.Tracer = tr
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("open database pool: %w", err)
	}
	return pool, nil
}

// OpenNATS connects to NATS, retrying in the background when the server is not up yet, so a
// NATS outage at start makes the pod unready, not crash-looping.
func OpenNATS(c NATSConfig, log *slog.Logger, name string) (*nats.Conn, jetstream.JetStream, error) {
	opts := []nats.Option{
		nats.Name(name),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("nats reconnected", "server", nc.ConnectedUrlRedacted()) }),
	}
	if c.CredentialsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredentialsFile))
	}
	nc, err := nats.Connect(c.URL, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("connect nats: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("jetstream: %w", err)
	}
	return nc, js, nil
}

// Checks are the readiness checks of the dependencies in use.
func (d *Deps) Checks() []server.Check {
	var checks []server.Check
	if d.DB != nil {
		checks = append(checks, server.Check{Name: "postgres", Fn: func(ctx context.Context) error {
			conn, err := d.DB.Acquire(ctx)
			if err != nil {
				return errors.New("cannot reach PostgreSQL")
			}
			defer conn.Release()
			if err := conn.Ping(ctx); err != nil {
				return errors.New("PostgreSQL does not answer")
			}
			return nil
		}})
	}
	if d.NATS != nil {
		checks = append(checks, server.Check{Name: "nats", Fn: func(ctx context.Context) error {
			if !d.NATS.IsConnected() {
				return errors.New("not connected to NATS")
			}
			if err := d.NATS.FlushWithContext(ctx); err != nil {
				return errors.New("NATS does not answer")
			}
			return nil
		}})
	}
	return checks
}
