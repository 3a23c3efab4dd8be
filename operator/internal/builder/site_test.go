package builder

import (
	"slices"
	"testing"

	"k8s.io/utils/ptr"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

func enabledNames(site *terav1.TeraSite) []string {
	var names []string
	for _, w := range EnabledWorkloads(site) {
		names = append(names, w.Name)
	}
	return names
}

// A site that says nothing about targets runs exactly the ones the binary serves: enabling a
// target the binary does not know would leave the site never Ready.
func TestOnlyServedTargetsRunByDefault(t *testing.T) {
	site := &terav1.TeraSite{}
	if got := enabledNames(site); !slices.Equal(got, terav1.ServedTargets) {
		t.Fatalf("default targets %v, want %v", got, terav1.ServedTargets)
	}
	site.Spec.Targets.Logging.Enabled = ptr.To(true)
	site.Spec.Targets.Core.Enabled = ptr.To(false)
	if got := enabledNames(site); !slices.Equal(got, []string{"login", "usermanager", "websocket", "filetransfer", "logging", "email"}) {
		t.Fatalf("explicit choices not honoured: %v", got)
	}
}
