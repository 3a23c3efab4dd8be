package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/fleet"
)

// configFlags are the flags shared by the commands that read tera.yaml. Flags win over the
// environment, which wins over the file.
type configFlags struct {
	path        string
	databaseURL string
	natsURL     string
	httpListen  string
	grpcListen  string
	logLevel    string
	logFormat   string
}

func (f *configFlags) register(cmd *cobra.Command, withServer bool) {
	fl := cmd.Flags()
	fl.StringVar(&f.path, "config", "", "path to tera.yaml (optional)")
	fl.StringVar(&f.databaseURL, "database-url", "", "PostgreSQL URL, postgres://user:pass@host:5432/db (env TERA_DATABASE_URL)")
	fl.StringVar(&f.logLevel, "log-level", "", "debug, info, warn or error (env TERA_LOG_LEVEL)")
	fl.StringVar(&f.logFormat, "log-format", "", "json or text (env TERA_LOG_FORMAT)")
	if withServer {
		fl.StringVar(&f.natsURL, "nats-url", "", "NATS URL with JetStream, nats://host:4222 (env TERA_NATS_URL)")
		fl.StringVar(&f.httpListen, "http-listen", "", "HTTP listen address (default :8080)")
		fl.StringVar(&f.grpcListen, "grpc-listen", "", "gRPC listen address (default :9090)")
	}
}

func (f *configFlags) load(cmd *cobra.Command) (fleet.Config, error) {
	cfg, err := fleet.Load(f.path)
	if err != nil {
		return cfg, err
	}
	set := func(name string, dst *string, v string) {
		if cmd.Flags().Changed(name) {
			*dst = v
		}
	}
	set("database-url", &cfg.Database.URL, f.databaseURL)
	set("nats-url", &cfg.NATS.URL, f.natsURL)
	set("http-listen", &cfg.HTTP.Listen, f.httpListen)
	set("grpc-listen", &cfg.GRPC.Listen, f.grpcListen)
	set("log-level", &cfg.Log.Level, f.logLevel)
	set("log-format", &cfg.Log.Format, f.logFormat)
	if err := cfg.Log.Validate(); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// logger builds the process logger and prints the effective configuration once, redacted.
func logger(cfg fleet.Config, command string) *slog.Logger {
	log := server.NewLogger(os.Stderr, cfg.Log)
	slog.SetDefault(log)
	log.Info("configuration", append([]any{"command", command}, config.Redacted(cfg)...)...)
	return log
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
