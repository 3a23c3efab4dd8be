// Package testenv gives tests real dependencies: one throwaway PostgreSQL cluster per test
// binary (fsync off, on tmpfs when there is one) with a template database migrated once and
// cloned per test, and an embedded NATS server with JetStream. Nothing is mocked.
//
// Use it from any package's tests:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
//
//	func TestX(t *testing.T) {
//		pool := testenv.DB(t)      // fresh, migrated database
//		natsURL := testenv.NATS(t) // shared JetStream server
//	}
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	gnatsd "github.com/nats-io/nats-server/v2/server"

	"github.com/tera-health/tera/services/internal/migrations"
	"github.com/tera-health/tera/services/internal/natsserver"
	"github.com/tera-health/tera/services/internal/pgcluster"
	"github.com/tera-health/tera/services/internal/seed"
)

const (
	templateDB = "tera_template"
	fixtureDB  = "tera_fixture"
)

var (
	mu       sync.Mutex
	rootDir  string
	cluster  *pgcluster.Cluster
	template bool
	fixture  bool
	nats     *gnatsd.Server
	cleanups []func()
)

// Main runs the tests and then stops whatever the tests started, even when they failed.
func Main(m *testing.M) {
	code := m.Run()
	shutdown()
	os.Exit(code)
}

func shutdown() {
	mu.Lock()
	defer mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	cleanups = nil
	if rootDir != "" {
		os.RemoveAll(rootDir)
	}
}

// Quiet is a logger for code under test that would otherwise flood the test output.
func Quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ensureRoot() (string, error) {
	if rootDir != "" {
		return rootDir, nil
	}
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	removeStale(base)
	dir, err := os.MkdirTemp(base, fmt.Sprintf("tera-testenv-%d-", os.Getpid()))
	if err != nil {
		return "", fmt.Errorf("create test dir: %w", err)
	}
	// PostgreSQL runs as an unprivileged user when we are root: let it traverse to its data dir.
	if err := os.Chmod(dir, 0o711); err != nil {
		return "", fmt.Errorf("open test dir: %w", err)
	}
	rootDir = dir
	return dir, nil
}

// Cluster returns the test binary's PostgreSQL cluster, starting it on first use.
func Cluster(t testing.TB) *pgcluster.Cluster {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	c, err := clusterLocked()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return c
}

func clusterLocked() (*pgcluster.Cluster, error) {
	if cluster != nil {
		return cluster, nil
	}
	dir, err := ensureRoot()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir:   filepath.Join(dir, "pg"),
		Ephemeral: true,
	})
	if err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	cluster = c
	cleanups = append(cleanups, func() { _ = c.Stop(context.Background()) })
	return c, nil
}

// AdminURL is the URL of the cluster's `postgres` database, for tests that manage databases
// themselves.
func AdminURL(t testing.TB) string {
	return Cluster(t).URL("postgres")
}

func ensureTemplateLocked(ctx context.Context) error {
	if template {
		return nil
	}
	c, err := clusterLocked()
	if err != nil {
		return err
	}
	if err := recreate(ctx, c.URL("postgres"), templateDB, "CREATE DATABASE "+templateDB); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, c.URL(templateDB))
	if err != nil {
		return fmt.Errorf("connect template: %w", err)
	}
	err = migrations.Apply(ctx, pool, Quiet())
	pool.Close()
	if err != nil {
		return fmt.Errorf("migrate template: %w", err)
	}
	template = true
	return nil
}

// recreate drops what an earlier, interrupted attempt left of a template database before
// creating it, so one timed-out preparation does not fail every later test with "already exists".
func recreate(ctx context.Context, url, name, create string) error {
	if err := exec(ctx, url, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
		return err
	}
	return exec(ctx, url, create)
}

