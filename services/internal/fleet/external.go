package fleet

import (
	"crypto/sha256"
	"fmt"
	"os"
	"strings"

	"github.com/tera-health/tera/services/internal/store"
)

// registrations turns the declared external services into rows to register, reading and
// hashing each client secret (the secret itself never leaves this function).
func registrations(cfg Config) ([]store.ServiceRegistration, error) {
	out := make([]store.ServiceRegistration, 0, len(cfg.ExternalServices))
	for _, s := range cfg.ExternalServices {
		r := store.ServiceRegistration{Key: s.Key, Name: s.Name, Hostname: s.Hostname, Port: s.Port, Endpoint: s.Endpoint,
			ClientEndpoint: s.ClientEndpoint, EndpointUser: optional(s.EndpointUser), EndpointParticipant: optional(s.EndpointParticipant),
			EndpointDevice: optional(s.EndpointDevice), EditableConfig: s.EditableConfig, HasAssets: s.HasAssets, HasTests: s.HasTests,
			DefaultConfig: optional(s.DefaultConfig)}
		if r.Name == "" {
			r.Name = s.Key
		}
		if r.Endpoint == "" {
			r.Endpoint = "/"
		}
		if s.ClientSecretFile != "" {
			b, err := os.ReadFile(s.ClientSecretFile)
			if err != nil {
				return nil, fmt.Errorf("external service %s: client secret: %w", s.Key, err)
			}
			secret := strings.TrimSpace(string(b))
			if len(secret) < 32 {
				return nil, fmt.Errorf("external service %s: client secret in %s is shorter than 32 characters", s.Key, s.ClientSecretFile)
			}
			h := sha256.Sum256([]byte(secret))
			r.SecretSHA256 = h[:]
		}
		out = append(out, r)
	}
	return out, nil
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
