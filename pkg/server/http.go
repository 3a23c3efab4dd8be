package server

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"

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
	for _, svc := range s.opts.Services {
		if h, ok := svc.(HTTPService); ok {
			h.HTTPRoutes(mux)
		}
	}
	mux.Handle("/", s.limitBody(gw))
	return s.instrument(cors(mux))
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

func (s *Server) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ContentLength > s.cfg.MaxBodyBytes {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set(ReasonHeader, "ERROR_REASON_TOO_LARGE")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte("\"Request body too large\"\n"))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
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
		next.ServeHTTP(rec, r)
		requests.WithLabelValues(r.Method, strconv.Itoa(rec.code)).Inc()
		duration.WithLabelValues(r.Method).Observe(time.Since(start).Seconds())
	})
}
