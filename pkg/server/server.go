// Package server is the skeleton every Tera target runs on: one gRPC server with one interceptor
// chain (metrics, logging, authentication and declared access, validation, panic recovery), a
// grpc-gateway REST surface that dials the gRPC listener so every interceptor covers REST too,
// health (/livez never depends on anything; /readyz checks dependencies), /metrics, the OpenAPI
// document and its UI at /doc, and a bounded graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/test/bufconn"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server/docui"
	"github.com/tera-health/tera/pkg/telemetry"
)

// Service is a piece of API a target serves: gRPC services and their REST bindings.
type Service interface {
	// Name identifies the service in logs and errors.
	Name() string
	RegisterGRPC(s *grpc.Server)
	// RegisterGateway binds the REST handlers to the gateway mux; conn is the server's own
	// gRPC listener.
	RegisterGateway(ctx context.Context, mux *runtime.ServeMux, conn *grpc.ClientConn) error
}

// Runner is a Service with background work (consumers, relays); Run returns when ctx ends.
type Runner interface {
	Run(ctx context.Context) error
}

// Check is a readiness check of one dependency.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Options complete a Config into a runnable server.
type Options struct {
	Logger        *slog.Logger
	Authenticator authn.Authenticator
	Services      []Service
	Checks        []Check
	// Registry receives the server's metrics; a fresh one is made when nil.
	Registry *prometheus.Registry
	// OpenAPI is the generated document; /doc/openapi.json serves it rewritten by
	// docui.Document (title, Version, surfaces, authentication schemes).
	OpenAPI []byte
	// Version is the build version, shown on /doc.
	Version string
	// Tracing, when set, traces requests and flushes its spans at shutdown (pkg/telemetry);
	// nil is tracing off. Wrap Logger's handler in telemetry.LogHandler for trace ids in
	// the log lines.
	Tracing *telemetry.Tracing
}

// Server is a configured, listening, not yet running server.
type Server struct {
	cfg      Config
	opts     Options
	log      *slog.Logger
	grpc     *grpc.Server
	health   *health.Server
	http     *http.Server
	grpcLis  net.Listener
	gwLis    *bufconn.Listener // the gateway's in-memory connection to grpc
	httpLis  net.Listener
	conn     *grpc.ClientConn
	access   accessTable
	plain    []Route
	reg      *prometheus.Registry
	draining atomic.Bool
	closers  closeStack
	requests inflight
	outages  outages
}

