package core

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"

	"github.com/tera-health/tera/services/internal/outbox"
)

// Relay runs the outbox relay inside the core target: every core replica runs one; the outbox
// claim (FOR UPDATE SKIP LOCKED) and Nats-Msg-Id make that safe.
type Relay struct {
	relay *outbox.Relay
	js    jetstream.JetStream
}

// NewRelay returns the relay service of the core target.
func NewRelay(pool *pgxpool.Pool, js jetstream.JetStream, log *slog.Logger) *Relay {
	return &Relay{relay: outbox.NewRelay(pool, js, log.With("component", "outbox-relay")), js: js}
}

// Name of the service.
func (*Relay) Name() string { return "outbox-relay" }

// RegisterGRPC registers nothing: the relay has no API.
func (*Relay) RegisterGRPC(*grpc.Server) {}

// RegisterGateway registers nothing.
func (*Relay) RegisterGateway(context.Context, *runtime.ServeMux, *grpc.ClientConn) error {
	return nil
}

// Run creates the event streams (idempotent) and relays until ctx ends.
func (r *Relay) Run(ctx context.Context) error {
	if err := outbox.EnsureStreams(ctx, r.js); err != nil {
		return fmt.Errorf("ensure event streams: %w", err)
	}
	return r.relay.Run(ctx)
}
