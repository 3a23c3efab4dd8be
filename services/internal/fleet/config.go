// Package fleet assembles Tera's targets into a running process: the configuration every
// target reads, the dependencies they share (PostgreSQL pool, NATS connection), the one table of
// known targets, and the server that runs the chosen ones.
package fleet

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/tera-health/tera/pkg/config"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/email"
	"github.com/tera-health/tera/services/internal/blob"
	"github.com/tera-health/tera/services/internal/logstream"
)

// Config is tera.yaml. Secrets come from the environment or mounted files, never the file.
type Config struct {
	Log server.LogConfig `json:"log"`
	server.Config
	Database DatabaseConfig `json:"database"`
	NATS     NATSConfig     `json:"nats"`
	// PublicURL is how clients reach the site (the ingress), used in links such as websocket_url.
	PublicURL string `json:"public_url" env:"TERA_PUBLIC_URL"`
	// Peers are the gRPC addresses of the other targets, for cross-target calls.
	Peers      map[string]string `json:"peers"`
	Auth       AuthConfig        `json:"auth"`
	OIDC       OIDCConfig        `json:"oidc"`
	VideoRehab VideoRehabConfig  `json:"videorehab"`
	Logging    LoggingConfig     `json:"logging"`
	Email      EmailConfig       `json:"email"`
	// FileTransfer is the filetransfer target's (its blob store, uploads, archive jobs).
	FileTransfer FileTransferConfig `json:"filetransfer"`
	// ExternalServices are registered in core.t_services at start (TeraSite.spec.externalServices).
	ExternalServices []ExternalService `json:"external_services"`
}

// ExternalService is a service outside the fleet, declared to it: core registers (or updates)
// its t_services row at start, and login accepts the client secret in ClientSecretFile for it
// (OAuth2 client credentials, client_id = Key). See README "Writing an external service".
type ExternalService struct {
	// Key is OpenTera's service_key, the service's client_id.
	Key string `json:"key"`
	// Name is service_name (default: Key).
	Name string `json:"name"`
	// Hostname and Port are where the fleet reaches the service (its Kubernetes Service).
	Hostname string `json:"hostname"`
	Port     int32  `json:"port"`
	// Endpoint is service_endpoint, the service's own API root (default "/").
	Endpoint string `json:"endpoint"`
	// ClientEndpoint is service_clientendpoint, the path the ingress routes to the service.
	ClientEndpoint      string `json:"client_endpoint"`
	EndpointUser        string `json:"endpoint_user"`
	EndpointParticipant string `json:"endpoint_participant"`
	EndpointDevice      string `json:"endpoint_device"`
	EditableConfig      bool   `json:"editable_config"`
	// DefaultConfig is service_default_config, a JSON object.
	DefaultConfig string `json:"default_config"`
	HasAssets     bool   `json:"has_assets"`
	HasTests      bool   `json:"has_tests"`
	// ClientSecretFile holds the client secret (the operator mounts the service's Secret);
	// only its SHA-256 is stored. Empty: the service has no credential (it cannot log in).
	ClientSecretFile string `json:"client_secret_file"`
}

// Validate reports every problem of one declared service.
func (s ExternalService) Validate(i int) error {
	var errs []error
	at := fmt.Sprintf("external_services[%d]", i)
	if !serviceKeyPattern.MatchString(s.Key) {
		errs = append(errs, fmt.Errorf("%s.key: %q must start with a letter and hold only letters, digits, '_', '.', '-' (at most 64)", at, s.Key))
	}
	if s.Hostname == "" {
		errs = append(errs, fmt.Errorf("%s.hostname is required", at))
	}
	if s.Port <= 0 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("%s.port: %d is not a port", at, s.Port))
	}
	if !strings.HasPrefix(s.ClientEndpoint, "/") {
		errs = append(errs, fmt.Errorf("%s.client_endpoint: %q must be a path starting with /", at, s.ClientEndpoint))
	}
	if s.DefaultConfig != "" {
		var obj map[string]any
		if err := json.Unmarshal([]byte(s.DefaultConfig), &obj); err != nil {
			errs = append(errs, fmt.Errorf("%s.default_config must be a JSON object: %w", at, err))
		}
	}
	return errors.Join(errs...)
}

var serviceKeyPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]{0,63}$`)

// EmailConfig is the email target's (OpenTera's EmailService).
type EmailConfig struct {
	SMTP email.SMTP `json:"smtp"`
	// Sender is the From address of every mail; the requesting user is its display name and
	// Reply-To (relays refuse to send as arbitrary users' domains).
	Sender string `json:"sender" env:"TERA_EMAIL_SENDER"`
	// MaxAttempts bounds the deliveries of one message before it is given up.
	MaxAttempts int `json:"max_attempts"`
	// RetryBackoff is the wait after a first temporary failure, doubled after each, at most 1h.
	RetryBackoff config.Duration `json:"retry_backoff"`
	// PollInterval is how often the queue is checked for due messages.
	PollInterval config.Duration `json:"poll_interval"`
}

// Validate reports every problem at once; only a process running the email target needs it.
func (c EmailConfig) Validate() error {
	errs := []error{c.SMTP.Validate()}
	if _, err := mail.ParseAddress(c.Sender); err != nil {
		errs = append(errs, fmt.Errorf("email.sender: %q is not an address: %w", c.Sender, err))
	}
	if c.MaxAttempts <= 0 {
		errs = append(errs, errors.New("email.max_attempts must be positive"))
	}
	if c.RetryBackoff.D() <= 0 {
		errs = append(errs, errors.New("email.retry_backoff must be positive"))
	}
	if c.PollInterval.D() <= 0 {
		errs = append(errs, errors.New("email.poll_interval must be positive"))
	}
	return errors.Join(errs...)
}

// FileTransferConfig is the filetransfer target's (OpenTera's FileTransferService).
type FileTransferConfig struct {
	// Blob is where the files live: a directory (blob.dir) or an S3 bucket (blob.s3).
	Blob blob.Config `json:"blob"`
	// MaxUploadBytes caps one upload's request body (OpenTera's proxy: 500 MB on /file).
	MaxUploadBytes int64 `json:"max_upload_bytes"`
	// JobLease is how long an archive job is its worker's before another replica takes it over
	// (a worker killed mid-job is replaced after this); renewed every third of it.
	JobLease config.Duration `json:"job_lease"`
	// PollInterval is how often the archive queue and expired archives are checked.
	PollInterval config.Duration `json:"poll_interval"`
	// ArchiveLifetime is how long a built archive is kept (OpenTera: 30 days).
	ArchiveLifetime config.Duration `json:"archive_lifetime"`
	// OrphanGrace is the age past which a blob no asset or archive names is deleted (an
	// upload killed mid-request, an abandoned import): longer than any upload or import takes.
	OrphanGrace config.Duration `json:"orphan_grace"`
	// SweepInterval is how often the blob store is listed for orphans.
	SweepInterval config.Duration `json:"sweep_interval"`
}

// Validate reports every problem at once; only a process running the target needs it.
func (c FileTransferConfig) Validate() error {
	errs := []error{c.Blob.Validate()}
	if c.MaxUploadBytes <= 0 {
		errs = append(errs, errors.New("filetransfer.max_upload_bytes must be positive"))
	}
	if c.JobLease.D() < time.Second {
		errs = append(errs, errors.New("filetransfer.job_lease must be at least 1s"))
	}
	if c.PollInterval.D() <= 0 {
		errs = append(errs, errors.New("filetransfer.poll_interval must be positive"))
	}
	if c.ArchiveLifetime.D() <= 0 {
		errs = append(errs, errors.New("filetransfer.archive_lifetime must be positive"))
	}
	if c.OrphanGrace.D() < time.Hour {
		errs = append(errs, errors.New("filetransfer.orphan_grace must be at least 1h (an upload in progress must never look orphaned)"))
	}
	if c.SweepInterval.D() < time.Minute {
		errs = append(errs, errors.New("filetransfer.sweep_interval must be at least 1m (each pass lists the whole store)"))
	}
	return errors.Join(errs...)
}

// LoggingConfig is the logging target's (OpenTera's LoggingService).
type LoggingConfig struct {
	// Level is the least severe event stored: trace (everything, the default, as OpenTera),
	// debug, info, warning, critical, error or fatal. Less severe events are consumed and
	// dropped.
	Level string `json:"level" env:"TERA_LOGGING_LEVEL"`
	// Retention deletes log and login entries older than this; 0 keeps them forever.
	Retention config.Duration `json:"retention" env:"TERA_LOGGING_RETENTION"`
	// PurgeInterval is how often expired entries are deleted.
	PurgeInterval config.Duration `json:"purge_interval"`
	// PurgeBatch is how many rows one delete statement removes, so a purge never holds long
	// locks or bloats one transaction.
	PurgeBatch int `json:"purge_batch"`
}

// Validate reports every problem at once.
func (c LoggingConfig) Validate() error {
	var errs []error
	if _, err := logstream.ParseLevel(c.Level); err != nil {
		errs = append(errs, fmt.Errorf("logging.level: %w", err))
	}
	if c.Retention.D() < 0 {
		errs = append(errs, errors.New("logging.retention must not be negative"))
	}
	if c.PurgeInterval.D() <= 0 {
		errs = append(errs, errors.New("logging.purge_interval must be positive"))
	}
	if c.PurgeBatch <= 0 {
		errs = append(errs, errors.New("logging.purge_batch must be positive"))
	}
	return errors.Join(errs...)
}

// DatabaseConfig locates PostgreSQL.
type DatabaseConfig struct {
	URL string `json:"url" env:"TERA_DATABASE_URL" secret:"true"`
	// MaxConns caps the pool of each process.
	MaxConns int32 `json:"max_conns"`
}

// NATSConfig locates NATS with JetStream.
type NATSConfig struct {
	URL             string `json:"url" env:"TERA_NATS_URL"`
	CredentialsFile string `json:"credentials_file" env:"TERA_NATS_CREDENTIALS_FILE"`
}

// AuthConfig locates key material mounted from Secrets.
type AuthConfig struct {
	SigningKeysDir string   `json:"signing_keys_dir" env:"TERA_SIGNING_KEYS_DIR"`
	DeviceCADir    string   `json:"device_ca_dir" env:"TERA_DEVICE_CA_DIR"`
	TrustedProxies []string `json:"trusted_proxies"`
}

// OIDCConfig federates users with an external identity provider.
type OIDCConfig struct {
	IssuerURL        string `json:"issuer_url"`
	DiscoveryURL     string `json:"discovery_url"`
	ClientID         string `json:"client_id"`
	ClientSecretFile string `json:"client_secret_file"`
	// MatchClaim maps identities to users: "username" (default) or "email".
	MatchClaim string `json:"match_claim"`
	// UsernameClaim is the claim matched to user_username (default preferred_username).
	UsernameClaim string `json:"username_claim"`
	// ProvisionUserGroup, when set, creates unknown users in this user group.
	ProvisionUserGroup int64 `json:"provision_user_group"`
	// DisplayName labels the login page's button.
	DisplayName string `json:"display_name"`
}

// VideoRehabConfig is the videorehab target's (OpenTera's VideoRehabService): the media side
// of video sessions (the SFU, services/videorehab/sfu). The session manager needs nothing
// beyond public_url. The defaults suit `tera dev` and tests: free ports picked at start.
type VideoRehabConfig struct {
	// UDPPort is the one UDP port of every peer's media (0: a free port).
	UDPPort int `json:"udp_port"`
	// TCPPort is the ICE-TCP port, for networks that drop UDP (0: a free port, -1: none).
	TCPPort int `json:"tcp_port"`
	// ListenIPs restricts the addresses media listens on (empty: every interface's).
	ListenIPs []string `json:"listen_ips"`
	// PublicIPs are announced to clients instead of the pod's addresses (NAT 1:1).
	PublicIPs []string `json:"public_ips"`
	// PublicHost is the address clients reach the media port on: an IP joins PublicIPs, a DNS
	// name is resolved at start.
	PublicHost string `json:"public_host"`
	// TURNURLs are the STUN/TURN servers given to clients (stun:, turn:, turns: URLs), with
	// TURNUsername and TURNCredential for the turn ones.
	TURNURLs       []string `json:"turn_urls"`
	TURNUsername   string   `json:"turn_username" env:"TERA_VIDEOREHAB_TURN_USERNAME"`
	TURNCredential string   `json:"turn_credential" env:"TERA_VIDEOREHAB_TURN_CREDENTIAL" secret:"true"`
	// RecordDir is where rooms' recordings are written until uploaded (the system's
	// temporary directory when empty).
	RecordDir string `json:"record_dir"`
	// FileTransferURL is where the filetransfer target is reached to store recordings as
	// session assets (public_url when empty; in a cluster, the filetransfer Service's URL).
	FileTransferURL string `json:"filetransfer_url"`
}

// Validate reports every problem at once; only a process running the target needs it.
func (c VideoRehabConfig) Validate() error {
	var errs []error
	if c.UDPPort < 0 || c.UDPPort > 65535 {
		errs = append(errs, fmt.Errorf("videorehab.udp_port: %d is not a port", c.UDPPort))
	}
	if c.TCPPort < -1 || c.TCPPort > 65535 {
		errs = append(errs, fmt.Errorf("videorehab.tcp_port: %d is not a port (-1: no ICE-TCP)", c.TCPPort))
	}
	for name, ips := range map[string][]string{"listen_ips": c.ListenIPs, "public_ips": c.PublicIPs} {
		for i, ip := range ips {
			if net.ParseIP(ip) == nil {
				errs = append(errs, fmt.Errorf("videorehab.%s[%d]: %q is not an IP address", name, i, ip))
			}
		}
	}
	if h := c.PublicHost; h != "" && net.ParseIP(h) == nil && !hostnamePattern.MatchString(h) {
		errs = append(errs, fmt.Errorf("videorehab.public_host: %q is neither an IP address nor a host name", h))
	}
	for i, u := range c.TURNURLs {
		if !strings.HasPrefix(u, "turn:") && !strings.HasPrefix(u, "turns:") && !strings.HasPrefix(u, "stun:") {
			errs = append(errs, fmt.Errorf("videorehab.turn_urls[%d]: %q must be a turn:, turns: or stun: URL", i, u))
		}
	}
	if u := c.FileTransferURL; u != "" {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, fmt.Errorf("videorehab.filetransfer_url: %q is not an http(s) URL", u))
		}
	}
	return errors.Join(errs...)
}

var hostnamePattern = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}[A-Za-z0-9])?)*\.?$`)

