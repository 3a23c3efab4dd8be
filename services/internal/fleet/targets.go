package fleet

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/router"
)

// Target is one deployable role of the binary (ARCHITECTURE §2).
type Target struct {
	Name string
	// Paths are the HTTP path prefixes the target owns behind the ingress.
	Paths []string
	// NeedsDB and NeedsNATS say which dependencies the target uses.
	NeedsDB, NeedsNATS bool
	// Build returns the target's services, given the process's shared dependencies.
	Build func(d *Deps) ([]server.Service, error)
	// Outbox: the target relays the outbox, so its /metrics reports the outbox backlog.
	Outbox bool
	// Consumers are the durable JetStream consumers the target reads; /metrics reports their lag.
	Consumers []consumerRef
}

// registry is the one place targets are registered; see targets_*.go.
var registry = map[string]Target{}

func register(t Target) {
	if _, dup := registry[t.Name]; dup {
		panic("target registered twice: " + t.Name)
	}
	registry[t.Name] = t
}

// Known lists the registered target names, sorted.
func Known() []string {
	names := make([]string, 0, len(registry))
	for n := range registry {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Lookup returns a target by name.
func Lookup(name string) (Target, bool) {
	t, ok := registry[name]
	return t, ok
}

// Resolve parses a --target value: comma-separated names or "all".
func Resolve(spec string) ([]Target, error) {
	var names []string
	for _, n := range strings.Split(spec, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if n == "all" {
			names = Known()
			break
		}
		if _, ok := registry[n]; !ok {
			return nil, fmt.Errorf("unknown target %q; known targets: %s (or all)", n, strings.Join(Known(), ", "))
		}
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no target given; known targets: %s (or all)", strings.Join(Known(), ", "))
	}
	out := make([]Target, len(names))
	for i, n := range names {
		out[i] = registry[n]
	}
	return out, nil
}

// Routes are the ingress rules of every registered target: the path prefixes each one owns.
func Routes() []router.Route {
	var routes []router.Route
	for _, name := range Known() {
		for _, p := range registry[name].Paths {
			routes = append(routes, router.Route{Prefix: p, Target: name})
		}
	}
	return routes
}
