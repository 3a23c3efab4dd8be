package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

// TestOperatorRunsWithChartRBAC installs the tera-operator chart's RBAC for real, then runs
// the operator as that ServiceAccount: the generated ClusterRole and the leader-election Role
// must be enough to take the Lease and reconcile a site.
func TestOperatorRunsWithChartRBAC(t *testing.T) {
	bin := os.Getenv("KUBEBUILDER_ASSETS")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin")
	}
	for _, b := range []string{"kube-apiserver", "kubectl", "helm"} {
		if _, err := os.Stat(filepath.Join(bin, b)); err != nil {
			if os.Getenv("TERA_REQUIRE_ENVTEST") != "" {
				t.Fatalf("%s missing in %s", b, bin)
			}
			t.Skipf("%s not installed in %s", b, bin)
		}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: bin,
		CRDDirectoryPaths:     []string{filepath.Join("..", "config", "crd")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(terav1.AddToScheme(scheme))
	admin, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, ns := range []string{"tera-system", "tera"} {
		if err := admin.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}

	// Render and apply the chart's ServiceAccount and RBAC as an administrator.
	manifest, err := exec.Command(filepath.Join(bin, "helm"), "template", "tera-operator", "../../charts/tera-operator",
		"-n", "tera-system", "-s", "templates/serviceaccount.yaml", "-s", "templates/rbac.yaml").Output()
	if err != nil {
		t.Fatalf("helm template: %v", err)
	}
	adminUser, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kc, _ := adminUser.KubeConfig()
	kcPath := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kcPath, kc, 0o600); err != nil {
		t.Fatal(err)
	}
	apply := exec.Command(filepath.Join(bin, "kubectl"), "--kubeconfig", kcPath, "apply", "--server-side", "-f", "-")
	apply.Stdin = strings.NewReader(string(manifest))
	if out, err := apply.CombinedOutput(); err != nil {
		t.Fatalf("apply RBAC: %v\n%s", err, out)
	}

	// The operator, authenticated as its ServiceAccount.
	sa, err := env.AddUser(envtest.User{
		Name:   "system:serviceaccount:tera-system:tera-operator",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:tera-system", "system:authenticated"},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	go func() {
		done <- run(runCtx, []string{
			"--health-probe-bind-address=0", "--metrics-bind-address=0",
			"--leader-elect=true", "--leader-election-namespace=tera-system", "--zap-log-level=error",
		}, sa.Config())
	}()
	defer func() {
		cancel()
		<-done
	}()

	site := &terav1.TeraSite{
		ObjectMeta: metav1.ObjectMeta{Name: "clinic", Namespace: "tera"},
		Spec: terav1.TeraSiteSpec{
			Version:  "1.0.0",
			Database: terav1.DatabaseSpec{DSNSecretRef: terav1.SecretKeyRef{Name: "pg"}},
			NATS:     terav1.NATSSpec{URL: "nats://nats:4222"},
			Ingress:  terav1.IngressSpec{Host: "tera.local"},
		},
	}
	if err := admin.Create(ctx, site); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(45 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		lastErr = func() error {
			lease := &coordinationv1.Lease{}
			if err := admin.Get(ctx, client.ObjectKey{Namespace: "tera-system", Name: "tera-operator.tera.health"}, lease); err != nil {
				return fmt.Errorf("lease: %w", err)
			}
			var jobs batchv1.JobList
			if err := admin.List(ctx, &jobs, client.InNamespace("tera")); err != nil || len(jobs.Items) != 1 {
				return fmt.Errorf("migration job: %d (%v)", len(jobs.Items), err)
			}
			s := &terav1.TeraSite{}
			if err := admin.Get(ctx, client.ObjectKeyFromObject(site), s); err != nil {
				return err
			}
			if s.Status.ObservedGeneration != s.Generation || len(s.Status.Conditions) == 0 {
				return fmt.Errorf("status not written: %+v", s.Status)
			}
			for _, n := range []string{"clinic-config", "clinic-signing-keys", "clinic-device-ca"} {
				var obj client.Object = &corev1.Secret{}
				if n == "clinic-config" {
					obj = &corev1.ConfigMap{}
				}
				if err := admin.Get(ctx, client.ObjectKey{Namespace: "tera", Name: n}, obj); err != nil {
					return fmt.Errorf("%s: %w", n, err)
				}
			}
			return nil
		}()
		if lastErr == nil {
			return
		}
		select {
		case code := <-done:
			done <- code
			t.Fatalf("operator exited with %d", code)
		case <-time.After(250 * time.Millisecond):
		}
	}
	t.Fatalf("operator under the chart's RBAC did not reconcile: %v", lastErr)
}
