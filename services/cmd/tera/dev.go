package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/spf13/cobra"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/devmode"
)

func newDevCmd() *cobra.Command {
	opts := devmode.Options{}
	var logLevel, pprofListen string
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole fleet in one process with its own PostgreSQL and NATS (zero setup)",
		Long: `Run every target in one process, with an embedded NATS server (JetStream) and PostgreSQL from
--database-url or, without it, a private cluster started from the PostgreSQL binaries on this
machine (PATH or /usr/lib/postgresql/*/bin). The schema is migrated and the defaults seeded at
start; the URL, the API docs URL and the admin credentials are printed when the fleet is ready.
Ctrl-C stops everything it started; data stays in --data-dir for the next run.

Asset and archive files go to --data-dir/files, or to the store the TERA_BLOB_* environment
names, as for tera serve: TERA_BLOB_BACKEND=s3 with TERA_BLOB_S3_ENDPOINT (host:port),
TERA_BLOB_S3_BUCKET (created when missing), TERA_BLOB_S3_INSECURE=true for plain HTTP,
TERA_BLOB_S3_ACCESS_KEY_ID and TERA_BLOB_S3_SECRET_ACCESS_KEY.`,
		Example: `  tera dev
  tera dev --test-data --listen=127.0.0.1:40075
  tera dev --test-data --services=examples/questionnaire/tera-dev.yaml --nats-port=4222
  tera dev --database-url=postgres://tera:secret@localhost:5432/tera
  TERA_BLOB_BACKEND=s3 TERA_BLOB_S3_ENDPOINT=127.0.0.1:8333 TERA_BLOB_S3_BUCKET=tera TERA_BLOB_S3_INSECURE=true \
    TERA_BLOB_S3_ACCESS_KEY_ID=dev TERA_BLOB_S3_SECRET_ACCESS_KEY=dev-secret tera dev`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("database-url") {
				opts.DatabaseURL = envOr("TERA_DATABASE_URL", "")
			}
			opts.LogConfig = server.LogConfig{Level: logLevel, Format: "text"}
			if err := opts.LogConfig.Validate(); err != nil {
				return err
			}
			opts.Log = server.NewLogger(cmd.ErrOrStderr(), opts.LogConfig)
			opts.Out = cmd.OutOrStdout()
			if pprofListen != "" {
				if err := servePprof(pprofListen); err != nil {
					return err
				}
			}
			return devmode.Run(cmd.Context(), opts, devSeeder)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Listen, "listen", "127.0.0.1:40075", "HTTP address: the REST API, pages, websockets, /doc, as behind the ingress")
	fl.StringVar(&opts.GRPCListen, "grpc-listen", "127.0.0.1:40076", "gRPC address")
	fl.StringVar(&opts.DataDir, "data-dir", devmode.DefaultDataDir(), "where the private PostgreSQL cluster and NATS store live")
	fl.StringVar(&opts.DatabaseURL, "database-url", "", "use this PostgreSQL instead of a private cluster (env TERA_DATABASE_URL)")
	fl.IntVar(&opts.NATSPort, "nats-port", 0, "port of the embedded NATS server on 127.0.0.1 (0: a free one; printed when ready)")
	fl.StringVar(&opts.ServicesFile, "services", "", "a tera.yaml whose external_services are registered and routed on --listen (see README \"Writing an external service\")")
	fl.BoolVar(&opts.TestData, "test-data", false, "seed OpenTera's test fixture (admin/admin, user4/user4, participant1/opentera, ...)")
	fl.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	fl.StringVar(&pprofListen, "pprof-listen", "", "serve Go's /debug/pprof/ profiles on this address (e.g. 127.0.0.1:6060), for profiling the fleet under load")
	return cmd
}

// servePprof serves the runtime profiles on their own listener, never on the API's.
func servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("--pprof-listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = http.Serve(ln, mux) }() //nolint:gosec // loopback profiling listener of tera dev
	return nil
}
