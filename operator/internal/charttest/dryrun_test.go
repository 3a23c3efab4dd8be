package charttest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// TestServerSideDryRun applies every rendered manifest with `kubectl apply --server-side
// --dry-run=server` to a real kube-apiserver that has the CRDs (TeraSite and a stand-in
// ServiceMonitor) installed, so the API server validates every object, CEL rules included.
func TestServerSideDryRun(t *testing.T) {
	bin := binDir()
	for _, b := range []string{"kube-apiserver", "etcd", "kubectl"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			if os.Getenv("TERA_REQUIRE_ENVTEST") != "" {
				t.Fatalf("%s missing in %s: run `make operator-envtest-bins`", b, bin)
			}
			t.Skipf("%s not built in %s (make operator-envtest-bins)", b, bin)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join(repoRoot, "operator", "config", "crd")},
		ErrorIfCRDPathMissing: true,
		CRDs:                  []*apiextensionsv1.CustomResourceDefinition{serviceMonitorCRD()},
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })

	user, err := env.AddUser(envtest.User{Name: "chart-test", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"tera-system", "tera"} {
		if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	cases := []struct {
		name, chart, release, ns string
		values                   []string
	}{
		{"crds", "tera-crds", "tera-crds", "default", nil},
		{"operator", "tera-operator", "tera-operator", "tera-system", nil},
		{"operator-monitoring", "tera-operator", "tera-operator", "tera-system", []string{"operator-monitoring.yaml"}},
		{"site-minimal", "tera", "clinic", "tera", []string{"tera-minimal.yaml"}},
		{"site-full", "tera", "clinic", "tera", []string{"tera-full.yaml"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			manifest := render(t, tc.chart, tc.release, tc.ns, tc.values...)
			if len(decode(t, manifest)) == 0 {
				t.Fatal("nothing rendered")
			}
			cmd := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", kcPath, "apply",
				"--server-side", "--force-conflicts", "--field-manager=chart-test", "--dry-run=server",
				"--validate=strict", "-f", "-")
			cmd.Stdin = strings.NewReader(manifest)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("kubectl apply --dry-run=server: %v\n%s", err, out)
			}
			if !strings.Contains(string(out), "(server dry run)") {
				t.Fatalf("unexpected kubectl output:\n%s", out)
			}
			t.Logf("%s", strings.TrimSpace(string(out)))
		})
	}

	// helm install --dry-run=server against the same API server: the NOTES tell the next step.
	// (tera-crds is left out: envtest installed the CRD without Helm's ownership metadata.)
	for _, tc := range []struct {
		chart, release, ns, values string
		want                       []string
	}{
		{"tera-operator", "tera-operator", "tera-system", "", []string{"Next step: describe a site", "kubectl -n tera-system logs deploy/tera-operator"}},
		{"tera", "clinic", "tera", "tera-full.yaml", []string{"kubectl -n tera get terasite clinic -w", "https://tera.example.org/"}},
	} {
		args := []string{"install", tc.release, filepath.Join(chartsDir, tc.chart), "--kubeconfig", kcPath,
			"--namespace", tc.ns, "--dry-run=server"}
		if tc.values != "" {
			args = append(args, "-f", filepath.Join("testdata", tc.values))
		}
		out, err := run(t, helmBin(t), args...)
		if err != nil {
			t.Fatalf("helm install --dry-run=server %s: %v", tc.chart, err)
		}
		notes := out[strings.Index(out, "NOTES:")+1:]
		for _, w := range tc.want {
			if !strings.Contains(notes, w) {
				t.Errorf("%s NOTES lack %q:\n%s", tc.chart, w, notes)
			}
		}
		if strings.Contains(notes, "WARNING") {
			t.Errorf("%s NOTES warn although the CRD is installed:\n%s", tc.chart, notes)
		}
	}

	// The API server refuses a site that breaks a CEL rule, through the same path.
	manifest := render(t, "tera", "clinic", "tera", "tera-minimal.yaml")
	bad := strings.Replace(manifest, "  version: 0.1.0", "  version: 0.1.0\n  defaults:\n    autoscaling: {minReplicas: 5, maxReplicas: 2}", 1)
	if bad == manifest {
		t.Fatal("could not inject the invalid autoscaling block")
	}
	cmd := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", kcPath, "apply", "--server-side", "--dry-run=server", "-f", "-")
	cmd.Stdin = strings.NewReader(bad)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "minReplicas must be less than or equal to maxReplicas") {
		t.Fatalf("invalid site accepted or wrong error: %v\n%s", err, out)
	}
}

func serviceMonitorCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "servicemonitors", Singular: "servicemonitor", Kind: "ServiceMonitor", ListKind: "ServiceMonitorList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
}
