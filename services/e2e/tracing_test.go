package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/otlptest"
)

// With OTEL_* pointing at an OTLP endpoint, one REST write is one trace across processes: the
// HTTP request on core, the gateway's gRPC hop (client and server), its SQL, the outbox relay's
// publish of the event and usermanager's handling of it. The log line of the request names the
// trace; no span carries the password written or the token used.
func TestOneWriteIsOneTraceAcrossTargets(t *testing.T) {
	rcv := otlptest.Start(t)
	e, _ := seededEnv(t)
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys,
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+rcv.Endpoint, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
		"OTEL_EXPORTER_OTLP_INSECURE=true", "OTEL_BSP_SCHEDULE_DELAY=50")
	f := startFleet(t, e, map[string]int{"login": 1, "core": 1, "usermanager": 1})
	token := loginToken(t, f.URL, "user", "admin", "admin")

	const password = "Tr4ced!Secret99"
	body := `{"participant": {"id_participant": 0, "id_project": 1, "participant_name": "Traced",
		"participant_username": "traced1", "participant_password": "` + password + `", "participant_login_enabled": true}}`
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/api/user/participants", strings.NewReader(body))
	req.Header.Set("Authorization", "OpenTera "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("POST /api/user/participants: %d", resp.StatusCode)
	}

	var root otlptest.Span
	eventually(t, "the request's server span", func() bool {
		for _, s := range rcv.Spans() {
			if s.Name == "POST /api/user/participants" && s.Kind == tracepb.Span_SPAN_KIND_SERVER {
				root = s
				return true
			}
		}
		return false
	})
	if root.Service != "tera-core" || root.ParentID != "" || root.Attrs["http.route"] != "/api/user/participants" {
		t.Fatalf("server span: %+v", root)
	}
	var trace []otlptest.Span
	find := func(what string, match func(s otlptest.Span) bool) otlptest.Span {
		for _, s := range trace {
			if match(s) {
				return s
			}
		}
		t.Fatalf("no %s in the trace:\n%s", what, dump(trace))
		return otlptest.Span{}
	}
	// Each process exports in its own batches: wait until usermanager's span and the span it
	// names as its parent (core's outbox publish, from a later batch than the request's) are in.
	eventually(t, "usermanager's span and its parent in the trace", func() bool {
		trace = rcv.Trace(root.TraceID)
		ids := map[string]bool{}
		for _, s := range trace {
			ids[s.SpanID] = true
		}
		for _, s := range trace {
			if s.Service == "tera-usermanager" && ids[s.ParentID] {
				return true
			}
		}
		return false
	})

	byID := map[string]otlptest.Span{}
	for _, s := range trace {
		byID[s.SpanID] = s
	}
	hop := find("gateway hop client span", func(s otlptest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_CLIENT && s.Attrs["rpc.system.name"] == "grpc"
	})
	grpcServer := find("gRPC server span", func(s otlptest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_SERVER && s.ParentID == hop.SpanID
	})
	if hop.ParentID != root.SpanID || grpcServer.Name != hop.Name {
		t.Fatalf("gateway hop %+v, gRPC server %+v, root %s", hop, grpcServer, root.SpanID)
	}
	insert := find("SQL INSERT span", func(s otlptest.Span) bool {
		return s.Attrs["db.system.name"] == "postgresql" && s.Name == "INSERT" && strings.Contains(s.Attrs["db.query.text"], "t_participants")
	})
	if !descends(byID, insert, grpcServer.SpanID) {
		t.Fatalf("INSERT span is not under the gRPC server span:\n%s", dump(trace))
	}
	publish := find("outbox publish span", func(s otlptest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_PRODUCER && s.Name == "publish tera.db.participant.created"
	})
	consume := find("usermanager consumer span", func(s otlptest.Span) bool {
		return s.Kind == tracepb.Span_SPAN_KIND_CONSUMER && s.Service == "tera-usermanager" && s.Name == "process tera.db.participant.created"
	})
	if publish.Service != "tera-core" || !descends(byID, publish, grpcServer.SpanID) || consume.ParentID != publish.SpanID {
		t.Fatalf("publish %+v, consume %+v:\n%s", publish, consume, dump(trace))
	}

	t.Logf("trace %s:\n%s", root.TraceID, dump(trace))
	for _, s := range rcv.Spans() {
		for k, v := range s.Attrs {
			if strings.Contains(v, password) || strings.Contains(v, token) {
				t.Fatalf("span %q attribute %s carries a secret", s.Name, k)
			}
		}
	}
	var core *replica
	for _, r := range f.replicas {
		if r.target == "core" {
			core = r
		}
	}
	eventually(t, "the access log line with the trace id", func() bool {
		for _, line := range strings.Split(core.log.String(), "\n") {
			if strings.Contains(line, `msg="http request"`) && strings.Contains(line, "route=/api/user/participants") &&
				strings.Contains(line, "trace_id="+root.TraceID) {
				return true
			}
		}
		return false
	})
}

// descends reports whether s has ancestor id within the trace.
func descends(byID map[string]otlptest.Span, s otlptest.Span, id string) bool {
	for s.ParentID != "" {
		if s.ParentID == id {
			return true
		}
		var ok bool
		if s, ok = byID[s.ParentID]; !ok {
			return false
		}
	}
	return false
}

func dump(spans []otlptest.Span) string {
	var b strings.Builder
	for _, s := range spans {
		b.WriteString(s.Service + " " + s.Kind.String() + " " + s.Name + " id=" + s.SpanID + " parent=" + s.ParentID + "\n")
	}
	return b.String()
}
