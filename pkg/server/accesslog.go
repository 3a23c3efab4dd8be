package server

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/tera-health/tera/pkg/authn"
)

// Every request gets one access log line: HTTP requests when they end (method, route, status,
// duration, principal), gRPC calls from outside when they end. A REST call relayed by the
// gateway is not logged a second time by the gRPC side: it only fills the principal in.

// mdRequest links a gateway call to the HTTP request it serves. Its value is a random id of a
// request in flight in this process, so an outside gRPC client cannot pass one off.
const mdRequest = "tera-request"

// accessRecord is what the access line of one HTTP request says besides method and status.
type accessRecord struct {
	id    string
	mu    sync.Mutex
	route string
	kind  authn.Kind
	pid   int64
}

func (a *accessRecord) setRoute(route string) {
	a.mu.Lock()
	a.route = route
	a.mu.Unlock()
}

func (a *accessRecord) setCaller(c *authn.Caller) {
	if c == nil {
		return
	}
	a.mu.Lock()
	a.kind, a.pid = c.Kind, c.ID
	a.mu.Unlock()
}

// routeOf is the route r matched: the gateway's path pattern or the mux pattern, without the
// method; "unmatched" when none did.
func (a *accessRecord) routeOf(r *http.Request) string {
	a.mu.Lock()
	route := a.route
	a.mu.Unlock()
	if route == "" {
		route = r.Pattern
	}
	if i := strings.IndexByte(route, ' '); i >= 0 {
		route = route[i+1:] // "GET /x" → "/x": the method has its own field
	}
	if route == "" || route == "/" {
		route = "unmatched"
	}
	return route
}

type recordKey struct{}

func recordOf(ctx context.Context) *accessRecord {
	a, _ := ctx.Value(recordKey{}).(*accessRecord)
	return a
}

// NoteCaller names the authenticated caller of a plain HTTP route in its access log line
// (routes behind the gateway get theirs from the access interceptor).
func NoteCaller(ctx context.Context, c *authn.Caller) {
	if a := recordOf(ctx); a != nil {
		a.setCaller(c)
	}
}

// inflight maps the ids of the HTTP requests being served to their records, for the gRPC side
// of gateway calls.
type inflight struct{ m sync.Map }

func (f *inflight) add(a *accessRecord)    { f.m.Store(a.id, a) }
func (f *inflight) remove(a *accessRecord) { f.m.Delete(a.id) }

// fromGateway returns the record of the HTTP request a gRPC call relays, or nil for a call
// from an outside gRPC client.
func (f *inflight) fromGateway(ctx context.Context) *accessRecord {
	v := metadata.ValueFromIncomingContext(ctx, mdRequest)
	if len(v) == 0 {
		return nil
	}
	a, _ := f.m.Load(v[0])
	r, _ := a.(*accessRecord)
	return r
}

// kindName is the principal kind as logs spell it (user, participant, device, service).
func kindName(k authn.Kind) string {
	if k == 0 {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(k.String(), "PRINCIPAL_"))
}

func principalAttrs(k authn.Kind, id int64) []any {
	if k == 0 {
		return nil
	}
	return []any{slog.String("principal_kind", kindName(k)), slog.Int64("principal_id", id)}
}

// logHTTP writes the access line of an HTTP request. Neither the query string (it may carry
// ?token=) nor headers are logged; the route is the matched pattern, not the raw path.
func (s *Server) logHTTP(ctx context.Context, r *http.Request, a *accessRecord, code int, d time.Duration) {
	route := a.routeOf(r)
	a.mu.Lock()
	kind, id := a.kind, a.pid
	a.mu.Unlock()
	level := slog.LevelInfo
	if code >= 500 {
		level = slog.LevelWarn
	}
	attrs := append([]any{slog.String("method", r.Method), slog.String("route", route), slog.Int("status", code),
		slog.Duration("duration", d)}, principalAttrs(kind, id)...)
	s.log.Log(ctx, level, "http request", attrs...)
}

// outages logs one line when a dependency check starts failing and one when it passes again,
// however many requests fail in between (they show as 503 in their access lines).
type outages struct {
	log  *slog.Logger
	mu   sync.Mutex
	down map[string]time.Time
}

func (o *outages) observe(name string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	since, wasDown := o.down[name]
	switch {
	case err != nil && !wasDown:
		o.down[name] = time.Now()
		o.log.Warn("dependency down", "dependency", name, "err", err)
	case err == nil && wasDown:
		delete(o.down, name)
		o.log.Info("dependency back", "dependency", name, "down_for", time.Since(since).Round(time.Millisecond))
	}
}
