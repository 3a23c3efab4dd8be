// Package charttest checks the Helm charts: helm lint and helm template for each chart,
// typed comparison of the rendered objects (as the NATS chart's tests do), the liveness and
// NetworkPolicy invariants, and a server-side dry-run apply of every rendered manifest to a
// real kube-apiserver (envtest) with the CRDs installed.
package charttest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/operator/internal/builder"
)

var (
	repoRoot, _ = filepath.Abs("../../..")
	chartsDir   = filepath.Join(repoRoot, "charts")
	scheme      = runtime.NewScheme()
	codecs      serializer.CodecFactory
)

func init() {
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(terav1.AddToScheme(scheme))
	utilruntime.Must(apiextensionsv1.AddToScheme(scheme))
	codecs = serializer.NewCodecFactory(scheme, serializer.EnableStrict)
}

func binDir() string {
	if d := os.Getenv("TERA_BIN"); d != "" {
		return d
	}
	return filepath.Join(repoRoot, "bin")
}

func helmBin(t *testing.T) string {
	t.Helper()
	h := filepath.Join(binDir(), "helm")
	if _, err := os.Stat(h); err != nil {
		if os.Getenv("TERA_REQUIRE_ENVTEST") != "" {
			t.Fatalf("helm missing in %s: run `make operator-tools`", binDir())
		}
		t.Skipf("helm not installed in %s (make operator-tools)", binDir())
	}
	return h
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, out.String(), errb.String())
	}
	return out.String(), nil
}

// render runs helm template and returns the manifest text.
func render(t *testing.T, chart, release, namespace string, valueFiles ...string) string {
	t.Helper()
	args := []string{"template", release, filepath.Join(chartsDir, chart), "--namespace", namespace, "--kube-version", "1.37.2"}
	for _, f := range valueFiles {
		args = append(args, "-f", filepath.Join("testdata", f))
	}
	out, err := run(t, helmBin(t), args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// decode turns a manifest stream into typed objects (unstructured for unknown kinds).
func decode(t *testing.T, manifest string) []runtime.Object {
	t.Helper()
	var objs []runtime.Object
	for _, doc := range strings.Split(manifest, "\n---") {
		doc = strings.TrimSpace(strings.TrimPrefix(doc, "---"))
		if doc == "" || strings.Trim(strings.ReplaceAll(doc, "\n", ""), " ") == "" {
			continue
		}
		if isComments(doc) {
			continue
		}
		obj, _, err := codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
		if err != nil {
			u := &unstructured.Unstructured{}
			if yerr := yaml.Unmarshal([]byte(doc), &u.Object); yerr != nil || u.GetKind() == "" || runtime.IsStrictDecodingError(err) {
				t.Fatalf("decode: %v\n%s", err, doc)
			}
			obj = u
		}
		objs = append(objs, obj)
	}
	return objs
}

func isComments(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			return false
		}
	}
	return true
}

