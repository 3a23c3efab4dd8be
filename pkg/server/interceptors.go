package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"

	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
)

// interceptorLogger adapts slog to go-grpc-middleware's logging interface.
func interceptorLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, lvl logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(lvl), msg, fields...)
	})
}

// validator is implemented by request messages that check themselves.
type validator interface{ Validate() error }

func validate(req any) error {
	if v, ok := req.(validator); ok {
		if err := v.Validate(); err != nil {
			if apierr.IsStatus(err) {
				return err
			}
			return apierr.InvalidArgument(err.Error())
		}
	}
	return nil
}

type chain struct {
	metrics *grpcprom.ServerMetrics
	panics  prometheus.Counter
	log     *slog.Logger
	access  *accessTable
	auth    authn.Authenticator
}

func newChain(reg prometheus.Registerer, log *slog.Logger, access *accessTable, auth authn.Authenticator) *chain {
	c := &chain{
		metrics: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tera_grpc_panics_recovered_total",
			Help: "Panics in gRPC handlers turned into Internal errors.",
		}),
		log:    log,
		access: access,
		auth:   auth,
	}
	reg.MustRegister(c.metrics, c.panics)
	return c
}

func (c *chain) recover(ctx context.Context, p any) error {
	c.panics.Inc()
	c.log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return apierr.Internal("Internal Server Error")
}

func (c *chain) logOpts() []logging.Option {
	// Payloads are never logged: they carry passwords and tokens.
	return []logging.Option{logging.WithLogOnEvents(logging.FinishCall)}
}

// Order, outermost first: metrics, logging, authentication + access, validation, recovery
// (innermost, so a panic becomes an Internal status that logging and metrics record).
func (c *chain) unary() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{
		c.metrics.UnaryServerInterceptor(),
		logging.UnaryServerInterceptor(interceptorLogger(c.log), c.logOpts()...),
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			ctx, err := c.access.authorize(ctx, c.auth, info.FullMethod)
			if err != nil {
				return nil, err
			}
			if err := validate(req); err != nil {
				return nil, err
			}
			return h(ctx, req)
		},
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(c.recover)),
	}
}

func (c *chain) stream() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		c.metrics.StreamServerInterceptor(),
		logging.StreamServerInterceptor(interceptorLogger(c.log), c.logOpts()...),
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			ctx, err := c.access.authorize(ss.Context(), c.auth, info.FullMethod)
			if err != nil {
				return err
			}
			return h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
		},
		recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(c.recover)),
	}
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }
