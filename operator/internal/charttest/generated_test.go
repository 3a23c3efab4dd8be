package charttest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// The charts embed copies of controller-gen's output; `make operator-generate` refreshes them.
func TestChartsCarryTheGeneratedFiles(t *testing.T) {
	pairs := map[string]string{
		"operator/config/rbac/role.yaml": "charts/tera-operator/files/role.yaml",
	}
	crds, _ := filepath.Glob(filepath.Join(repoRoot, "operator/config/crd/*.yaml"))
	if len(crds) == 0 {
		t.Fatal("no generated CRDs in operator/config/crd")
	}
	for _, c := range crds {
		pairs["operator/config/crd/"+filepath.Base(c)] = "charts/tera-crds/files/" + filepath.Base(c)
	}
	for src, dst := range pairs {
		a, err := os.ReadFile(filepath.Join(repoRoot, src))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, dst))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s is not a copy of %s (run make operator-generate): %v", dst, src, err)
		}
	}
}