// New validates cfg, opens both listeners and wires everything. Nothing is served until Run.
// On error, whatever was opened is closed again.
func New(ctx context.Context, cfg Config, opts Options) (_ *Server, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("server config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if len(opts.OpenAPI) > 0 {
		if opts.OpenAPI, err = docui.Document(opts.OpenAPI, opts.Version); err != nil {
			return nil, err
		}
	}
	s := &Server{cfg: cfg, opts: opts, log: opts.Logger, reg: opts.Registry, outages: outages{log: opts.Logger, down: map[string]time.Time{}}}
	defer func() {
		if err != nil {
			s.closers.closeAll()
		}
	}()
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
		s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}

	chain := newChain(s.reg, s.log, &s.access, opts.Authenticator, &s.requests, opts.Tracing != nil)
	s.grpc = grpc.NewServer(append([]grpc.ServerOption{
		grpc.ChainUnaryInterceptor(chain.unary()...),
		grpc.ChainStreamInterceptor(chain.stream()...),
		// The proto form of a JSON body can be several times its size (a google.protobuf.Struct
		// list of small numbers is ~5.5×): the REST limit is max_body_bytes, checked on the
		// JSON, and gRPC must not refuse what REST accepted with an error of its own.
		grpc.MaxRecvMsgSize(grpcRecvLimit(cfg.MaxBodyBytes)),
	}, grpcServerTracing(opts.Tracing)...)...)
	s.health = health.NewServer()
	healthpb.RegisterHealthServer(s.grpc, s.health)
	reflection.Register(s.grpc)
	// Each gRPC service's permission checker is the Service that registered it.
	checkers := map[string]PermissionChecker{}
	for _, svc := range opts.Services {
		before := s.grpc.GetServiceInfo()
		svc.RegisterGRPC(s.grpc)
		pc, _ := svc.(PermissionChecker)
		for name := range s.grpc.GetServiceInfo() {
			if _, seen := before[name]; !seen {
				checkers[name] = pc
			}
		}
	}
	if s.access, err = buildAccessTable(s.grpc, checkers); err != nil {
		return nil, err
	}
	if s.plain, err = buildRouteTable(opts.Services); err != nil {
		return nil, err
	}
	chain.metrics.InitializeMetrics(s.grpc)

	if s.grpcLis, err = net.Listen("tcp", cfg.GRPC.Listen); err != nil {
		return nil, fmt.Errorf("listen grpc %s: %w", cfg.GRPC.Listen, err)
	}
	s.closers.push(func() error { return s.grpcLis.Close() })
	if s.httpLis, err = net.Listen("tcp", cfg.HTTP.Listen); err != nil {
		return nil, fmt.Errorf("listen http %s: %w", cfg.HTTP.Listen, err)
	}
	s.closers.push(func() error { return s.httpLis.Close() })

	// The gateway calls our own gRPC server so REST passes through every interceptor, over an
	// in-memory listener rather than loopback TCP: the hop is on every REST request, and the
	// kernel round trips of a socket pair were the largest part of its cost.
	s.gwLis = bufconn.Listen(gatewayBuffer)
	s.closers.push(func() error { return s.gwLis.Close() })
	dial := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return s.gwLis.DialContext(ctx) }),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64 << 20)),
	}, grpcClientTracing(opts.Tracing)...)
	s.conn, err = grpc.NewClient("passthrough:///gateway", dial...)
	if err != nil {
		return nil, fmt.Errorf("dial own grpc listener: %w", err)
	}
	s.closers.push(s.conn.Close)

	gw := s.newGatewayMux()
	for _, svc := range opts.Services {
		if err := svc.RegisterGateway(ctx, gw, s.conn); err != nil {
			return nil, fmt.Errorf("register gateway of %s: %w", svc.Name(), err)
		}
	}
	s.http = &http.Server{
		Handler:           s.routes(gw),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// gatewayBuffer is the in-memory connection's buffer each way; HTTP/2 flow control bounds
// what is in flight, so it only needs to hold a few frames.
const gatewayBuffer = 256 << 10

func grpcRecvLimit(maxBody int64) int {
	const floor = 4 << 20 // gRPC's own default
	if n := 8 * maxBody; n > floor && n < 1<<31 {
		return int(n)
	}
	return floor
}

// HTTPAddr is the address the HTTP listener is bound to.
func (s *Server) HTTPAddr() string { return s.httpLis.Addr().String() }

// GRPCAddr is the address the gRPC listener is bound to.
func (s *Server) GRPCAddr() string { return s.grpcLis.Addr().String() }

// GRPCServices are the gRPC services registered, by full name (what the access table and the
// access matrix tests walk).
func (s *Server) GRPCServices() map[string]grpc.ServiceInfo { return s.grpc.GetServiceInfo() }

// PlainRoutes is the route table of plain HTTP routes the services declared, beside the
// gateway's bindings of GRPCServices.
func (s *Server) PlainRoutes() []Route { return slices.Clone(s.plain) }

// Run serves until ctx ends, then drains within the configured shutdown timeout: readiness
// turns 503 at once so load balancers stop sending, in-flight calls finish, and whatever is
// still running at the bound is cut. Resources opened by New are closed in reverse order.
func (s *Server) Run(ctx context.Context) error {
	defer s.closers.closeAll()
	g, gctx := errgroup.WithContext(ctx)
	for name, lis := range map[string]net.Listener{"grpc": s.grpcLis, "gateway hop": s.gwLis} {
		g.Go(func() error {
			if err := s.grpc.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				return fmt.Errorf("serve %s: %w", name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := s.http.Serve(s.httpLis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("serve http: %w", err)
		}
		return nil
	})
	for _, svc := range s.opts.Services {
		if r, ok := svc.(Runner); ok {
			g.Go(func() error {
				if err := r.Run(gctx); err != nil && !errors.Is(err, context.Canceled) {
					return fmt.Errorf("%s: %w", svc.Name(), err)
				}
				return nil
			})
		}
	}
	g.Go(func() error { s.watchHealth(gctx); return nil })
	g.Go(func() error {
		<-gctx.Done()
		s.shutdown()
		return nil
	})
	s.log.Info("serving", "http", s.HTTPAddr(), "grpc", s.GRPCAddr())
	return g.Wait()
}

func (s *Server) shutdown() {
	s.draining.Store(true)
	s.health.Shutdown()
	timeout := s.cfg.ShutdownTimeout.D()
	s.log.Info("draining", "timeout", timeout)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		if err := s.http.Shutdown(ctx); err != nil {
			s.log.Warn("http drain cut short", "err", err)
			_ = s.http.Close()
		}
	}()
	go func() {
		defer wg.Done()
		done := make(chan struct{})
		go func() { s.grpc.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			s.log.Warn("grpc drain cut short")
			s.grpc.Stop()
		}
	}()
	wg.Wait()
	// The spans of the drained requests go out within the same bound.
	if err := s.opts.Tracing.Shutdown(ctx); err != nil {
		s.log.Warn("traces not flushed", "err", err)
	}
}

// watchHealth mirrors readiness into grpc.health.v1 for gRPC-native probes.
func (s *Server) watchHealth(ctx context.Context) {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		st := healthpb.HealthCheckResponse_SERVING
		if _, ok := s.ready(ctx); !ok {
			st = healthpb.HealthCheckResponse_NOT_SERVING
		}
		if ctx.Err() != nil || s.draining.Load() {
			return
		}
		s.health.SetServingStatus("", st)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// closeStack closes resources in reverse order of opening.
type closeStack struct {
	mu  sync.Mutex
	fns []func() error
}

func (c *closeStack) push(fn func() error) {
	c.mu.Lock()
	c.fns = append(c.fns, fn)
	c.mu.Unlock()
}

func (c *closeStack) closeAll() {
	c.mu.Lock()
	fns := c.fns
	c.fns = nil
	c.mu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		_ = fns[i]()
	}
}

// metricsHandler serves the server's own registry (not the global one), so several servers can share a process.
func (s *Server) metricsHandler() http.Handler {
	// Exemplars exist only in the OpenMetrics format, which scrapers get by asking for it.
	return promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg, EnableOpenMetrics: s.opts.Tracing != nil})
}

// Background is a Service with no API that only runs work (relays, reloaders, consumers).
func Background(name string, run func(ctx context.Context) error) Service {
	return &background{name: name, run: run}
}

type background struct {
	NoGRPC
	name string
	run  func(ctx context.Context) error
}

func (b *background) Name() string                  { return b.name }
func (b *background) Run(ctx context.Context) error { return b.run(ctx) }

// NoGRPC is embedded by a Service whose API is plain HTTP routes or NATS: it registers nothing
// on the gRPC server or the gateway.
type NoGRPC struct{}

// RegisterGRPC implements Service.
func (NoGRPC) RegisterGRPC(*grpc.Server) {}

// RegisterGateway implements Service.
func (NoGRPC) RegisterGateway(context.Context, *runtime.ServeMux, *grpc.ClientConn) error {
	return nil
}
