package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

// TeraConfig mirrors the keys of tera.yaml that the tera binary reads (strictly: no other key
// may appear). Secrets never go in here: they come from env vars and mounted files. The
// operator module may not import the binary's type (services/internal/fleet.Config); instead
// testdata/tera.yaml, rendered from every TeraSite field, is loaded by the binary's own loader in
// services/internal/fleet's TestOperatorConfigRoundTrips.
type TeraConfig struct {
	Log             LogConfig         `json:"log"`
	HTTP            ListenConfig      `json:"http"`
	GRPC            ListenConfig      `json:"grpc"`
	ShutdownTimeout string            `json:"shutdown_timeout"`
	Database        DatabaseConfig    `json:"database"`
	NATS            NATSConfig        `json:"nats"`
	PublicURL       string            `json:"public_url"`
	Peers           map[string]string `json:"peers"`
	Auth            AuthConfig        `json:"auth"`
	OIDC            OIDCConfig        `json:"oidc"`
	VideoRehab      VideoRehabConfig  `json:"videorehab"`
	// Email is left out without spec.email, so the binary's defaults hold.
	Email *EmailConfig `json:"email,omitempty"`
	// FileTransfer is the filetransfer target's blob store (spec.fileTransfer).
	FileTransfer FileTransferConfig `json:"filetransfer"`
	// ExternalServices are registered by core (every key of the binary's entry is written).
	ExternalServices []ExternalServiceConfig `json:"external_services"`
}

type ExternalServiceConfig struct {
	Key                 string `json:"key"`
	Name                string `json:"name"`
	Hostname            string `json:"hostname"`
	Port                int32  `json:"port"`
	Endpoint            string `json:"endpoint"`
	ClientEndpoint      string `json:"client_endpoint"`
	EndpointUser        string `json:"endpoint_user"`
	EndpointParticipant string `json:"endpoint_participant"`
	EndpointDevice      string `json:"endpoint_device"`
	EditableConfig      bool   `json:"editable_config"`
	DefaultConfig       string `json:"default_config"`
	HasAssets           bool   `json:"has_assets"`
	HasTests            bool   `json:"has_tests"`
	ClientSecretFile    string `json:"client_secret_file"`
}

type LogConfig struct {
	Level  string `json:"level"`
	Format string `json:"format"`
}
type ListenConfig struct {
	Listen string `json:"listen"`
}
type DatabaseConfig struct {
	URL string `json:"url"`
}
type NATSConfig struct {
	URL             string `json:"url"`
	CredentialsFile string `json:"credentials_file"`
}
type AuthConfig struct {
	SigningKeysDir string   `json:"signing_keys_dir"`
	DeviceCADir    string   `json:"device_ca_dir"`
	TrustedProxies []string `json:"trusted_proxies"`
}
type OIDCConfig struct {
	IssuerURL          string `json:"issuer_url"`
	DiscoveryURL       string `json:"discovery_url"`
	ClientID           string `json:"client_id"`
	ClientSecretFile   string `json:"client_secret_file"`
	MatchClaim         string `json:"match_claim"`
	UsernameClaim      string `json:"username_claim"`
	ProvisionUserGroup int64  `json:"provision_user_group"`
	DisplayName        string `json:"display_name"`
}
type EmailConfig struct {
	SMTP   SMTPConfig `json:"smtp"`
	Sender string     `json:"sender,omitempty"`
}
type SMTPConfig struct {
	Host         string `json:"host"`
	Port         int32  `json:"port,omitempty"`
	TLS          string `json:"tls,omitempty"`
	Username     string `json:"username,omitempty"`
	PasswordFile string `json:"password_file,omitempty"`
}
type FileTransferConfig struct {
	Blob           BlobConfig `json:"blob"`
	MaxUploadBytes int64      `json:"max_upload_bytes,omitempty"`
}
type BlobConfig struct {
	Backend string    `json:"backend"`
	Dir     string    `json:"dir,omitempty"`
	S3      *S3Config `json:"s3,omitempty"`
}
type S3Config struct {
	Endpoint            string `json:"endpoint"`
	Bucket              string `json:"bucket"`
	Region              string `json:"region,omitempty"`
	Prefix              string `json:"prefix,omitempty"`
	Insecure            bool   `json:"insecure,omitempty"`
	AccessKeyID         string `json:"access_key_id,omitempty"`
	SecretAccessKeyFile string `json:"secret_access_key_file,omitempty"`
}
type VideoRehabConfig struct {
	UDPPort    int32    `json:"udp_port"`
	PublicHost string   `json:"public_host"`
	TURNURLs   []string `json:"turn_urls"`
	// FileTransferURL is the filetransfer Service's HTTP URL: recordings are uploaded there
	// (pod to pod, which the between-targets NetworkPolicy allows on the http port).
	FileTransferURL string `json:"filetransfer_url,omitempty"`
}

