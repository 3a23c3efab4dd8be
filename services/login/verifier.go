package login

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
)

// VerifierConfig locates the key material every process verifies with.
type VerifierConfig struct {
	// SigningKeysDir holds signing-key-<kid>.pem files (see authn.KeySet).
	SigningKeysDir string
	// DeviceCADir holds ca.crt (and, for the login target, ca.key); optional.
	DeviceCADir string
	// TrustedProxies may forward a client certificate header.
	TrustedProxies []string
}

// NewVerifier builds the pkg/authn verifier of a process: keys from the mounted Secret, state in
// NATS KV, principals in PostgreSQL.
func NewVerifier(ctx context.Context, cfg VerifierConfig, db *pgxpool.Pool, js jetstream.JetStream) (*authn.Verifier, error) {
	keys, err := authn.LoadKeySet(cfg.SigningKeysDir)
	if err != nil {
		return nil, err
	}
	// NATS may not be up yet: the process must still start (and report unready), so the
	// buckets it cannot bind now are bound on first use.
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	state, err := authn.OpenState(sctx, js)
	if err != nil {
		slog.Warn("authentication state not reachable yet; binding on first use", "err", err)
	}
	v := authn.NewVerifier(keys, state, &Directory{DB: db}, authn.VerifierOptions{})
	if v.TrustedProxies, err = authn.ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		return nil, err
	}
	if cfg.DeviceCADir != "" {
		if v.DeviceCA, err = LoadDeviceCAPool(cfg.DeviceCADir); err != nil {
			return nil, fmt.Errorf("device CA: %w", err)
		}
	}
	return v, nil
}
