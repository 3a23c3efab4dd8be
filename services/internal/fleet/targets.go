package fleet

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/tera-health/tera/pkg/routing"
	"github.com/tera-health/tera/pkg/server"
)

// Target is one deployable role of the binary (ARCHITECTURE §2).
type Target struct {
	// Name is also the target's key in pkg/routing's table of the HTTP paths it owns.
	Name string
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

// Routes are the ingress rules (pkg/routing) of the targets this binary serves.
func Routes() []routing.Route {
	var routes []routing.Route
	for _, r := range routing.Routes() {
		if _, ok := registry[r.Target]; ok {
			routes = append(routes, r)
		}
	}
	return routes
}