func exec(ctx context.Context, url, sql string) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// ensureFixtureLocked seeds OpenTera's test fixture once into a second template: seeding hashes
// a dozen passwords with bcrypt, which would otherwise cost every test that needs the fixture.
func ensureFixtureLocked(ctx context.Context) error {
	if fixture {
		return nil
	}
	if err := ensureTemplateLocked(ctx); err != nil {
		return err
	}
	if err := recreate(ctx, cluster.URL("postgres"), fixtureDB, fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY", fixtureDB, templateDB)); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, cluster.URL(fixtureDB))
	if err != nil {
		return fmt.Errorf("connect fixture template: %w", err)
	}
	err = seed.TestData(ctx, pool)
	pool.Close()
	if err != nil {
		return fmt.Errorf("seed fixture template: %w", err)
	}
	fixture = true
	return nil
}

// prepare makes a template once. It has its own bound, longer than a clone's: migrating and
// seeding under -race on a busy 2-core machine has taken over two minutes, and the bound is
// a hang guard, not a budget.
func prepare(ensure func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	return ensure(ctx)
}

// DatabaseURL returns the URL of a fresh database cloned from the migrated template. It is
// dropped when the test passes and kept, with its name logged, when it fails.
func DatabaseURL(t testing.TB) string {
	t.Helper()
	return clone(t, templateDB, ensureTemplateLocked)
}

// FixtureURL is DatabaseURL holding OpenTera's test fixture (seed.TestData, REFERENCE §8).
func FixtureURL(t testing.TB) string {
	t.Helper()
	return clone(t, fixtureDB, ensureFixtureLocked)
}

// FixtureDB is DB holding OpenTera's test fixture.
func FixtureDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return connect(t, FixtureURL(t))
}

func clone(t testing.TB, template string, ensure func(context.Context) error) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "t_" + randomHex(6)
	mu.Lock()
	err := prepare(ensure)
	if err == nil {
		// Serialised: CREATE DATABASE refuses a template another backend is copying from.
		err = exec(ctx, cluster.URL("postgres"), fmt.Sprintf("CREATE DATABASE %s TEMPLATE %s STRATEGY FILE_COPY", name, template))
	}
	c := cluster
	mu.Unlock()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("testenv: kept database %s of failed test %s: psql %q", name, t.Name(), c.URL(name))
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = exec(ctx, c.URL("postgres"), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return c.URL(name)
}

// DB returns a pool on a fresh migrated database; closed and dropped at the end of the test.
func DB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return connect(t, DatabaseURL(t))
}

func connect(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatalf("testenv: connect %s: %v", url, err)
	}
	// Registered after DatabaseURL's cleanup, so it runs first: close, then drop.
	t.Cleanup(pool.Close)
	return pool
}

// NATS returns the URL of the test binary's shared NATS server with JetStream. Tests sharing
// it should use their own subjects and stream names, or NewNATS for a private server.
func NATS(t testing.TB) string {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	if nats == nil {
		dir, err := ensureRoot()
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		s, err := natsserver.Start(natsserver.Options{StoreDir: filepath.Join(dir, "nats")})
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		nats = s
		cleanups = append(cleanups, func() { s.Shutdown(); s.WaitForShutdown() })
	}
	return nats.ClientURL()
}

// NewNATS starts a private NATS server for one test, shut down when the test ends; the test may
// shut it down earlier to simulate an outage.
func NewNATS(t testing.TB) *gnatsd.Server {
	t.Helper()
	s, err := natsserver.Start(natsserver.Options{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// removeStale deletes the directories of test binaries that were killed before their cleanup
// ran (a timeout, a Ctrl-C): their PostgreSQL died with them (Pdeathsig), their files did not.
func removeStale(base string) {
	if base == "" {
		base = os.TempDir()
	}
	dirs, _ := filepath.Glob(filepath.Join(base, "tera-testenv-*"))
	for _, d := range dirs {
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(d), "tera-testenv-%d-", &pid); err != nil || pid <= 0 {
			continue
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); os.IsNotExist(err) {
			_ = os.RemoveAll(d)
		}
	}
}