func find[T runtime.Object](objs []runtime.Object) []T {
	var out []T
	for _, o := range objs {
		if v, ok := o.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func TestHelmLint(t *testing.T) {
	h := helmBin(t)
	cases := []struct {
		chart  string
		values []string
	}{
		{"tera-crds", nil},
		{"tera-operator", nil},
		{"tera-operator", []string{"operator-monitoring.yaml"}},
		{"tera", []string{"tera-minimal.yaml"}},
		{"tera", []string{"tera-full.yaml"}},
	}
	for _, c := range cases {
		args := []string{"lint", "--strict", filepath.Join(chartsDir, c.chart), "--kube-version", "1.37.2"}
		for _, v := range c.values {
			args = append(args, "-f", filepath.Join("testdata", v))
		}
		if out, err := run(t, h, args...); err != nil {
			t.Errorf("%s %v: %v", c.chart, c.values, err)
		} else if !strings.Contains(out, "0 chart(s) failed") {
			t.Errorf("%s: %s", c.chart, out)
		}
	}
}

func TestTeraChartRequiresItsInputs(t *testing.T) {
	h := helmBin(t)
	_, err := run(t, h, "template", "x", filepath.Join(chartsDir, "tera"))
	if err == nil || !strings.Contains(err.Error(), "ingress.host is required") {
		t.Fatalf("rendering without a host: %v", err)
	}
	_, err = run(t, h, "template", "x", filepath.Join(chartsDir, "tera"), "-f", "testdata/tera-minimal.yaml", "--set", "log.level=loud")
	if err == nil || !strings.Contains(err.Error(), "values don't meet the specifications of the schema") {
		t.Fatalf("schema did not refuse log.level=loud: %v", err)
	}
}

func TestTeraChartRendersTheSite(t *testing.T) {
	objs := decode(t, render(t, "tera", "clinic-release", "tera", "tera-full.yaml"))
	sites := find[*terav1.TeraSite](objs)
	if len(sites) != 1 {
		t.Fatalf("%d TeraSites", len(sites))
	}
	got := sites[0]
	want := &terav1.TeraSite{
		TypeMeta: metav1.TypeMeta{APIVersion: "tera.health/v1alpha1", Kind: "TeraSite"},
		ObjectMeta: metav1.ObjectMeta{Name: "clinic", Namespace: "tera", Labels: map[string]string{
			"app.kubernetes.io/name": "tera", "app.kubernetes.io/instance": "clinic", "app.kubernetes.io/managed-by": "Helm",
			"app.kubernetes.io/part-of": "tera", "helm.sh/chart": "tera-0.1.0",
		}},
		Spec: terav1.TeraSiteSpec{
			Version:  "1.2.3",
			Image:    terav1.ImageSpec{Repository: "registry.example/tera", PullPolicy: corev1.PullIfNotPresent},
			Database: terav1.DatabaseSpec{DSNSecretRef: terav1.SecretKeyRef{Name: "clinic-pg-app", Key: "uri"}},
			NATS: terav1.NATSSpec{URL: "nats://nats.nats:4222",
				CredentialsSecretRef: &terav1.SecretKeyRef{Name: "nats-creds", Key: "nats.creds"}},
			Ingress: terav1.IngressSpec{
				Enabled: ptr.To(true), Host: "tera.example.org", ClassName: ptr.To("nginx"),
				TLS:            &terav1.IngressTLS{SecretName: "tera-tls", ClusterIssuer: "letsencrypt"},
				TrustedProxies: []string{"10.0.0.0/8"},
			},
			OIDC: &terav1.OIDCSpec{
				IssuerURL: "https://id.example.org/realms/tera", DiscoveryURL: "http://keycloak.id:8080/realms/tera",
				ClientID: "tera", ClientSecretRef: terav1.SecretKeyRef{Name: "oidc-client", Key: "client-secret"},
			},
			Log: terav1.LogSpec{Level: "info", Format: "json"},
			Defaults: terav1.WorkloadSpec{Resources: &corev1.ResourceRequirements{Requests: corev1.ResourceList{
				corev1.ResourceCPU: builderQ("100m"), corev1.ResourceMemory: builderQ("128Mi"),
			}}},
			Targets: terav1.TargetsSpec{
				Core:       terav1.TargetSpec{WorkloadSpec: terav1.WorkloadSpec{Autoscaling: &terav1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 6}}},
				WebSocket:  terav1.TargetSpec{Enabled: ptr.To(true), WorkloadSpec: terav1.WorkloadSpec{Replicas: ptr.To[int32](3)}},
				Logging:    terav1.TargetSpec{Enabled: ptr.To(false)},
				VideoRehab: terav1.TargetSpec{Enabled: ptr.To(true)},
			},
			VideoRehab: terav1.VideoRehabSpec{UDPPort: 40000, PublicHost: "media.example.org", ServiceType: corev1.ServiceTypeLoadBalancer,
				TURNURLs: []string{"turn:turn.example.org:3478?transport=udp"}},
			ExternalServices: []terav1.ExternalService{{
				Name: "exergames", Image: "registry.example/exergames:2.1", Port: 8000,
				ServiceKey: "ExergamesService", Paths: []string{"/exergames"},
			}},
			Monitoring: terav1.MonitoringSpec{ServiceMonitor: ptr.To(true)},
			Tracing: &terav1.TracingSpec{Endpoint: "http://otel-collector.observability:4317", Protocol: "grpc", SampleRatio: "0.1",
				Env: []corev1.EnvVar{{Name: "OTEL_EXPORTER_OTLP_HEADERS", ValueFrom: &corev1.EnvVarSource{
					SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "otlp-auth"}, Key: "headers"}}}}},
			Migration: terav1.MigrationSpec{BackoffLimit: ptr.To[int32](3), ActiveDeadlineSeconds: ptr.To[int64](600)},
		},
	}
	if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
		g, _ := yaml.Marshal(got)
		w, _ := yaml.Marshal(want)
		t.Errorf("rendered TeraSite differs.\ngot:\n%s\nwant:\n%s", g, w)
	}
}

