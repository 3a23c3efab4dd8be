package builder

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/pkg/routing"
)

func site() *terav1.TeraSite {
	return &terav1.TeraSite{
		ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns"},
		Spec: terav1.TeraSiteSpec{
			Version:  "1.0.0",
			Database: terav1.DatabaseSpec{DSNSecretRef: terav1.SecretKeyRef{Name: "db"}},
			NATS:     terav1.NATSSpec{URL: "nats://n:4222"},
			Ingress:  terav1.IngressSpec{Host: "h.example"},
		},
	}
}

func TestImage(t *testing.T) {
	s := site()
	if got := Image(s); got != "ghcr.io/tera-health/tera:1.0.0" {
		t.Errorf("default image %s", got)
	}
	s.Spec.Image = terav1.ImageSpec{Repository: "r/t", Tag: "custom"}
	if got := Image(s); got != "r/t:custom" {
		t.Errorf("tag %s", got)
	}
	s.Spec.Image.Digest = "sha256:" + strings.Repeat("a", 64)
	if got := Image(s); got != "r/t@sha256:"+strings.Repeat("a", 64) {
		t.Errorf("digest %s", got)
	}
}

func TestWorkloadSettingsFallBackToDefaults(t *testing.T) {
	s := site()
	s.Spec.Defaults = terav1.WorkloadSpec{
		Replicas:     ptr.To[int32](2),
		NodeSelector: map[string]string{"pool": "tera"},
		Annotations:  map[string]string{"a": "default", "b": "default"},
		Resources:    &corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
	}
	s.Spec.Targets.Core = terav1.TargetSpec{WorkloadSpec: terav1.WorkloadSpec{
		Replicas:    ptr.To[int32](4),
		Annotations: map[string]string{"b": "core"},
		Autoscaling: &terav1.AutoscalingSpec{MaxReplicas: 9},
	}}
	s.Spec.Targets.Logging.Enabled = ptr.To(false)
	ws := map[string]Workload{}
	for _, w := range Workloads(s) {
		ws[w.Name] = w
	}
	if len(ws) != 8 || ws["logging"].Enabled || !ws["login"].Enabled {
		t.Fatalf("workloads %v", ws)
	}
	login, core := ws["login"], ws["core"]
	if login.Replicas() != 2 || login.Spec.NodeSelector["pool"] != "tera" || login.Spec.Resources.Requests.Cpu().String() != "1" {
		t.Errorf("login did not inherit defaults: %+v", login.Spec)
	}
	if core.Spec.Annotations["a"] != "default" || core.Spec.Annotations["b"] != "core" {
		t.Errorf("annotations merge: %v", core.Spec.Annotations)
	}
	// Autoscaling's minimum is the starting replica count; its defaults are filled in.
	if core.Replicas() != 1 || core.Spec.Autoscaling.TargetCPUUtilizationPercentage != 75 {
		t.Errorf("core autoscaling %+v", core.Spec.Autoscaling)
	}
	if HorizontalPodAutoscaler(s, login) != nil || HorizontalPodAutoscaler(s, core) == nil {
		t.Error("HPA only where autoscaling is set")
	}
	// Defaults are not mutated by the merge.
	if s.Spec.Defaults.Annotations["b"] != "default" {
		t.Error("merge mutated spec.defaults")
	}
}

func TestIngressRoutesEveryTargetPath(t *testing.T) {
	s := site()
	for _, tgt := range []*terav1.TargetSpec{&s.Spec.Targets.UserManager, &s.Spec.Targets.WebSocket,
		&s.Spec.Targets.FileTransfer, &s.Spec.Targets.Logging, &s.Spec.Targets.VideoRehab} {
		tgt.Enabled = ptr.To(true)
	}
	s.Spec.ExternalServices = []terav1.ExternalService{{Name: "x", Image: "i", Port: 7000, ServiceKey: "X", Paths: []string{"/x", "/api"}}}
	ing := Ingress(s)
	seen := map[string]string{}
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		if _, dup := seen[p.Path]; dup {
			t.Errorf("duplicate path %s", p.Path)
		}
		seen[p.Path] = p.Backend.Service.Name
	}
	// Every path of the table for the operator's targets, and nothing else but /x.
	n := 1
	for _, target := range terav1.BuiltinTargets {
		if len(routing.Prefixes[target]) == 0 {
			t.Errorf("target %s has no paths in pkg/routing", target)
		}
		for _, p := range routing.Prefixes[target] {
			n++
			if seen[p] != "s-"+target {
				t.Errorf("%s -> %s, want s-%s", p, seen[p], target)
			}
		}
	}
	if len(seen) != n {
		t.Errorf("%d ingress paths, want %d (the table and /x): %v", len(seen), n, seen)
	}
	if seen["/x"] != "s-x" {
		t.Errorf("external path /x -> %s", seen["/x"])
	}
	// An external service cannot take over a built-in path.
	if seen["/api"] != "s-core" {
		t.Errorf("/api -> %s", seen["/api"])
	}
	s.Spec.Ingress.Enabled = ptr.To(false)
	if Ingress(s) != nil {
		t.Error("disabled ingress rendered")
	}
}

