package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

func init() { skipNameValidation = true }

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestOperatorStarts runs the real entry point against envtest: it takes the leader Lease,
// serves /healthz and /readyz, serves metrics, and stops cleanly (releasing the Lease).
func TestOperatorStarts(t *testing.T) {
	bin := os.Getenv("KUBEBUILDER_ASSETS")
	if bin == "" {
		bin, _ = filepath.Abs("../../bin")
	}
	if _, err := os.Stat(filepath.Join(bin, "kube-apiserver")); err != nil {
		if os.Getenv("TERA_REQUIRE_ENVTEST") != "" {
			t.Fatal("envtest binaries missing: make operator-envtest-bins")
		}
		t.Skip("envtest binaries not built (make operator-envtest-bins)")
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
	c, err := client.New(cfg, client.Options{Scheme: clientgoscheme.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tera-system"}}); err != nil {
		t.Fatal(err)
	}

	probe, metrics := freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{
			"--health-probe-bind-address=" + probe, "--metrics-bind-address=" + metrics,
			"--metrics-secure=false", "--leader-elect=true", "--leader-election-namespace=tera-system",
			"--watch-namespace=tera-system", "--zap-log-level=error",
		}, cfg)
	}()

	get := func(url string) error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: %s", url, resp.Status)
		}
		return nil
	}
	deadline := time.Now().Add(30 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		lease := &coordinationv1.Lease{}
		lastErr = get("http://" + probe + "/healthz")
		if lastErr == nil {
			lastErr = get("http://" + probe + "/readyz")
		}
		if lastErr == nil {
			lastErr = get("http://" + metrics + "/metrics")
		}
		if lastErr == nil {
			lastErr = c.Get(ctx, client.ObjectKey{Namespace: "tera-system", Name: "tera-operator.tera.health"}, lease)
			if lastErr == nil && (lease.Spec.HolderIdentity == nil || *lease.Spec.HolderIdentity == "") {
				lastErr = fmt.Errorf("lease not held")
			}
		}
		if lastErr == nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lastErr != nil {
		cancel()
		t.Fatalf("operator not up: %v", lastErr)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("run exited %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("operator did not stop")
	}
}
