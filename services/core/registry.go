package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/store"
)

// NewServiceRegistry registers the external services of the configuration in core.t_services
// (OpenTera's ServiceLauncher registry, without spawning processes). Every core replica runs it
// once at start; store.RegisterServices serializes them under an advisory lock and writes only
// what changed, so the fleet registers each service once whatever the number of replicas. While
// PostgreSQL cannot be reached it retries every few seconds.
func NewServiceRegistry(pool *pgxpool.Pool, log *slog.Logger, regs []store.ServiceRegistration) server.Service {
	log = log.With("component", "service-registry")
	return server.Background("service-registry", func(ctx context.Context) error {
		if len(regs) == 0 {
			return nil
		}
		for {
			res, err := store.RegisterServices(ctx, pool, regs)
			if err == nil {
				for _, r := range res {
					if r.Skipped != "" {
						log.WarnContext(ctx, "external service not registered", "service_key", r.Key, "reason", r.Skipped)
						continue
					}
					log.InfoContext(ctx, "external service registered", "service_key", r.Key, "service_uuid", r.UUID)
				}
				return nil
			}
			log.WarnContext(ctx, "registering external services failed; retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(3 * time.Second):
			}
		}
	})
}
