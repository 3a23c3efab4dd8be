package core

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/outbox"
)

// NewRelay returns the outbox relay of the core target: every core replica runs one; the
// outbox claim (FOR UPDATE SKIP LOCKED) and Nats-Msg-Id make that safe. It creates the event
// streams (idempotent) before relaying.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger, t *telemetry.Tracing) server.Service {
	relay := outbox.NewRelay(pool, js, log.With("component", "outbox-relay")).WithTracing(t)
	return server.Background("outbox-relay", func(ctx context.Context) error {
		if err := outbox.EnsureStreams(ctx, js); err != nil {
			return fmt.Errorf("ensure event streams: %w", err)
		}
		return relay.Run(ctx)
	})
}
