package core

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/store"
)

// NewSessionCleanup returns OpenTera's daily database cleanup (DBManager.cleanup_database): at
// local midnight, past sessions not started become cancelled and past sessions in progress
// terminated. Every core replica runs it; the day is claimed in the database, so it runs once per
// fleet. A failed run is retried every minute until that day is done.
func NewSessionCleanup(pool *pgxpool.Pool, log *slog.Logger) server.Service {
	log = log.With("component", "session-cleanup")
	return server.Background("session-cleanup", func(ctx context.Context) error {
		for {
			wait := time.Until(nextMidnight(time.Now()))
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(wait):
			}
			day := time.Now()
			for {
				ran, n, err := store.ClosePastSessions(ctx, pool, day)
				if err == nil {
					if ran {
						log.InfoContext(ctx, "closed past sessions", "day", day.Format(time.DateOnly), "sessions", n)
					}
					break
				}
				log.WarnContext(ctx, "closing past sessions failed; retrying in a minute", "err", err)
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Minute):
				}
				if time.Since(day) > 23*time.Hour {
					break
				}
			}
		}
	})
}

// nextMidnight is the first local midnight strictly after t.
func nextMidnight(t time.Time) time.Time {
	y, m, d := t.Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, t.Location())
}
