package fleet

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tera-health/tera/pkg/api/openapi"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/logstream"
	"github.com/tera-health/tera/services/internal/verifier"
	"github.com/tera-health/tera/services/internal/version"
)

// Process is a configured set of targets sharing one server and one set of dependencies.
type Process struct {
	Server  *server.Server
	deps    *Deps
	closers []func()
}

// Options tune Start for callers that already hold dependencies (tera dev, tests).
type Options struct {
	Log *slog.Logger
	// Authenticator verifies callers; nil means the pkg/authn verifier built from the
	// configuration (auth.signing_keys_dir, NATS KV, PostgreSQL).
	Authenticator authn.Authenticator
	// Extra services run beside the targets' (tera dev's proxy to external services).
	Extra []server.Service
	// Tracing is the process's tracing (telemetry.FromEnv); nil is off. Start adds trace ids
	// to Log's lines and the server flushes the spans at shutdown.
	Tracing *telemetry.Tracing
}

// Start opens the dependencies the targets need and builds the server. The returned process
// owns them and closes them when Run returns or Start fails.
func Start(ctx context.Context, cfg Config, targets []Target, opts Options) (_ *Process, err error) {
	log := opts.Log
	if log == nil {
		log = slog.Default()
	}
	needDB, needNATS := false, false
	for _, t := range targets {
		needDB = needDB || t.NeedsDB
		needNATS = needNATS || t.NeedsNATS
	}
	if err := cfg.Validate(needDB, needNATS); err != nil {
		return nil, fmt.Errorf("invalid configuration:\n%w", err)
	}
	if opts.Tracing != nil {
		log = slog.New(telemetry.LogHandler(log.Handler()))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p := &Process{deps: &Deps{Config: cfg, Log: log, LocalLog: log, Metrics: reg, Tracing: opts.Tracing}}
	defer func() {
		if err != nil {
			p.close()
		}
	}()
	if needDB {
		if p.deps.DB, err = OpenTracedDB(ctx, cfg.Database, opts.Tracing); err != nil {
			return nil, err
		}
		p.closers = append(p.closers, p.deps.DB.Close)
	}
	if needNATS {
		if p.deps.NATS, p.deps.JS, err = OpenNATS(cfg.NATS, log, "tera"); err != nil {
			return nil, err
		}
		nc := p.deps.NATS
		p.closers = append(p.closers, func() { _ = nc.Drain() })
	}
	var services []server.Service
	var checks []server.Check
	if needNATS {
		// Every target's warnings and errors reach the logging target, through a stream that
		// exists before the target is ready.
		names := make([]string, len(targets))
		for i, t := range targets {
			names[i] = t.Name
		}
		tee := logstream.NewTee(p.deps.NATS, "tera."+strings.Join(names, "+"))
		reg.MustRegister(tee.Collectors()...)
		log = slog.New(tee.Handler(log.Handler()))
		p.deps.Log = log
		ensurer := logstream.NewEnsurer(p.deps.JS)
		services = append(services, server.Background("log-publisher", tee.Run), server.Background("log-stream", ensurer.Run))
		checks = append(checks, server.Check{Name: "log-stream", Fn: ensurer.Check})
	}
	authenticator := opts.Authenticator
	if authenticator == nil && cfg.Auth.SigningKeysDir != "" && p.deps.DB != nil && p.deps.JS != nil {
		// Every target verifies tokens locally, with the same verifier as the login target.
		if p.deps.Verifier, err = verifier.New(ctx, verifier.Config{SigningKeysDir: cfg.Auth.SigningKeysDir,
			DeviceCADir: cfg.Auth.DeviceCADir, TrustedProxies: cfg.Auth.TrustedProxies}, p.deps.DB, p.deps.JS); err != nil {
			return nil, fmt.Errorf("authentication: %w", err)
		}
		authenticator = p.deps.Verifier
	}
	if v, ok := authenticator.(*authn.Verifier); ok && v != nil {
		p.deps.Keys = v.Keys
	}
	if v := p.deps.Verifier; v != nil {
		// Every process, not only login's, picks up rotated signing keys without a restart and
		// keeps its revocation set and principal cache current.
		services = append(services, verifier.Services(v, p.deps.JS, log)...)
	}
	for _, t := range targets {
		svcs, err := t.Build(p.deps)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		services = append(services, svcs...)
		for _, svc := range svcs {
			// A target's own dependencies (filetransfer's blob store) count for readiness too.
			if c, ok := svc.(interface{ Checks() []server.Check }); ok {
				checks = append(checks, c.Checks()...)
			}
		}
	}
	services = append(services, opts.Extra...)
	var consumers []consumerRef
	for _, t := range targets {
		if t.Outbox {
			reg.MustRegister(newOutboxCollector(p.deps.DB))
		}
		consumers = append(consumers, t.Consumers...)
	}
	if len(consumers) > 0 {
		reg.MustRegister(newConsumerLagCollector(p.deps.JS, consumers))
	}
	p.Server, err = server.New(ctx, cfg.Config, server.Options{
		Logger:        log,
		Authenticator: authenticator,
		Services:      services,
		Checks:        append(p.deps.Checks(), checks...),
		OpenAPI:       openapi.Spec,
		Registry:      reg,
		Version:       version.Version,
		Tracing:       opts.Tracing,
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Run serves until ctx ends, then drains and closes the dependencies in reverse order.
func (p *Process) Run(ctx context.Context) error {
	defer p.close()
	return p.Server.Run(ctx)
}

func (p *Process) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
	p.closers = nil
}

// TracingFromEnv is the tracing the OTEL_* environment configures for a process running
// targets (nil when it asks for none); service.name is tera-<target>[+<target>...] unless
// OTEL_SERVICE_NAME says otherwise.
func TracingFromEnv(ctx context.Context, targets []Target) (*telemetry.Tracing, error) {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.Name
	}
	t, err := telemetry.FromEnv(ctx, "tera-"+strings.Join(names, "+"), version.Version)
	if err != nil {
		return nil, fmt.Errorf("tracing: %w", err)
	}
	return t, nil
}
