package fleet

import (
	"context"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/api/annotations"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/routing"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/testenv"
	"github.com/tera-health/tera/services/internal/verifier"
)

// The routing table (pkg/routing: the Ingress, the e2e router) agrees with what each target
// really serves: every path a target serves routes to it, and every prefix the table gives a
// target leads to at least one of its paths (a prefix with nothing behind it, like the
// Ingress's old /logout, fails here).
func TestRoutingTableMatchesServedPaths(t *testing.T) {
	d := testDeps(t)
	routes := Routes()
	for _, name := range Known() {
		if len(routing.Prefixes[name]) == 0 {
			t.Errorf("target %s has no paths in pkg/routing", name)
			continue
		}
		tg, _ := Lookup(name)
		svcs, err := tg.Build(d)
		if err != nil {
			t.Fatalf("build %s: %v", name, err)
		}
		served := servedPaths(t, svcs)
		if len(served) == 0 {
			t.Errorf("target %s serves no HTTP path", name)
		}
		for _, p := range served {
			if got := routing.Match(routes, p); got != name {
				t.Errorf("%s serves %s, but the table sends it to %q", name, p, got)
			}
		}
		for _, prefix := range routing.Prefixes[name] {
			found := false
			for _, p := range served {
				found = found || routing.Matches(prefix, p)
			}
			if !found {
				t.Errorf("the table sends %s to %s, which serves nothing under it (serves %v)", prefix, name, served)
			}
		}
	}
}

// servedPaths are a target's plain HTTP routes and the literal part of its REST bindings
// (google.api.http of the gRPC services it registers).
func servedPaths(t *testing.T, svcs []server.Service) []string {
	t.Helper()
	var out []string
	for _, s := range svcs {
		if h, ok := s.(server.HTTPService); ok {
			for _, r := range h.HTTPRoutes() {
				out = append(out, r.Path)
			}
		}
		gs := grpc.NewServer()
		s.RegisterGRPC(gs)
		for name := range gs.GetServiceInfo() {
			d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
			if err != nil {
				continue // health, reflection
			}
			methods := d.(protoreflect.ServiceDescriptor).Methods()
			for i := range methods.Len() {
				rule, _ := proto.GetExtension(methods.Get(i).Options(), annotations.E_Http).(*annotations.HttpRule)
				for _, r := range append([]*annotations.HttpRule{rule}, rule.GetAdditionalBindings()...) {
					if p := bindingPath(r); p != "" {
						out = append(out, p)
					}
				}
			}
		}
	}
	return out
}

func bindingPath(r *annotations.HttpRule) string {
	var p string
	switch {
	case r == nil:
	case r.GetGet() != "":
		p = r.GetGet()
	case r.GetPost() != "":
		p = r.GetPost()
	case r.GetPut() != "":
		p = r.GetPut()
	case r.GetDelete() != "":
		p = r.GetDelete()
	case r.GetPatch() != "":
		p = r.GetPatch()
	}
	if i := strings.IndexByte(p, '{'); i >= 0 {
		p = strings.TrimSuffix(p[:i], "/")
	}
	return p
}

func testDeps(t *testing.T) *Deps {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Auth.SigningKeysDir = t.TempDir()
	cfg.FileTransfer.Blob.Dir = t.TempDir()
	if _, err := authn.GenerateKeyFile(cfg.Auth.SigningKeysDir); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(testenv.NATS(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	d := &Deps{Config: cfg, Log: testenv.Quiet(), LocalLog: testenv.Quiet(), DB: testenv.DB(t), NATS: nc, JS: js, Metrics: prometheus.NewRegistry()}
	if d.Verifier, err = verifier.New(context.Background(), verifier.Config{SigningKeysDir: cfg.Auth.SigningKeysDir}, d.DB, js); err != nil {
		t.Fatal(err)
	}
	return d
}
