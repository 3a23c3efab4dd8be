package fleet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/login"
)

// buildLogin builds the login target (services/login) from the process's dependencies.
func buildLogin(d *Deps) ([]server.Service, error) {
	if d.Verifier == nil {
		return nil, errors.New("auth.signing_keys_dir is required by the login target")
	}
	oidc := login.OIDCOptions{IssuerURL: d.Config.OIDC.IssuerURL, DiscoveryURL: d.Config.OIDC.DiscoveryURL, ClientID: d.Config.OIDC.ClientID,
		MatchClaim: d.Config.OIDC.MatchClaim, UsernameClaim: d.Config.OIDC.UsernameClaim, ProvisionGroup: d.Config.OIDC.ProvisionUserGroup,
		DisplayName: d.Config.OIDC.DisplayName}
	if f := d.Config.OIDC.ClientSecretFile; f != "" {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("oidc client secret: %w", err)
		}
		oidc.ClientSecret = strings.TrimSpace(string(b))
	}
	svc, err := login.New(context.Background(), login.Options{DB: d.DB, NATS: d.NATS, Log: d.Log, Verifier: d.Verifier,
		PublicURL: d.Config.PublicURL, DeviceCADir: d.Config.Auth.DeviceCADir, TrustedProxies: d.Verifier.TrustedProxies, OIDC: oidc})
	if err != nil {
		return nil, err
	}
	return []server.Service{svc}, nil
}