// normalize round-trips through JSON so quantities and empty values compare by meaning.
func normalize(t *testing.T, o any) map[string]any {
	t.Helper()
	b, err := yaml.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// LiveKit's lesson: a dependency outage must never restart the fleet through liveness.
func TestLivenessNeverChecksADependency(t *testing.T) {
	// The operator's own Deployment.
	objs := decode(t, render(t, "tera-operator", "tera-operator", "tera-system"))
	deps := find[*appsv1.Deployment](objs)
	if len(deps) != 1 {
		t.Fatalf("%d operator Deployments", len(deps))
	}
	c := deps[0].Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" {
		t.Errorf("operator liveness: %+v", c.LivenessProbe)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("operator readiness: %+v", c.ReadinessProbe)
	}

	// Every Deployment the operator makes from the chart's site.
	for _, values := range []string{"tera-full.yaml", "tera-minimal.yaml"} {
		site := find[*terav1.TeraSite](decode(t, render(t, "tera", "clinic", "tera", values)))[0]
		for _, w := range builder.EnabledWorkloads(site) {
			d := builder.Deployment(site, w, builder.Image(site), "hash")
			for _, c := range d.Spec.Template.Spec.Containers {
				checkLiveness(t, values+"/"+w.Name, c)
			}
		}
	}
}

func checkLiveness(t *testing.T, who string, c corev1.Container) {
	t.Helper()
	for name, p := range map[string]*corev1.Probe{"liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		if p == nil {
			if name == "liveness" {
				t.Errorf("%s: no liveness probe", who)
			}
			continue
		}
		switch {
		case p.Exec != nil:
			t.Errorf("%s: %s probe runs a command (could reach a dependency)", who, name)
		case p.HTTPGet != nil && p.HTTPGet.Path != "/livez":
			t.Errorf("%s: %s probe checks %s, want /livez (process only)", who, name, p.HTTPGet.Path)
		case p.TCPSocket != nil && p.TCPSocket.Port.String() != "http":
			t.Errorf("%s: %s probe dials %s", who, name, p.TCPSocket.Port.String())
		case p.GRPC != nil:
			t.Errorf("%s: %s probe uses gRPC health (which reports dependencies)", who, name)
		}
	}
	if c.ReadinessProbe == nil {
		t.Errorf("%s: no readiness probe", who)
	} else if c.ReadinessProbe.HTTPGet != nil && c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("%s: readiness %s", who, c.ReadinessProbe.HTTPGet.Path)
	}
}

