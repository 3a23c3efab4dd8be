// Package devmode is `tera dev`: the whole fleet in one process with everything it needs —
// an embedded NATS server with JetStream, PostgreSQL from --database-url or a private cluster
// started from the binaries on the machine, the schema migrated and defaults seeded — and a
// banner with the URL and credentials. Stopping it stops everything it started.
package devmode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/migrations"
	"github.com/tera-health/tera/services/internal/natsserver"
	"github.com/tera-health/tera/services/internal/pgcluster"
)

// Options of `tera dev`.
type Options struct {
	Listen      string
	GRPCListen  string
	DataDir     string
	DatabaseURL string
	// NATSPort is the embedded NATS server's port on 127.0.0.1 (0: a free one); printed in the
	// banner, for the nats CLI and load drivers.
	NATSPort int
	TestData bool
	// ServicesFile is a tera.yaml whose external_services are registered and routed beside the
	// fleet (README "Writing an external service").
	ServicesFile string
	Log          *slog.Logger
	LogConfig    server.LogConfig
	// Out receives the banner.
	Out io.Writer
}

// Seeder fills a freshly migrated database; set by the seed package's wiring in cmd/tera.
type Seeder func(ctx context.Context, pool *pgxpool.Pool, testData bool) (Credentials, error)

// Credentials are printed in the banner.
type Credentials struct {
	Username, Password, Note string
}

// DefaultDataDir is $XDG_DATA_HOME/tera (~/.local/share/tera); for root, /var/lib/tera, because
// PostgreSQL then runs as an unprivileged user who cannot enter /root.
func DefaultDataDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/tera"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "tera")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "tera")
	}
	return filepath.Join(home, ".local", "share", "tera")
}

// Run starts everything, prints the banner when the fleet is ready, and stops everything in
// reverse order when ctx ends.
func Run(ctx context.Context, opts Options, seed Seeder) (err error) {
	log := opts.Log
	files, err := devBlob(opts.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir %s: %w", opts.DataDir, err)
	}
	if os.Geteuid() == 0 {
		// Let the unprivileged PostgreSQL user traverse to its own directory.
		if err := os.Chmod(opts.DataDir, 0o711); err != nil {
			return fmt.Errorf("open data dir %s: %w", opts.DataDir, err)
		}
	}
	var stack []func()
	defer func() {
		for i := len(stack) - 1; i >= 0; i-- {
			stack[i]()
		}
	}()

	dbURL := opts.DatabaseURL
	if dbURL == "" {
		cluster, url, err := startPostgres(ctx, opts.DataDir, log)
		if err != nil {
			return err
		}
		stack = append(stack, func() {
			log.Info("stopping postgres")
			if err := cluster.Stop(context.Background()); err != nil {
				log.Warn("postgres stop", "err", err)
			}
		})
		dbURL = url
	}

	pool, err := pgxpool.New(ctx, dbURL)
	if err != nil {
		return errors.New("database: cannot parse the PostgreSQL URL")
	}
	if err := migrations.Apply(ctx, pool, log); err != nil {
		pool.Close()
		return err
	}
	creds := Credentials{}
	if seed != nil {
		if creds, err = seed(ctx, pool, opts.TestData); err != nil {
			pool.Close()
			return err
		}
	}
	pool.Close()

	ns, err := natsserver.Start(natsserver.Options{StoreDir: filepath.Join(opts.DataDir, "nats"), Port: opts.NATSPort})
	if err != nil {
		return err
	}
	stack = append(stack, func() { log.Info("stopping nats"); ns.Shutdown(); ns.WaitForShutdown() })

	cfg := fleet.DefaultConfig()
	cfg.Log = opts.LogConfig
	cfg.HTTP.Listen = opts.Listen
	cfg.GRPC.Listen = opts.GRPCListen
	cfg.ShutdownTimeout = config.Duration(3 * time.Second)
	cfg.Database.URL = dbURL
	cfg.NATS.URL = ns.ClientURL()
	cfg.PublicURL = "http://" + opts.Listen
	cfg.FileTransfer.Blob = files
	if err := devKeys(&cfg, opts.DataDir); err != nil {
		return err
	}
	var fopts fleet.Options
	if opts.ServicesFile != "" {
		sc, err := fleet.Load(opts.ServicesFile)
		if err != nil {
			return err
		}
		cfg.ExternalServices = sc.ExternalServices
		proxy, err := newServiceProxy(sc.ExternalServices)
		if err != nil {
			return err
		}
		fopts.Extra = append(fopts.Extra, proxy)
	}
	fopts.Log = log
	targets, err := fleet.Resolve("all")
	if err != nil {
		return err
	}
	if fopts.Tracing, err = fleet.TracingFromEnv(ctx, targets); err != nil {
		return err
	}
	p, err := fleet.Start(ctx, cfg, targets, fopts)
	if err != nil {
		_ = fopts.Tracing.Shutdown(ctx)
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	base := "http://" + p.Server.HTTPAddr()
	if err := waitReady(ctx, base, errc); err != nil {
		return err
	}
	printBanner(opts.Out, base, p.Server.GRPCAddr(), ns.ClientURL(), opts.DataDir, filesWhere(cfg.FileTransfer.Blob), creds, targets)
	return <-errc
}

func startPostgres(ctx context.Context, dataDir string, log *slog.Logger) (*pgcluster.Cluster, string, error) {
	pwFile := filepath.Join(dataDir, "postgres-password")
	pw, err := os.ReadFile(pwFile)
	if errors.Is(err, os.ErrNotExist) {
		pw = []byte(pgcluster.RandomPassword())
		if err := os.WriteFile(pwFile, pw, 0o600); err != nil {
			return nil, "", fmt.Errorf("write %s: %w", pwFile, err)
		}
	} else if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", pwFile, err)
	}
	log.Info("starting private postgres", "dir", filepath.Join(dataDir, "postgres"))
	c, err := pgcluster.Start(ctx, pgcluster.Options{
		DataDir:  filepath.Join(dataDir, "postgres"),
		Password: strings.TrimSpace(string(pw)),
	})
	if err != nil {
		return nil, "", err
	}
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		_ = c.Stop(context.Background())
		return nil, "", fmt.Errorf("connect private postgres: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = 'tera')`).Scan(&exists); err != nil {
		_ = c.Stop(context.Background())
		return nil, "", fmt.Errorf("look up database tera: %w", err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, `CREATE DATABASE tera`); err != nil {
			_ = c.Stop(context.Background())
			return nil, "", fmt.Errorf("create database tera: %w", err)
		}
	}
	return c, c.URL("tera"), nil
}

