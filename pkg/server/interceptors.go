package server

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	grpcprom "github.com/grpc-ecosystem/go-grpc-middleware/providers/prometheus"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
)

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
	metrics  *grpcprom.ServerMetrics
	panics   prometheus.Counter
	log      *slog.Logger
	access   *accessTable
	auth     authn.Authenticator
	requests *inflight
	// metricOpts give the latency histograms their exemplars when tracing is on.
	metricOpts []grpcprom.Option
}

func newChain(reg prometheus.Registerer, log *slog.Logger, access *accessTable, auth authn.Authenticator, requests *inflight, traced bool) *chain {
	c := &chain{
		metrics: grpcprom.NewServerMetrics(grpcprom.WithServerHandlingTimeHistogram()),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tera_grpc_panics_recovered_total",
			Help: "Panics in gRPC handlers turned into Internal errors.",
		}),
		log:      log,
		access:   access,
		auth:     auth,
		requests: requests,
	}
	if traced {
		c.metricOpts = []grpcprom.Option{grpcprom.WithExemplarFromContext(exemplar)}
	}
	reg.MustRegister(c.metrics, c.panics)
	return c
}

func (c *chain) recover(ctx context.Context, p any) error {
	c.panics.Inc()
	c.log.ErrorContext(ctx, "panic in handler", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
	return apierr.Internal("Internal Server Error")
}

// logged runs a call and writes its access line, unless the gateway relays it: the HTTP
// request it serves has the line, and the call only names its principal there. Payloads are
// never logged: they carry passwords and tokens.
func (c *chain) logged(ctx context.Context, method string, call func(ctx context.Context) (context.Context, error)) error {
	start := time.Now()
	rec := c.requests.fromGateway(ctx)
	ctx, err := call(ctx)
	caller := authn.FromContext(ctx)
	if rec != nil {
		rec.setCaller(caller)
		return err
	}
	st := status.Convert(err)
	level := slog.LevelInfo
	switch st.Code() {
	case codes.Internal, codes.Unknown, codes.DataLoss, codes.Unavailable:
		level = slog.LevelWarn
	}
	attrs := []any{slog.String("method", method), slog.String("code", st.Code().String()), slog.Duration("duration", time.Since(start))}
	if caller != nil {
		attrs = append(attrs, principalAttrs(caller.Kind, caller.ID)...)
	}
	c.log.Log(ctx, level, "grpc call", attrs...)
	return err
}

// Order, outermost first: metrics, logging, authentication + access, validation, recovery
// (innermost, so a panic becomes an Internal status that logging and metrics record).
func (c *chain) unary() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{
		c.metrics.UnaryServerInterceptor(c.metricOpts...),
		func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			var resp any
			err := c.logged(ctx, info.FullMethod, func(ctx context.Context) (context.Context, error) {
				ctx, err := c.access.authorize(ctx, c.auth, info.FullMethod)
				if err != nil {
					return ctx, err
				}
				if err := validate(req); err != nil {
					return ctx, err
				}
				if err := c.access.checkScope(ctx, info.FullMethod, req); err != nil {
					return ctx, err
				}
				resp, err = h(ctx, req)
				return ctx, err
			})
			return resp, err
		},
		recovery.UnaryServerInterceptor(recovery.WithRecoveryHandlerContext(c.recover)),
	}
}

func (c *chain) stream() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{
		c.metrics.StreamServerInterceptor(c.metricOpts...),
		func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			return c.logged(ss.Context(), info.FullMethod, func(ctx context.Context) (context.Context, error) {
				ctx, err := c.access.authorize(ctx, c.auth, info.FullMethod)
				if err != nil {
					return ctx, err
				}
				return ctx, h(srv, &wrappedStream{ServerStream: ss, ctx: ctx})
			})
		},
		recovery.StreamServerInterceptor(recovery.WithRecoveryHandlerContext(c.recover)),
	}
}

type wrappedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (w *wrappedStream) Context() context.Context { return w.ctx }
