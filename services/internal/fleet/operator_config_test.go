package fleet

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/tera-health/tera/pkg/config"
)

// operatorGolden is the tera.yaml the operator renders for a site using every TeraSite field
// that reaches it (operator/internal/builder TestRenderedConfigGolden keeps it current).
const operatorGolden = "../../../operator/internal/builder/testdata/tera.yaml"

// leftToDefaults are the binary's settings a TeraSite does not set, each for a reason.
var leftToDefaults = map[string]string{
	"database.url":                           "a Secret, through TERA_DATABASE_URL",
	"database.max_conns":                     "the binary's default",
	"max_body_bytes":                         "the binary's default",
	"readiness_timeout":                      "the binary's default",
	"logging.level":                          "the logging target's default",
	"logging.retention":                      "the logging target's default (keep forever, as OpenTera)",
	"logging.purge_interval":                 "the logging target's default",
	"logging.purge_batch":                    "the logging target's default",
	"email.max_attempts":                     "the email target's default",
	"email.retry_backoff":                    "the email target's default",
	"email.poll_interval":                    "the email target's default",
	"email.smtp.timeout":                     "the email target's default",
	"email.smtp.password":                    "a secret: the operator writes password_file instead",
	"email.smtp.ca_file":                     "not settable from a TeraSite yet: the SMTP server needs a publicly trusted certificate",
	"email.smtp.insecure_skip_verify":        "deliberately not settable from a TeraSite",
	"filetransfer.blob.dir":                  "written with the filesystem backend (the golden site uses S3)",
	"filetransfer.blob.s3.secret_access_key": "a secret: the operator writes secret_access_key_file instead",
	"filetransfer.blob.s3.part_size":         "the binary's default",
	"filetransfer.blob.s3.create_bucket":     "deliberately not settable from a TeraSite: buckets are provisioned with the object store",
	"filetransfer.job_lease":                 "the filetransfer target's default",
	"filetransfer.poll_interval":             "the filetransfer target's default",
	"filetransfer.archive_lifetime":          "the filetransfer target's default (30 days, as OpenTera)",
	"filetransfer.orphan_grace":              "the filetransfer target's default (24h)",
	"filetransfer.sweep_interval":            "the filetransfer target's default (1h)",
	"videorehab.tcp_port":                    "not settable from a TeraSite yet: the Service exposes the UDP media port only",
	"videorehab.listen_ips":                  "the binary's default (every interface of the pod)",
	"videorehab.public_ips":                  "written as public_host",
	"videorehab.turn_username":               "not settable from a TeraSite yet (TURN credentials)",
	"videorehab.turn_credential":             "a secret, through TERA_VIDEOREHAB_TURN_CREDENTIAL (not settable from a TeraSite yet)",
	"videorehab.record_dir":                  "the binary's default, the pod's /tmp (an emptyDir)",
}

// The binary reads the operator's tera.yaml strictly (no unknown key), every value the operator
// writes comes back unchanged, and every setting of the binary is either written by the
// operator or listed in leftToDefaults.
func TestOperatorConfigRoundTrips(t *testing.T) {
	raw, err := os.ReadFile(operatorGolden)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "tera.yaml")
	if err := os.WriteFile(p, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	if err := config.LoadFile(p, &cfg); err != nil {
		t.Fatalf("the binary refuses the operator's tera.yaml: %v", err)
	}
	var written, loaded map[string]any
	if err := yaml.Unmarshal(raw, &written); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(cfg)
	_ = json.Unmarshal(b, &loaded)
	wl, ll := leaves(written, ""), leaves(loaded, "")
	for k, v := range wl {
		if !reflect.DeepEqual(ll[k], v) {
			t.Errorf("%s: the operator writes %v, the binary reads %v", k, v, ll[k])
		}
	}
	var missing []string
	for k := range ll {
		if _, ok := wl[k]; ok {
			continue
		}
		if covered(k) {
			continue
		}
		missing = append(missing, k)
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("settings of the binary the operator never writes (set them from TeraSite or list them in leftToDefaults): %s", strings.Join(missing, ", "))
	}
}

func covered(key string) bool {
	for k := range leftToDefaults {
		if key == k || strings.HasPrefix(key, k+".") {
			return true
		}
	}
	return false
}

// leaves flattens a decoded document to dotted keys; empty maps and lists count as leaves.
func leaves(v any, prefix string) map[string]any {
	out := map[string]any{}
	m, ok := v.(map[string]any)
	if !ok || len(m) == 0 {
		if prefix != "" {
			out[prefix] = normalize(v)
		}
		return out
	}
	for k, x := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		for kk, vv := range leaves(x, key) {
			out[kk] = vv
		}
	}
	return out
}

// normalize makes YAML and JSON decodings comparable (numbers as float64, nil lists empty).
func normalize(v any) any {
	switch x := v.(type) {
	case nil:
		return []any{}
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case map[string]any:
		return x
	}
	return v
}
