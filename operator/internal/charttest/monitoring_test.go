package charttest

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// renderWith is render with extra helm template arguments (--api-versions, --set).
func renderWith(t *testing.T, extra ...string) string {
	t.Helper()
	args := append([]string{"template", "clinic", filepath.Join(chartsDir, "tera"), "--namespace", "tera", "--kube-version", "1.37.2",
		"-f", filepath.Join("testdata", "tera-minimal.yaml")}, extra...)
	out, err := run(t, helmBin(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// exportedMetrics is testdata/metrics.txt: the samples the code exports (services/cmd/tera's
// dev test finds each one on /metrics of `tera dev`).
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "metrics.txt"))
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
}

// checkPromQL parses expr and fails on a syntax error or a metric the code does not export.
func checkPromQL(t *testing.T, where, expr string, exported map[string]bool) {
	t.Helper()
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %v\n%s", where, err, expr)
		return
	}
	names := 0
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			names++
			if !exported[vs.Name] && vs.Name != "up" { // up is Prometheus' own
				t.Errorf("%s names %s, which no target exports (testdata/metrics.txt)", where, vs.Name)
			}
		}
		return nil
	})
	if names == 0 {
		t.Errorf("%s selects no metric: %s", where, expr)
	}
}

// Grafana variables replaced by values PromQL accepts, as Grafana does before querying.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$namespace", "tera", "$site", "clinic")

func TestDashboardsPerTargetForTheGrafanaSidecar(t *testing.T) {
	exported := exportedMetrics(t)
	objs := decode(t, renderWith(t))
	var dashboards []*corev1.ConfigMap
	for _, cm := range find[*corev1.ConfigMap](objs) {
		if cm.Labels["grafana_dashboard"] == "1" {
			dashboards = append(dashboards, cm)
		}
	}
	var names []string
	for _, cm := range dashboards {
		names = append(names, cm.Name)
	}
	slices.Sort(names)
	want := []string{"clinic-dashboard-core", "clinic-dashboard-logging", "clinic-dashboard-login", "clinic-dashboard-usermanager", "clinic-dashboard-videorehab",
		"clinic-dashboard-websocket"}
	if !slices.Equal(names, want) {
		t.Fatalf("dashboard ConfigMaps %v, want %v", names, want)
	}
	// What each target's dashboard must show beyond the four golden signals.
	special := map[string]string{"core": "tera_outbox_oldest_pending_seconds", "usermanager": "tera_nats_consumer_pending_messages",
		"logging": "tera_nats_consumer_pending_messages", "websocket": "tera_websocket_connections", "videorehab": "tera_videorehab_rtp_packets_total"}
	for _, cm := range dashboards {
		target := strings.TrimPrefix(cm.Name, "clinic-dashboard-")
		if len(cm.Data) != 1 {
			t.Fatalf("%s: %d files", cm.Name, len(cm.Data))
		}
		var d struct {
			UID, Title string
			Templating struct{ List []struct{ Name string } }
			Panels     []struct {
				Type, Title string
				Targets     []struct{ Expr string }
			}
		}
		if err := json.Unmarshal([]byte(cm.Data["tera-"+target+".json"]), &d); err != nil {
			t.Fatalf("%s: not a JSON dashboard: %v", cm.Name, err)
		}
		if d.UID != "tera-"+target || !strings.HasPrefix(d.Title, "Tera / ") {
			t.Errorf("%s: uid %q title %q", cm.Name, d.UID, d.Title)
		}
		var rows, exprs []string
		for _, p := range d.Panels {
			if p.Type == "row" {
				rows = append(rows, p.Title)
			}
			for i, tg := range p.Targets {
				exprs = append(exprs, tg.Expr)
				checkPromQL(t, cm.Name+" / "+p.Title+" #"+string(rune('A'+i)), grafanaVars.Replace(tg.Expr), exported)
				if !strings.Contains(tg.Expr, `job="$site-`+target+`"`) {
					t.Errorf("%s / %s does not select the target's job: %s", cm.Name, p.Title, tg.Expr)
				}
			}
		}
		for _, r := range []string{"Traffic", "Errors", "Latency", "Saturation"} {
			if !slices.Contains(rows, r) {
				t.Errorf("%s lacks the %s row (rows %v)", cm.Name, r, rows)
			}
		}
		if m := special[target]; m != "" && !strings.Contains(strings.Join(exprs, "\n"), m) {
			t.Errorf("%s shows no %s", cm.Name, m)
		}
	}
	if len(decode(t, renderWith(t, "--set", "dashboards.enabled=false"))) != 1 {
		t.Error("dashboards.enabled=false still renders dashboards")
	}
}

func TestPrometheusRuleOnlyWithItsCRD(t *testing.T) {
	exported := exportedMetrics(t)
	rules := func(objs []any) []*unstructured.Unstructured {
		var out []*unstructured.Unstructured
		for _, o := range objs {
			if u, ok := o.(*unstructured.Unstructured); ok && u.GetKind() == "PrometheusRule" {
				out = append(out, u)
			}
		}
		return out
	}
	asAny := func(manifest string) []any {
		var out []any
		for _, o := range decode(t, manifest) {
			out = append(out, o)
		}
		return out
	}
	if n := len(rules(asAny(renderWith(t)))); n != 0 {
		t.Fatalf("%d PrometheusRules without the CRD", n)
	}
	withCRD := []string{"--api-versions", "monitoring.coreos.com/v1/PrometheusRule"}
	if n := len(rules(asAny(renderWith(t, append(withCRD, "--set", "alerts.enabled=false")...)))); n != 0 {
		t.Fatalf("%d PrometheusRules with alerts.enabled=false", n)
	}
	got := rules(asAny(renderWith(t, withCRD...)))
	if len(got) != 1 || got[0].GetName() != "clinic" || got[0].GetNamespace() != "tera" {
		t.Fatalf("PrometheusRules: %v", got)
	}
	groups, _, _ := unstructured.NestedSlice(got[0].Object, "spec", "groups")
	var alerts []string
	for _, g := range groups {
		rs, _, _ := unstructured.NestedSlice(g.(map[string]any), "rules")
		for _, r := range rs {
			rule := r.(map[string]any)
			name, _ := rule["alert"].(string)
			expr, _ := rule["expr"].(string)
			alerts = append(alerts, name)
			checkPromQL(t, "alert "+name, expr, exported)
			if !strings.Contains(expr, `namespace="tera"`) || !strings.Contains(expr, `job=~"clinic-.+"`) {
				t.Errorf("alert %s does not select the site: %s", name, expr)
			}
			sev, _, _ := unstructured.NestedString(rule, "labels", "severity")
			summary, _, _ := unstructured.NestedString(rule, "annotations", "summary")
			if sev == "" || summary == "" {
				t.Errorf("alert %s: severity %q summary %q", name, sev, summary)
			}
		}
	}
	for _, want := range []string{"TeraTargetDown", "TeraHTTPErrorsHigh", "TeraHTTPLatencyHigh", "TeraOutboxLagging", "TeraNATSConsumerLagging", "TeraNATSConsumerStalled"} {
		if !slices.Contains(alerts, want) {
			t.Errorf("no %s alert (have %v)", want, alerts)
		}
	}
}
