package builder

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite testdata/tera.yaml from RenderConfig")

// goldenSite sets every TeraSite field that reaches tera.yaml.
func goldenSite() *terav1.TeraSite {
	s := site()
	s.Spec.Log = terav1.LogSpec{Level: "debug", Format: "text"}
	s.Spec.NATS.CredentialsSecretRef = &terav1.SecretKeyRef{Name: "nats", Key: "user.creds"}
	s.Spec.Ingress.TrustedProxies = []string{"10.0.0.0/8"}
	s.Spec.OIDC = &terav1.OIDCSpec{IssuerURL: "https://idp.example/realms/tera", DiscoveryURL: "http://idp.idp.svc/realms/tera",
		ClientID: "tera", ClientSecretRef: terav1.SecretKeyRef{Name: "oidc"}, MatchClaim: "email", UsernameClaim: "upn",
		ProvisionUserGroup: ptr.To[int64](3), DisplayName: "Hospital SSO"}
	s.Spec.Email = &terav1.EmailSpec{Host: "smtp.example", Port: 587, TLS: "starttls", Username: "tera",
		PasswordSecretRef: &terav1.SecretKeyRef{Name: "smtp"}, Sender: "tera@example.org"}
	s.Spec.FileTransfer = &terav1.FileTransferSpec{MaxUploadBytes: ptr.To[int64](1 << 30), S3: &terav1.S3Spec{Endpoint: "minio.storage:9000",
		Bucket: "tera-files", Region: "eu-west-1", Prefix: "site-a/", Insecure: true, AccessKeyID: "tera",
		SecretAccessKeySecretRef: &terav1.SecretKeyRef{Name: "s3"}}}
	s.Spec.Targets.VideoRehab.Enabled = ptr.To(true)
	s.Spec.VideoRehab.PublicHost = "media.example"
	s.Spec.VideoRehab.TURNURLs = []string{"turn:turn.example:3478"}
	s.Spec.ExternalServices = []terav1.ExternalService{{Name: "questionnaire", Image: "registry.example/questionnaire:1", Port: 8000,
		ServiceKey: "Questionnaire", Paths: []string{"/questionnaire", "/questionnaire-static"}}}
	return s
}

// The tera.yaml the operator renders for goldenSite is testdata/tera.yaml (go test -update
// rewrites it). services/internal/fleet's TestOperatorConfigRoundTrips loads that file with the
// binary's own strict loader and checks every key keeps its value, so the operator's copy of the
// config type cannot drift from the binary's without a test failing on one side.
func TestRenderedConfigGolden(t *testing.T) {
	b, err := yaml.Marshal(RenderConfig(goldenSite()))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", "tera.yaml")
	if *update {
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(b) {
		t.Fatalf("RenderConfig differs from %s (go test -update rewrites it):\n%s", path, b)
	}
}
