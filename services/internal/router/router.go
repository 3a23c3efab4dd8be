// Package router routes HTTP requests to targets by path, as the production Ingress does
// (ARCHITECTURE §2, the table of pkg/routing): the longest path prefix matching by element
// picks the target, and requests rotate over its replicas. The fleet end-to-end tests put it in
// front of separate target processes.
package router

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/tera-health/tera/pkg/routing"
)

// Route sends requests whose path is under Prefix to Target.
type Route = routing.Route

// Router is an http.Handler.
type Router struct {
	routes   []Route // longest prefix first
	backends map[string]*pool
}

type pool struct {
	replicas []*replica
	next     atomic.Uint64
}

type replica struct {
	base  *url.URL
	proxy *httputil.ReverseProxy
	ready atomic.Bool
	slow  int // consecutive probes that timed out (Watch's goroutine only)
}

// failureThreshold is how many probes in a row must time out before a replica that still
// accepts connections is taken out (Kubernetes' readiness default). A refused connection or a
// non-200 answer takes it out at once.
const failureThreshold = 3

// New builds a router. backends maps a target to the base URLs of its replicas; every route's
// target must have at least one.
func New(routes []Route, backends map[string][]string) (*Router, error) {
	r := &Router{backends: map[string]*pool{}}
	for target, urls := range backends {
		p := &pool{}
		for _, raw := range urls {
			u, err := url.Parse(raw)
			if err != nil {
				return nil, fmt.Errorf("backend %s of %s: %w", raw, target, err)
			}
			rep := &replica{base: u, proxy: httputil.NewSingleHostReverseProxy(u)}
			rep.ready.Store(true)
			p.replicas = append(p.replicas, rep)
		}
		r.backends[target] = p
	}
	for _, rt := range routes {
		if p := r.backends[rt.Target]; p == nil || len(p.replicas) == 0 {
			return nil, fmt.Errorf("route %s: no replica of target %s", rt.Prefix, rt.Target)
		}
		r.routes = append(r.routes, rt)
	}
	routing.Sort(r.routes)
	return r, nil
}

// Target returns the target that serves path, or "".
func (r *Router) Target(path string) string { return routing.Match(r.routes, path) }

func (r *Router) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	t := r.Target(req.URL.Path)
	if t == "" {
		http.NotFound(w, req)
		return
	}
	p := r.backends[t]
	n := uint64(len(p.replicas))
	start := p.next.Add(1) - 1
	for k := uint64(0); k < n; k++ {
		rep := p.replicas[(start+k)%n]
		if rep.ready.Load() {
			// Websocket upgrades pass through: ReverseProxy hijacks and copies both ways.
			rep.proxy.ServeHTTP(w, req)
			return
		}
	}
	http.Error(w, "no ready replica of "+t, http.StatusServiceUnavailable)
}

// Watch polls every replica's /readyz and routes only to ready ones, as Kubernetes endpoints
// do, until ctx ends.
func (r *Router) Watch(ctx context.Context, every time.Duration) {
	client := &http.Client{Timeout: every}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		for _, p := range r.backends {
			for _, rep := range p.replicas {
				resp, err := client.Get(rep.base.String() + "/readyz")
				var ne net.Error
				switch {
				case err == nil:
					resp.Body.Close()
					rep.slow = 0
					rep.ready.Store(resp.StatusCode == http.StatusOK)
				case errors.As(err, &ne) && ne.Timeout():
					// A loaded machine answers late: not a reason to stop routing yet.
					if rep.slow++; rep.slow >= failureThreshold {
						rep.ready.Store(false)
					}
				default:
					rep.ready.Store(false)
				}
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