// RenderConfig builds tera.yaml for the site.
func RenderConfig(site *terav1.TeraSite) TeraConfig {
	s := site.Spec
	c := TeraConfig{
		Log:             LogConfig{Level: keyOr(s.Log.Level, "info"), Format: keyOr(s.Log.Format, "json")},
		HTTP:            ListenConfig{Listen: fmt.Sprintf(":%d", HTTPPort)},
		GRPC:            ListenConfig{Listen: fmt.Sprintf(":%d", GRPCPort)},
		ShutdownTimeout: "25s",
		NATS:            NATSConfig{URL: s.NATS.URL},
		PublicURL:       PublicURL(site),
		Peers:           map[string]string{},
		Auth: AuthConfig{
			SigningKeysDir: SigningKeysDir,
			DeviceCADir:    DeviceCADir,
			TrustedProxies: append([]string{}, s.Ingress.TrustedProxies...),
		},
		VideoRehab: VideoRehabConfig{
			UDPPort:    udpPort(site),
			PublicHost: s.VideoRehab.PublicHost,
			TURNURLs:   append([]string{}, s.VideoRehab.TURNURLs...),
		},
	}
	if s.NATS.CredentialsSecretRef != nil {
		c.NATS.CredentialsFile = NATSCredsDir + "/" + keyOr(s.NATS.CredentialsSecretRef.Key, DefaultNATSKey)
	}
	if s.OIDC != nil {
		c.OIDC = OIDCConfig{
			IssuerURL:        s.OIDC.IssuerURL,
			DiscoveryURL:     s.OIDC.DiscoveryURL,
			ClientID:         s.OIDC.ClientID,
			ClientSecretFile: OIDCSecretDir + "/" + keyOr(s.OIDC.ClientSecretRef.Key, DefaultOIDCKey),
			MatchClaim:       s.OIDC.MatchClaim,
			UsernameClaim:    s.OIDC.UsernameClaim,
			DisplayName:      s.OIDC.DisplayName,
		}
		if g := s.OIDC.ProvisionUserGroup; g != nil {
			c.OIDC.ProvisionUserGroup = *g
		}
	}
	if e := s.Email; e != nil {
		c.Email = &EmailConfig{Sender: e.Sender, SMTP: SMTPConfig{Host: e.Host, Port: e.Port, TLS: e.TLS, Username: e.Username}}
		if e.PasswordSecretRef != nil {
			c.Email.SMTP.PasswordFile = SMTPSecretDir + "/" + keyOr(e.PasswordSecretRef.Key, DefaultSMTPKey)
		}
	}
	c.FileTransfer = FileTransferConfig{Blob: BlobConfig{Backend: "filesystem", Dir: FilesDir}}
	if f := s.FileTransfer; f != nil {
		if f.MaxUploadBytes != nil {
			c.FileTransfer.MaxUploadBytes = *f.MaxUploadBytes
		}
		if b := f.S3; b != nil {
			c.FileTransfer.Blob = BlobConfig{Backend: "s3", S3: &S3Config{Endpoint: b.Endpoint, Bucket: b.Bucket, Region: b.Region,
				Prefix: b.Prefix, Insecure: b.Insecure, AccessKeyID: b.AccessKeyID}}
			if b.SecretAccessKeySecretRef != nil {
				c.FileTransfer.Blob.S3.SecretAccessKeyFile = S3SecretDir + "/" + keyOr(b.SecretAccessKeySecretRef.Key, DefaultS3Key)
			}
		}
	}
	c.ExternalServices = []ExternalServiceConfig{}
	for _, w := range EnabledWorkloads(site) {
		if w.IsExternal() {
			e := w.External
			// The first path is the service's client endpoint (OpenTera's service_clientendpoint).
			c.ExternalServices = append(c.ExternalServices, ExternalServiceConfig{Key: e.ServiceKey, Name: e.ServiceKey,
				Hostname: ObjectName(site, e.Name), Port: e.Port, Endpoint: "/", ClientEndpoint: e.Paths[0],
				ClientSecretFile: ServiceSecretsDir + "/" + e.Name + "/" + ServiceSecretKey})
			continue
		}
		c.Peers[w.Name] = fmt.Sprintf("%s:%d", ObjectName(site, w.Name), GRPCPort)
		if w.Name == "filetransfer" {
			c.VideoRehab.FileTransferURL = fmt.Sprintf("http://%s:%d", ObjectName(site, w.Name), HTTPPort)
		}
	}
	return c
}

// ConfigMap renders the site's ConfigMap and returns it with the hash of its data.
func ConfigMap(site *terav1.TeraSite) (*corev1.ConfigMap, string, error) {
	b, err := yaml.Marshal(RenderConfig(site))
	if err != nil {
		return nil, "", err
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:      ConfigMapName(site),
			Namespace: site.Namespace,
			Labels:    ComponentLabels(site, "config"),
		},
		Data: map[string]string{ConfigFile: string(b)},
	}
	return cm, HashData(cm.Data), nil
}

// HashData hashes a string map deterministically.
func HashData(data map[string]string) string {
	keys := make([]string, 0, len(data))
	for k := range data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	h := sha256.New()
	for _, k := range keys {
		fmt.Fprintf(h, "%s\x00%s\x00", k, data[k])
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}
