// Package servicekit is the Go SDK of an external Tera service: what OpenTera's Python
// ServiceOpenTera, ServiceAccessManager and TeraUserClient do, on Tera's contract (README
// "Writing an external service"):
//
//   - identity: the service is its core.t_services row, declared in the site's configuration; it
//     obtains a short-lived token from login with its client secret (OAuth2 client credentials,
//     POST /api/service/token) and refreshes it before it expires (TokenSource);
//   - the service API: JSON over HTTP through the site's ingress with that token (Client);
//   - its callers: user, participant and device tokens verified locally against the site's JWKS
//     and the revoked-ids bucket, with the user's service_access roles (Verifier);
//   - events: core's DatabaseEvents through a durable JetStream consumer of its own (Events);
//   - RPC: OpenTera's service RPC (session_type_config, session_manage) as a nats.go/micro
//     service on tera.service.<key>.rpc.<method> (ServeRPC; Call is the caller's side);
//   - its configuration: environment variables the operator sets (LoadConfig).
//
// Kit ties them together for a service's main.
package servicekit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/config"
)

// Config is what a service needs to join a site; the operator sets every TERA_* variable in the
// service's container (the client secret from the Secret it creates for the service).
type Config struct {
	// ServiceKey is the service's service_key, its OAuth2 client_id.
	ServiceKey string `json:"service_key" env:"TERA_SERVICE_KEY"`
	// ClientSecret, or ClientSecretFile holding it, is the service's credential.
	ClientSecret     string `json:"client_secret" env:"TERA_SERVICE_CLIENT_SECRET" secret:"true"`
	ClientSecretFile string `json:"client_secret_file" env:"TERA_SERVICE_CLIENT_SECRET_FILE"`
	// URL is the site as clients reach it (the ingress), e.g. https://tera.example.org.
	URL string `json:"url" env:"TERA_PUBLIC_URL"`
	// NATSURL is the site's NATS with JetStream; empty: no events, no RPC.
	NATSURL             string `json:"nats_url" env:"TERA_NATS_URL"`
	NATSCredentialsFile string `json:"nats_credentials_file" env:"TERA_NATS_CREDENTIALS_FILE"`
	// Listen is where the service serves HTTP (its pages behind service_clientendpoint).
	Listen string `json:"listen" env:"TERA_SERVICE_LISTEN"`
}

// LoadConfig reads the configuration: defaults, then the YAML file at path (if any), then the
// environment. The client secret file, when set, is read here.
func LoadConfig(path string) (Config, error) {
	c := Config{Listen: ":8080"}
	if path != "" {
		if err := config.LoadFile(path, &c); err != nil {
			return c, err
		}
	}
	if err := config.ApplyEnv(&c); err != nil {
		return c, err
	}
	if c.ClientSecret == "" && c.ClientSecretFile != "" {
		b, err := os.ReadFile(c.ClientSecretFile)
		if err != nil {
			return c, fmt.Errorf("client secret: %w", err)
		}
		c.ClientSecret = strings.TrimSpace(string(b))
	}
	return c, c.Validate()
}

// Validate reports every problem at once.
func (c Config) Validate() error {
	var errs []error
	if !keyPattern.MatchString(c.ServiceKey) {
		errs = append(errs, fmt.Errorf("service_key (TERA_SERVICE_KEY) %q must start with a letter and hold only letters, digits, '_', '.', '-'", c.ServiceKey))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client_secret is required (TERA_SERVICE_CLIENT_SECRET or TERA_SERVICE_CLIENT_SECRET_FILE)"))
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		errs = append(errs, fmt.Errorf("url (TERA_PUBLIC_URL) %q must be an http(s) URL", c.URL))
	}
	return errors.Join(errs...)
}

var keyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// Kit is a connected service: its token, API client, token verifier and, with NATSURL, its
// NATS connection for events and RPC.
type Kit struct {
	Config   Config
	Tokens   *TokenSource
	API      *Client
	Verifier *Verifier
	// NATS and JS are nil without Config.NATSURL.
	NATS *nats.Conn
	JS   jetstream.JetStream
	Log  *slog.Logger
}

// New connects a service: it obtains its first token (so a wrong secret fails at start, not at
// the first call), loads the site's signing keys and connects to NATS.
func New(ctx context.Context, c Config, log *slog.Logger) (*Kit, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	hc := &http.Client{Timeout: 30 * time.Second}
	k := &Kit{Config: c, Log: log}
	k.Tokens = NewTokenSource(hc, c.URL, c.ServiceKey, c.ClientSecret)
	if _, err := k.Tokens.Token(ctx); err != nil {
		return nil, err
	}
	k.API = &Client{HTTP: hc, BaseURL: c.URL, Tokens: k.Tokens}
	if c.NATSURL != "" {
		opts := []nats.Option{nats.Name("tera-service-" + c.ServiceKey), nats.MaxReconnects(-1)}
		if c.NATSCredentialsFile != "" {
			opts = append(opts, nats.UserCredentials(c.NATSCredentialsFile))
		}
		nc, err := nats.Connect(c.NATSURL, opts...)
		if err != nil {
			return nil, fmt.Errorf("connect to NATS: %w", err)
		}
		k.NATS = nc
		if k.JS, err = jetstream.New(nc); err != nil {
			nc.Close()
			return nil, fmt.Errorf("jetstream: %w", err)
		}
	}
	v, err := NewVerifier(ctx, hc, c.URL, k.JS, log)
	if err != nil {
		k.Close()
		return nil, err
	}
	k.Verifier = v
	return k, nil
}

// Run keeps the verifier's keys and revocations current until ctx ends.
func (k *Kit) Run(ctx context.Context) error { return k.Verifier.Run(ctx) }

// Close drains the NATS connection.
func (k *Kit) Close() {
	if k.NATS != nil {
		_ = k.NATS.Drain()
	}
}
