// Package verifier builds the pkg/authn verifier every target of the fleet runs: signing keys
// from the mounted Secret, shared state in NATS KV, principals from schema core in PostgreSQL,
// a local revocation set and a principal cache invalidated by core's DatabaseEvents.
//
// It lives in services/internal, not in pkg/authn: the directory reads core's tables and the
// cache listens to the outbox's subjects, both private to the fleet. pkg/authn keeps what an
// external service needs to verify tokens (key set, claims, KV state, the Directory interface).
package verifier

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
)

// Config locates the key material every process verifies with.
type Config struct {
	// SigningKeysDir holds signing-key-<kid>.pem files (see authn.KeySet).
	SigningKeysDir string
	// DeviceCADir holds ca.crt (and, for the login target, ca.key); optional.
	DeviceCADir string
	// TrustedProxies may forward a client certificate header.
	TrustedProxies []string
}

// maxCachedPrincipals bounds the principal cache (a few hundred bytes each).
const maxCachedPrincipals = 50000

// New builds the verifier of a process. Its revocation set and principal cache stay off (every
// request asks NATS KV and PostgreSQL) until the services of Services run.
func New(ctx context.Context, cfg Config, db *pgxpool.Pool, js jetstream.JetStream) (*authn.Verifier, error) {
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
	v.Revocations = authn.NewRevocationSet(state, slog.Default())
	v.Principals = authn.NewPrincipalCache(authn.PrincipalCacheTTL, maxCachedPrincipals)
	return v, nil
}

// Services are the background loops of a verifier: signing-key reload (rotation without a
// restart), the revocation watcher and the principal cache's event feed.
func Services(v *authn.Verifier, js jetstream.JetStream, log *slog.Logger) []server.Service {
	out := []server.Service{server.Background("signing-key-reloader", func(ctx context.Context) error {
		t := time.NewTicker(authn.ReloadInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				if err := v.Keys.Reload(); err != nil {
					log.Warn("signing keys reload failed; keeping the current keys", "err", err)
				}
			}
		}
	})}
	if v.Revocations != nil {
		out = append(out, server.Background("revocation-watcher", v.Revocations.Run))
	}
	if v.Principals != nil && js != nil {
		f := &Feed{Cache: v.Principals, NATS: js.Conn(), Log: log}
		out = append(out, server.Background("principal-cache-feed", f.Run))
	}
	return out
}

// LoadDeviceCAPool reads ca.crt of a device CA directory for the verifier.
func LoadDeviceCAPool(dir string) (*x509.CertPool, error) {
	b, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("device CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, errors.New("device CA: no certificate in ca.crt")
	}
	return pool, nil
}
