package builder

import (
	"encoding/hex"
	"testing"

	corev1 "k8s.io/api/core/v1"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

// An external service's client credentials: a fresh 256-bit secret per Secret, mounted into
// core only (it registers the hash), and handed to the service's container from the Secret.
func TestExternalServiceCredentials(t *testing.T) {
	s := goldenSite()
	e := s.Spec.ExternalServices[0]
	a, err := ServiceCredentialsSecret(s, e)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ServiceCredentialsSecret(s, e)
	raw, err := hex.DecodeString(string(a.Data[ServiceSecretKey]))
	if a.Name != "s-questionnaire-credentials" || string(a.Data[ServiceClientIDKey]) != "Questionnaire" || err != nil || len(raw) != 32 ||
		string(a.Data[ServiceSecretKey]) == string(b.Data[ServiceSecretKey]) {
		t.Fatalf("secret %s %v", a.Name, a.Data)
	}
	mounted := func(d []corev1.Volume) bool {
		for _, v := range d {
			if v.Secret != nil && v.Secret.SecretName == a.Name {
				return true
			}
		}
		return false
	}
	for _, w := range EnabledWorkloads(s) {
		d := Deployment(s, w, "registry.example/tera:1", "h")
		pod := d.Spec.Template.Spec
		switch {
		case w.Name == terav1.TargetCore:
			if !mounted(pod.Volumes) {
				t.Fatal("core does not mount the service's secret")
			}
			found := false
			for _, m := range pod.Containers[0].VolumeMounts {
				found = found || m.MountPath == ServiceSecretsDir+"/questionnaire"
			}
			if !found {
				t.Fatalf("core mounts %v", pod.Containers[0].VolumeMounts)
			}
		case w.IsExternal():
			env := map[string]corev1.EnvVar{}
			for _, v := range pod.Containers[0].Env {
				env[v.Name] = v
			}
			ref := env["TERA_SERVICE_CLIENT_SECRET"].ValueFrom
			if ref == nil || ref.SecretKeyRef.Name != a.Name || ref.SecretKeyRef.Key != ServiceSecretKey ||
				env["TERA_SERVICE_KEY"].Value != "Questionnaire" || env["TERA_SERVICE_LISTEN"].Value != ":8000" ||
				env["TERA_PUBLIC_URL"].Value != PublicURL(s) {
				t.Fatalf("service env %v", pod.Containers[0].Env)
			}
		default:
			if mounted(pod.Volumes) {
				t.Errorf("%s mounts the service's secret", w.Name)
			}
		}
	}
}