// DefaultConfig is what an empty tera.yaml means.
func DefaultConfig() Config {
	return Config{
		Log:      server.LogConfig{Level: "info", Format: "json"},
		Config:   server.DefaultConfig(),
		Database: DatabaseConfig{MaxConns: 20},
		Peers:    map[string]string{},
		Logging:  LoggingConfig{Level: "trace", PurgeInterval: config.Duration(time.Hour), PurgeBatch: 5000},
		Email: EmailConfig{SMTP: email.SMTP{TLS: "starttls", Timeout: config.Duration(10 * time.Second)},
			Sender: "noreply@opentera.org", MaxAttempts: 10, RetryBackoff: config.Duration(30 * time.Second),
			PollInterval: config.Duration(2 * time.Second)},
		FileTransfer: FileTransferConfig{Blob: blob.Config{Backend: "filesystem"}, MaxUploadBytes: 500 << 20,
			JobLease: config.Duration(time.Minute), PollInterval: config.Duration(2 * time.Second),
			ArchiveLifetime: config.Duration(30 * 24 * time.Hour), OrphanGrace: config.Duration(24 * time.Hour),
			SweepInterval: config.Duration(time.Hour)},
	}
}

// Load reads the file (if any) over the defaults, then the environment.
func Load(path string) (Config, error) {
	cfg := DefaultConfig()
	if path != "" {
		if err := config.LoadFile(path, &cfg); err != nil {
			return cfg, err
		}
	}
	if err := config.ApplyEnv(&cfg); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// Validate reports every problem at once. needDB/needNATS say whether the chosen targets use
// them.
func (c Config) Validate(needDB, needNATS bool) error {
	var errs []error
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Logging.Validate(); err != nil {
		errs = append(errs, err)
	}
	keys := map[string]bool{}
	for i, s := range c.ExternalServices {
		if err := s.Validate(i); err != nil {
			errs = append(errs, err)
		}
		if keys[s.Key] {
			errs = append(errs, fmt.Errorf("external_services[%d].key: %q is declared twice", i, s.Key))
		}
		keys[s.Key] = true
	}
	if needDB {
		if c.Database.URL == "" {
			errs = append(errs, errors.New("database.url is required (flag --database-url or env TERA_DATABASE_URL)"))
		} else if u, err := url.Parse(c.Database.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			errs = append(errs, fmt.Errorf("database.url must be a postgres:// URL, got %q", config.RedactURL(c.Database.URL)))
		}
		if c.Database.MaxConns <= 0 {
			errs = append(errs, errors.New("database.max_conns must be positive"))
		}
	}
	if needNATS && c.NATS.URL == "" {
		errs = append(errs, errors.New("nats.url is required (flag --nats-url or env TERA_NATS_URL)"))
	}
	return errors.Join(errs...)
}
