// Package migrations holds Tera's database schema as embedded, forward-only SQL migrations and
// applies them. Applying is safe when several migrators start at once: a PostgreSQL session
// advisory lock serialises them, so one applies and the others find nothing left to do.
package migrations

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed sql/*.sql
var embedded embed.FS

// VersionTable records applied migrations. It lives in public so that it exists before any of
// the schemas the migrations create.
const VersionTable = "tera_schema_migrations"

// ErrDatabaseNewer means the database was migrated by a newer Tera than this binary. Running
// against it could corrupt data the newer schema relies on, so callers must refuse to start.
var ErrDatabaseNewer = errors.New("database schema is newer than this binary")

// Latest is the highest migration version embedded in this binary.
func Latest() (int64, error) {
	entries, err := fs.ReadDir(embedded, "sql")
	if err != nil {
		return 0, fmt.Errorf("list embedded migrations: %w", err)
	}
	var latest int64
	for _, e := range entries {
		v, err := goose.NumericComponent(e.Name())
		if err != nil {
			return 0, fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		latest = max(latest, v)
	}
	return latest, nil
}

func newProvider(pool *pgxpool.Pool) (*goose.Provider, error) {
	sub, err := fs.Sub(embedded, "sql")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return nil, fmt.Errorf("create migration lock: %w", err)
	}
	var db = stdlibDB(pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker),
		goose.WithTableName(VersionTable),
	)
	if err != nil {
		return nil, fmt.Errorf("load migrations: %w", err)
	}
	return p, nil
}

// Apply migrates the database to the latest embedded version and reports what it applied.
// It returns ErrDatabaseNewer (wrapped) when the database is ahead of this binary.
func Apply(ctx context.Context, pool *pgxpool.Pool, log *slog.Logger) error {
	p, err := newProvider(pool)
	if err != nil {
		return err
	}
	if err := checkNotNewer(ctx, p); err != nil {
		return err
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	for _, r := range results {
		log.Info("migration applied", "version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Current returns the version the database is at (0 when never migrated).
func Current(ctx context.Context, pool *pgxpool.Pool) (int64, error) {
	p, err := newProvider(pool)
	if err != nil {
		return 0, err
	}
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return 0, fmt.Errorf("read schema version: %w", err)
	}
	return v, nil
}

func checkNotNewer(ctx context.Context, p *goose.Provider) error {
	v, err := p.GetDBVersion(ctx)
	if err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	srcs := p.ListSources()
	var latest int64
	if len(srcs) > 0 {
		latest = srcs[len(srcs)-1].Version
	}
	if v > latest {
		return fmt.Errorf("%w: database is at version %d, this binary knows up to %d; upgrade tera", ErrDatabaseNewer, v, latest)
	}
	return nil
}
