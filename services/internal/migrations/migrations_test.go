package migrations_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/migrations"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// emptyDB creates an empty database (not cloned from the migrated template) and returns a pool.
func emptyDB(t *testing.T) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	name := fmt.Sprintf("mig_%d", time.Now().UnixNano())
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgxpool.ParseConfig(testenv.AdminURL(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Database = name
	cfg.MaxConns = 8
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		pool.Close()
		if !t.Failed() {
			c, err := pgx.Connect(context.Background(), testenv.AdminURL(t))
			if err == nil {
				_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
				c.Close(context.Background())
			}
		}
	})
	return pool
}

// Several migrators starting at once on an empty database: exactly one applies each migration,
// the others wait on the advisory lock and find nothing left to do; all succeed.
func TestConcurrentMigratorsApplyOnce(t *testing.T) {
	pool := emptyDB(t)
	ctx := context.Background()
	const migrators = 4
	var wg sync.WaitGroup
	errs := make([]error, migrators)
	start := make(chan struct{})
	for i := range migrators {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			// Each migrator gets its own pool, as separate processes would.
			p, err := pgxpool.NewWithConfig(ctx, pool.Config())
			if err != nil {
				errs[i] = err
				return
			}
			defer p.Close()
			errs[i] = migrations.Apply(ctx, p, testenv.Quiet())
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrator %d: %v", i, err)
		}
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	cur, err := migrations.Current(ctx, pool)
	if err != nil {
		t.Fatal(err)
	}
	if cur != latest {
		t.Fatalf("database at %d, want %d", cur, latest)
	}
	// Each version recorded exactly once.
	var rows, distinct int
	if err := pool.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM public.`+migrations.VersionTable+` WHERE version_id > 0`).Scan(&rows, &distinct); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || int64(rows) != latest {
		t.Fatalf("version table has %d rows, %d distinct, want %d", rows, distinct, latest)
	}
	// Applying again is a no-op.
	if err := migrations.Apply(ctx, pool, testenv.Quiet()); err != nil {
		t.Fatalf("re-apply: %v", err)
	}
}

// A database migrated by a newer binary is refused with ErrDatabaseNewer.
func TestNewerDatabaseIsRefused(t *testing.T) {
	pool := testenv.DB(t)
	ctx := context.Background()
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO public.`+migrations.VersionTable+` (version_id, is_applied) VALUES ($1, true)`, latest+1); err != nil {
		t.Fatal(err)
	}
	err = migrations.Apply(ctx, pool, testenv.Quiet())
	if !errors.Is(err, migrations.ErrDatabaseNewer) {
		t.Fatalf("Apply on a newer database: got %v, want ErrDatabaseNewer", err)
	}
}