func TestNetworkPoliciesDenyByDefault(t *testing.T) {
	if n := len(find[*networkingv1.NetworkPolicy](decode(t, render(t, "tera", "clinic", "tera", "tera-minimal.yaml")))); n != 0 {
		t.Errorf("%d NetworkPolicies without networkPolicy.enabled", n)
	}
	objs := decode(t, render(t, "tera", "clinic-release", "tera", "tera-full.yaml"))
	site := find[*terav1.TeraSite](objs)[0]
	pols := find[*networkingv1.NetworkPolicy](objs)
	var deny *networkingv1.NetworkPolicy
	for _, p := range pols {
		if p.Name == "clinic-default-deny" {
			deny = p
		}
	}
	if deny == nil {
		t.Fatalf("no default-deny policy among %d", len(pols))
	}
	if len(deny.Spec.Ingress) != 0 || len(deny.Spec.Egress) != 0 ||
		!slicesEqual(deny.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress}) {
		t.Errorf("default-deny allows something: %+v", deny.Spec)
	}
	denySel, err := metav1.LabelSelectorAsSelector(&deny.Spec.PodSelector)
	if err != nil || denySel.Empty() {
		t.Fatalf("deny selector %v (%v)", denySel, err)
	}
	// Every pod the operator runs for this site (targets, external services, the migration
	// Job) is covered by the deny policy.
	for _, w := range builder.EnabledWorkloads(site) {
		d := builder.Deployment(site, w, builder.Image(site), "h")
		if !denySel.Matches(labels.Set(d.Spec.Template.Labels)) {
			t.Errorf("%s pods escape the default deny", w.Name)
		}
	}
	if j := builder.MigrationJob(site, builder.Image(site), "h"); !denySel.Matches(labels.Set(j.Spec.Template.Labels)) {
		t.Error("migration Job pods escape the default deny")
	}
	// No allow rule opens to "everything" by accident: every peer names a selector or a CIDR,
	// and only the videorehab media rules use 0.0.0.0/0.
	for _, p := range pols {
		check := func(dir string, peers []networkingv1.NetworkPolicyPeer) {
			if len(peers) == 0 {
				t.Errorf("%s: %s rule without peers allows every source", p.Name, dir)
			}
			for _, peer := range peers {
				if peer.PodSelector == nil && peer.NamespaceSelector == nil && peer.IPBlock == nil {
					t.Errorf("%s: empty %s peer", p.Name, dir)
				}
				if peer.IPBlock != nil && peer.IPBlock.CIDR == "0.0.0.0/0" && p.Name != "clinic-allow-videorehab-media" {
					t.Errorf("%s: %s open to the world", p.Name, dir)
				}
			}
		}
		for _, r := range p.Spec.Ingress {
			check("ingress", r.From)
			if len(r.Ports) == 0 {
				t.Errorf("%s: ingress rule on every port", p.Name)
			}
		}
		for _, r := range p.Spec.Egress {
			check("egress", r.To)
			if len(r.Ports) == 0 {
				t.Errorf("%s: egress rule on every port", p.Name)
			}
		}
	}
	names := map[string]bool{}
	for _, p := range pols {
		names[p.Name] = true
	}
	for _, n := range []string{"clinic-allow-ingress-controller", "clinic-allow-between-targets", "clinic-allow-dependencies",
		"clinic-allow-metrics", "clinic-allow-videorehab-media", "clinic-allow-extra-egress"} {
		if !names[n] {
			t.Errorf("missing NetworkPolicy %s", n)
		}
	}
}

func TestNoMediaPolicyWithoutVideorehab(t *testing.T) {
	out, err := run(t, helmBin(t), "template", "clinic", filepath.Join(chartsDir, "tera"), "-n", "tera",
		"-f", "testdata/tera-full.yaml", "--set", "targets.videorehab.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range find[*networkingv1.NetworkPolicy](decode(t, out)) {
		if p.Name == "clinic-allow-videorehab-media" {
			t.Error("media policy rendered with videorehab disabled")
		}
	}
}

func slicesEqual[T comparable](a, b []T) bool { return reflect.DeepEqual(a, b) }