func TestConfigHashFollowsContent(t *testing.T) {
	s := site()
	_, h1, err := ConfigMap(s)
	if err != nil {
		t.Fatal(err)
	}
	_, h2, _ := ConfigMap(s)
	s.Spec.Log.Level = "debug"
	cm, h3, _ := ConfigMap(s)
	if h1 != h2 || h1 == h3 {
		t.Errorf("hashes %s %s %s", h1, h2, h3)
	}
	var c map[string]any
	if err := yaml.Unmarshal([]byte(cm.Data[ConfigFile]), &c); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"log", "http", "grpc", "shutdown_timeout", "database", "nats", "public_url", "peers", "auth", "oidc", "videorehab", "filetransfer", "external_services"} {
		if _, ok := c[k]; !ok {
			t.Errorf("tera.yaml lacks %s", k)
		}
	}
	if len(c) != 13 {
		t.Errorf("tera.yaml has unexpected keys: %v", c)
	}
}

func TestSecretsAreFresh(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 5, time.UTC)
	a, err := SigningKeysSecret(site(), t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := a.Data["signing-key-20260301T120000000000005Z.pem"]; !ok {
		t.Errorf("kid is not the UTC creation time: %v", a.Data)
	}
	b, _ := SigningKeysSecret(site(), t0.Add(time.Second))
	for k := range a.Data {
		if _, same := b.Data[k]; same {
			t.Error("two generated signing keys share a kid")
		}
	}
}

func TestOnlyLoginGetsTheDeviceCAKey(t *testing.T) {
	s := site()
	for _, w := range EnabledWorkloads(s) {
		d := Deployment(s, w, Image(s), "h")
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != "device-ca" {
				continue
			}
			full := len(v.Secret.Items) == 0
			if full != (w.Name == terav1.TargetLogin) {
				t.Errorf("%s: device CA items %v", w.Name, v.Secret.Items)
			}
		}
	}
}

// spec.email becomes email.smtp in tera.yaml with the password as a mounted file, on the
// email pods only; without it the binary's defaults hold (no email key at all).
func TestEmailConfigAndPasswordMount(t *testing.T) {
	s := site()
	if b, _ := yaml.Marshal(RenderConfig(s)); strings.Contains(string(b), "email:\n") || strings.Contains(string(b), "smtp") {
		t.Fatalf("email rendered without spec.email:\n%s", b)
	}
	s.Spec.Email = &terav1.EmailSpec{Host: "smtp.example", Port: 2525, TLS: "implicit", Username: "tera",
		PasswordSecretRef: &terav1.SecretKeyRef{Name: "smtp"}, Sender: "noreply@h.example"}
	c := RenderConfig(s).Email
	if c == nil || c.SMTP.Host != "smtp.example" || c.SMTP.Port != 2525 || c.SMTP.TLS != "implicit" || c.SMTP.Username != "tera" ||
		c.SMTP.PasswordFile != SMTPSecretDir+"/password" || c.Sender != "noreply@h.example" {
		t.Fatalf("email config %+v", c)
	}
	ws := map[string]Workload{}
	for _, w := range Workloads(s) {
		ws[w.Name] = w
	}
	has := func(target string) bool {
		for _, v := range Deployment(s, ws[target], "i", "h").Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == "smtp" {
				return true
			}
		}
		return false
	}
	if !has(terav1.TargetEmail) || has(terav1.TargetCore) {
		t.Fatalf("smtp secret on email %v, on core %v", has(terav1.TargetEmail), has(terav1.TargetCore))
	}
	if got := routing.Prefixes[terav1.TargetEmail]; len(got) != 1 || got[0] != "/email" {
		t.Fatalf("email routes %v", got)
	}
}

