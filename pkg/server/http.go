package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server/docui"
)

func (s *Server) routes(gw *runtime.ServeMux) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, _ *http.Request) {
		// The process answers: that is all liveness means. A dependency outage must never get
		// a healthy fleet restarted.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", s.serveReady)
	mux.Handle("GET /metrics", s.metricsHandler())
	docui.Register(mux, s.opts.OpenAPI)
	for _, rt := range s.plain {
		mux.Handle(rt.Path, s.routeHandler(rt))
	}
	mux.Handle("/", gw)
	return s.instrument(cors(s.limitBody(headAsGet(mux))))
}

// headAsGet answers HEAD as GET without a body, on every route (Flask does so for every GET
// route; the gateway knows only the methods of the HTTP bindings). The server discards what the
// handler writes, since the connection still serves a HEAD request.
func headAsGet(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		g := r.Clone(r.Context())
		g.Method = http.MethodGet
		next.ServeHTTP(w, g)
		r.Pattern = g.Pattern
	})
}

// ready runs every check concurrently, each bounded by the readiness timeout.
func (s *Server) ready(ctx context.Context) (map[string]error, bool) {
	results := make(map[string]error, len(s.opts.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range s.opts.Checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, s.cfg.ReadinessTimeout.D())
			defer cancel()
			err := c.Fn(cctx)
			if ctx.Err() == nil { // a client gone from /readyz says nothing of the dependency
				s.outages.observe(c.Name, err)
			}
			mu.Lock()
			results[c.Name] = err
			mu.Unlock()
		}()
	}
	wg.Wait()
	ok := !s.draining.Load()
	for _, err := range results {
		if err != nil {
			ok = false
		}
	}
	return results, ok
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	results, ok := s.ready(r.Context())
	names := make([]string, 0, len(results))
	for n := range results {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		if err := results[n]; err != nil {
			// The error names the failure, not the DSN: checks must not wrap secrets.
			fmt.Fprintf(&b, "[-]%s failed: %v\n", n, err)
		} else {
			fmt.Fprintf(&b, "[+]%s ok\n", n)
		}
	}
	if s.draining.Load() {
		b.WriteString("[-]shutting down\n")
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write([]byte(b.String()))
}

// limitBody refuses bodies over max_body_bytes with one answer whatever the size and route:
// 400, reason ERROR_REASON_TOO_LARGE, a message naming the limit. A declared Content-Length is
// refused before reading; a chunked body is cut at the limit and its handler sees the error.
func (s *Server) limitBody(next http.Handler) http.Handler {
	limits := map[string]int64{}
	for _, rt := range s.plain {
		if rt.MaxBodyBytes > 0 {
			limits[rt.Path] = rt.MaxBodyBytes
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		limit := s.cfg.MaxBodyBytes
		if l, ok := limits[r.URL.Path]; ok {
			limit = l
		}
		if r.ContentLength > limit {
			writeTooLarge(w, limit)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, limit)
		next.ServeHTTP(w, r)
	})
}

// TooLargeMessage is the message of the 400 answered to a body over the limit.
func TooLargeMessage(limit int64) string {
	if limit%(1<<20) == 0 {
		return fmt.Sprintf("Request body too large (limit %d MiB)", limit>>20)
	}
	return fmt.Sprintf("Request body too large (limit %d bytes)", limit)
}

// WriteJSON answers v as JSON with code, for plain routes (a value that does not marshal is a
// 500, never a half-written body).
func WriteJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`"Internal Server Error"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(append(b, '\n'))
}

// WriteTooLarge answers a body over the limit, for plain routes that read a body cut by the
// server's limit (the *http.MaxBytesError names it).
func WriteTooLarge(w http.ResponseWriter, limit int64) { writeTooLarge(w, limit) }

func writeTooLarge(w http.ResponseWriter, limit int64) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set(ReasonHeader, "ERROR_REASON_TOO_LARGE")
	w.WriteHeader(http.StatusBadRequest)
	b, _ := json.Marshal(TooLargeMessage(limit))
	_, _ = w.Write(append(b, '\n'))
}

// cors adds the headers OpenTera sends on every response, and answers preflights.
func cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Headers", "*")
		h.Set("Access-Control-Allow-Methods", "*")
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			w.WriteHeader(http.StatusOK)
			return
		}
		next.ServeHTTP(w, r)
	})
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach Hijack and Flush (websockets, streaming).
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) instrument(next http.Handler) http.Handler {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "tera_http_requests_total",
		Help: "HTTP requests by method and status code.",
	}, []string{"method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "tera_http_request_duration_seconds",
		Help:    "HTTP request latency.",
		Buckets: prometheus.DefBuckets,
	}, []string{"method"})
	s.reg.MustRegister(requests, duration)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		a := &accessRecord{id: authn.RandomHex(16)}
		s.requests.add(a)
		defer s.requests.remove(a)
		ctx := r.Context()
		var span trace.Span
		if t := s.opts.Tracing; t != nil && !quietPaths[r.URL.Path] {
			ctx, span = startHTTPSpan(t, r)
		}
		r = r.WithContext(context.WithValue(ctx, recordKey{}, a))
		next.ServeHTTP(rec, r)
		d := time.Since(start)
		requests.WithLabelValues(r.Method, strconv.Itoa(rec.code)).Inc()
		if span != nil {
			endHTTPSpan(span, r.Method, a.routeOf(r), rec.code)
			observe(r.Context(), duration.WithLabelValues(r.Method), d.Seconds())
		} else {
			duration.WithLabelValues(r.Method).Observe(d.Seconds())
		}
		if !quietRoutes[r.Pattern] {
			s.logHTTP(r.Context(), r, a, rec.code, d)
		}
	})
}

// quietRoutes are polled by probes and scrapers every few seconds: their lines would drown
// the access log.
var quietRoutes = map[string]bool{"GET /livez": true, "GET /readyz": true, "GET /metrics": true}

// quietPaths are the same routes before routing: they are not traced either.
var quietPaths = map[string]bool{"/livez": true, "/readyz": true, "/metrics": true}
