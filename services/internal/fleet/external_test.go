package fleet

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestExternalServicesValidated(t *testing.T) {
	c := DefaultConfig()
	good := ExternalService{Key: "Quiz", Hostname: "quiz", Port: 8080, ClientEndpoint: "/quiz"}
	c.ExternalServices = []ExternalService{good, {Key: "9x", Port: 0, ClientEndpoint: "quiz", DefaultConfig: "[1]"}, good}
	err := c.Validate(false, false)
	for _, want := range []string{"external_services[1].key", "external_services[1].hostname is required", "external_services[1].port",
		"external_services[1].client_endpoint", "external_services[1].default_config", `external_services[2].key: "Quiz" is declared twice`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("want %q in %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "external_services[0]") {
		t.Errorf("the good entry is refused: %v", err)
	}
}

func TestRegistrationsHashTheSecret(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s")
	c := DefaultConfig()
	c.ExternalServices = []ExternalService{{Key: "Quiz", Hostname: "quiz", Port: 8080, ClientEndpoint: "/quiz", ClientSecretFile: f}}
	if err := os.WriteFile(f, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := registrations(c); err == nil || !strings.Contains(err.Error(), "shorter than 32") {
		t.Fatalf("short secret: %v", err)
	}
	secret := strings.Repeat("ab", 32)
	if err := os.WriteFile(f, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	regs, err := registrations(c)
	if err != nil || len(regs) != 1 || len(regs[0].SecretSHA256) != 32 || regs[0].Name != "Quiz" || regs[0].Endpoint != "/" {
		t.Fatalf("%+v %v", regs, err)
	}
}