// The filetransfer pods mount the files' volume (a claim, or an emptyDir without
// spec.fileTransfer) or the S3 secret key, and no other target does.
func TestFileTransferStorage(t *testing.T) {
	mounted := func(s *terav1.TeraSite, target string) map[string]string {
		vols, mounts := teraVolumes(s, true, target)
		out := map[string]string{}
		for _, m := range mounts {
			for _, v := range vols {
				if v.Name == m.Name && (m.Name == "files" || m.Name == "s3") {
					src := "emptyDir"
					switch {
					case v.PersistentVolumeClaim != nil:
						src = "pvc:" + v.PersistentVolumeClaim.ClaimName
					case v.Secret != nil:
						src = "secret:" + v.Secret.SecretName
					}
					out[m.MountPath] = src
				}
			}
		}
		return out
	}
	s := site()
	if got := mounted(s, terav1.TargetFileTransfer); got[FilesDir] != "emptyDir" {
		t.Errorf("default: %v", got)
	}
	if got := mounted(s, terav1.TargetCore); len(got) != 0 {
		t.Errorf("core mounts %v", got)
	}
	s.Spec.FileTransfer = &terav1.FileTransferSpec{PersistentVolumeClaim: "tera-files"}
	if got := mounted(s, terav1.TargetFileTransfer); got[FilesDir] != "pvc:tera-files" {
		t.Errorf("claim: %v", got)
	}
	if c := RenderConfig(s).FileTransfer; c.Blob.Backend != "filesystem" || c.Blob.Dir != FilesDir {
		t.Errorf("claim config: %+v", c)
	}
	s.Spec.FileTransfer = &terav1.FileTransferSpec{S3: &terav1.S3Spec{Endpoint: "s3.example", Bucket: "files",
		SecretAccessKeySecretRef: &terav1.SecretKeyRef{Name: "s3"}}}
	if got := mounted(s, terav1.TargetFileTransfer); got[S3SecretDir] != "secret:s3" || got[FilesDir] != "" {
		t.Errorf("s3: %v", got)
	}
	if c := RenderConfig(s).FileTransfer; c.Blob.Backend != "s3" || c.Blob.S3.SecretAccessKeyFile != S3SecretDir+"/"+DefaultS3Key {
		t.Errorf("s3 config: %+v", c.Blob)
	}
}

// spec.tracing becomes each built-in target's OTEL_* environment, its own service name and the
// site's Env last; without it no target has any OTEL_* variable (tracing off).
func TestTracingEnvironment(t *testing.T) {
	otel := func(s *terav1.TeraSite, w Workload) map[string]string {
		env := map[string]string{}
		for _, c := range Deployment(s, w, Image(s), "h").Spec.Template.Spec.Containers {
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "OTEL_") {
					env[e.Name] = e.Value
				}
			}
		}
		return env
	}
	s := site()
	for _, w := range EnabledWorkloads(s) {
		if env := otel(s, w); len(env) != 0 {
			t.Fatalf("%s without spec.tracing: %v", w.Name, env)
		}
	}
	s.Spec.Tracing = &terav1.TracingSpec{Endpoint: "http://collector:4317", SampleRatio: "0.25",
		Env: []corev1.EnvVar{{Name: "OTEL_EXPORTER_OTLP_HEADERS", Value: "x-tenant=clinic"}}}
	for _, w := range EnabledWorkloads(s) {
		env := otel(s, w)
		want := map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_SERVICE_NAME": "tera-" + w.Name, "OTEL_RESOURCE_ATTRIBUTES": "tera.site=s,k8s.namespace.name=ns",
			"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
			"OTEL_EXPORTER_OTLP_HEADERS": "x-tenant=clinic",
		}
		if len(env) != len(want) {
			t.Fatalf("%s: %v", w.Name, env)
		}
		for k, v := range want {
			if env[k] != v {
				t.Errorf("%s: %s = %q, want %q", w.Name, k, env[k], v)
			}
		}
	}
}