func waitReady(ctx context.Context, base string, errc chan error) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := client.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case err := <-errc:
			errc <- err
			return fmt.Errorf("fleet stopped during start-up: %w", err)
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("fleet not ready within 60s; see the log above")
}

// devBlob is where tera dev keeps asset and archive files: <data dir>/files (OpenTera's
// files_directory), or what the TERA_BLOB_* environment says, as `tera serve` reads it
// (TERA_BLOB_BACKEND=s3 with TERA_BLOB_S3_ENDPOINT, _BUCKET, _INSECURE, _ACCESS_KEY_ID and
// _SECRET_ACCESS_KEY: a local S3 server). The bucket is created when missing, as everything
// else tera dev needs.
func devBlob(dataDir string) (blob.Config, error) {
	c := blob.Config{Backend: "filesystem", Dir: filepath.Join(dataDir, "files")}
	if err := config.ApplyEnv(&c); err != nil {
		return c, err
	}
	if c.Backend == "s3" {
		c.S3.CreateBucket = true
	}
	if err := c.Validate(); err != nil {
		return c, fmt.Errorf("tera dev's file store (TERA_BLOB_*): %w", err)
	}
	return c, nil
}

// filesWhere names the file store for the banner.
func filesWhere(c blob.Config) string {
	if c.Backend == "s3" {
		scheme := "https"
		if c.S3.Insecure {
			scheme = "http"
		}
		return fmt.Sprintf("S3 bucket %s at %s://%s", c.S3.Bucket, scheme, c.S3.Endpoint)
	}
	return c.Dir
}

func printBanner(w io.Writer, base, grpcAddr, natsURL, dataDir, files string, creds Credentials, targets []fleet.Target) {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	fmt.Fprintf(w, `
Tera is ready (targets: %s).
  URL:       %s
  API docs:  %s/doc
  gRPC:      %s
  NATS:      %s
`, strings.Join(names, ", "), base, base, grpcAddr, natsURL)
	if creds.Username != "" {
		fmt.Fprintf(w, "  Login:     %s / %s", creds.Username, creds.Password)
		if creds.Note != "" {
			fmt.Fprintf(w, "  (%s)", creds.Note)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "  Data:      %s\n  Files:     %s\nPress Ctrl-C to stop.\n\n", dataDir, files)
}
