// Package builder renders the objects a TeraSite owns. Every function is pure: given a site
// (and a few observed facts) it returns the desired object, so the reconciler stays a thin
// loop of create-or-update calls and the rendering is unit-testable without an API server.
package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

// Label keys.
const (
	LabelName      = "app.kubernetes.io/name"
	LabelInstance  = "app.kubernetes.io/instance"
	LabelComponent = "app.kubernetes.io/component"
	LabelManagedBy = "app.kubernetes.io/managed-by"
	LabelPartOf    = "app.kubernetes.io/part-of"
	LabelVersion   = "app.kubernetes.io/version"
	LabelSite      = "tera.health/site"
	LabelExternal  = "tera.health/external-service"

	AnnotationConfigHash = "tera.health/config-hash"
	AnnotationImage      = "tera.health/image"

	ManagedBy = "tera-operator"

	HTTPPort = 8080
	GRPCPort = 9090

	ConfigDir      = "/etc/tera"
	ConfigFile     = "tera.yaml"
	SigningKeysDir = "/etc/tera/signing-keys"
	DeviceCADir    = "/etc/tera/device-ca"
	NATSCredsDir   = "/etc/tera/nats"
	OIDCSecretDir  = "/etc/tera/oidc"
	SMTPSecretDir  = "/etc/tera/smtp"
	S3SecretDir    = "/etc/tera/s3"
	// FilesDir holds the filetransfer target's files with the filesystem backend.
	FilesDir = "/var/lib/tera/files"
	// ServiceSecretsDir/<name>/client_secret is an external service's secret in core's pods.
	ServiceSecretsDir = "/etc/tera/services"
	// ServiceSecretKey and ServiceClientIDKey are the keys of an external service's Secret.
	ServiceSecretKey   = "client_secret"
	ServiceClientIDKey = "client_id"
	DefaultDSNKey      = "url"
	DefaultNATSKey     = "nats.creds"
	DefaultOIDCKey     = "client-secret"
	DefaultSMTPKey     = "password"
	DefaultS3Key       = "secretAccessKey"
	DefaultImage       = "ghcr.io/tera-health/tera"
	DefaultUDPPort     = 10000
	RunAsUser          = 65532
)

// Names of generated objects.
func ConfigMapName(site *terav1.TeraSite) string        { return site.Name + "-config" }
func SigningKeysName(site *terav1.TeraSite) string      { return site.Name + "-signing-keys" }
func DeviceCAName(site *terav1.TeraSite) string         { return site.Name + "-device-ca" }
func IngressName(site *terav1.TeraSite) string          { return site.Name }
func ObjectName(site *terav1.TeraSite, t string) string { return site.Name + "-" + t }
func MediaServiceName(site *terav1.TeraSite) string     { return site.Name + "-videorehab-media" }

// ServiceCredentialsName is the Secret holding an external service's OAuth2 client credentials.
func ServiceCredentialsName(site *terav1.TeraSite, service string) string {
	return ObjectName(site, service) + "-credentials"
}

// MigrationJobName is unique per image so a new version gets a new Job.
func MigrationJobName(site *terav1.TeraSite, image string) string {
	return site.Name + "-migrate-" + ShortHash(image)
}

// ShortHash is a 10-hex-digit digest for names.
func ShortHash(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])[:10]
}

// Image returns the image reference for the site's version.
func Image(site *terav1.TeraSite) string {
	repo := site.Spec.Image.Repository
	if repo == "" {
		repo = DefaultImage
	}
	if site.Spec.Image.Digest != "" {
		return repo + "@" + site.Spec.Image.Digest
	}
	tag := site.Spec.Image.Tag
	if tag == "" {
		tag = site.Spec.Version
	}
	return repo + ":" + tag
}

// SiteLabels are on every object of the site.
func SiteLabels(site *terav1.TeraSite) map[string]string {
	return map[string]string{
		LabelName:      "tera",
		LabelInstance:  site.Name,
		LabelManagedBy: ManagedBy,
		LabelPartOf:    "tera",
		LabelSite:      site.Name,
	}
}

// ComponentLabels identify one target's objects.
func ComponentLabels(site *terav1.TeraSite, component string) map[string]string {
	l := SiteLabels(site)
	l[LabelComponent] = component
	return l
}

// SelectorLabels are the immutable Deployment selector of a component.
func SelectorLabels(site *terav1.TeraSite, component string) map[string]string {
	return map[string]string{LabelName: "tera", LabelInstance: site.Name, LabelComponent: component}
}

// Workload is one deployable unit: a built-in target or an external service, with its
// effective (defaulted) settings.
type Workload struct {
	Name     string // target name or external service name
	External *terav1.ExternalService
	Spec     terav1.WorkloadSpec // merged with spec.defaults
	Enabled  bool
}

// IsExternal says whether the workload is an external service.
func (w Workload) IsExternal() bool { return w.External != nil }

// HTTPPort of the workload's pods.
func (w Workload) HTTPPort() int32 {
	if w.External != nil {
		return w.External.Port
	}
	return HTTPPort
}

// Replicas is the effective replica count (autoscaling's minimum when it is set).
func (w Workload) Replicas() int32 {
	if w.Spec.Autoscaling != nil {
		return w.Spec.Autoscaling.MinReplicas
	}
	if w.Spec.Replicas != nil {
		return *w.Spec.Replicas
	}
	return 1
}

func targetSpec(site *terav1.TeraSite, name string) terav1.TargetSpec {
	t := site.Spec.Targets
	switch name {
	case terav1.TargetLogin:
		return t.Login
	case terav1.TargetCore:
		return t.Core
	case terav1.TargetUserManager:
		return t.UserManager
	case terav1.TargetWebSocket:
		return t.WebSocket
	case terav1.TargetFileTransfer:
		return t.FileTransfer
	case terav1.TargetLogging:
		return t.Logging
	case terav1.TargetEmail:
		return t.Email
	case terav1.TargetVideoRehab:
		return t.VideoRehab
	}
	return terav1.TargetSpec{}
}

// merge applies the per-target settings over the site defaults, field by field.
func merge(def, over terav1.WorkloadSpec) terav1.WorkloadSpec {
	out := *def.DeepCopy()
	o := over.DeepCopy()
	if o.Replicas != nil {
		out.Replicas = o.Replicas
	}
	if o.Resources != nil {
		out.Resources = o.Resources
	}
	if o.Autoscaling != nil {
		out.Autoscaling = o.Autoscaling
	}
	if o.NodeSelector != nil {
		out.NodeSelector = o.NodeSelector
	}
	if o.Tolerations != nil {
		out.Tolerations = o.Tolerations
	}
	if o.Affinity != nil {
		out.Affinity = o.Affinity
	}
	out.Annotations = mergeMaps(out.Annotations, o.Annotations)
	out.Labels = mergeMaps(out.Labels, o.Labels)
	if out.Autoscaling != nil && out.Autoscaling.MinReplicas == 0 {
		out.Autoscaling.MinReplicas = 1
	}
	if out.Autoscaling != nil && out.Autoscaling.TargetCPUUtilizationPercentage == 0 {
		out.Autoscaling.TargetCPUUtilizationPercentage = 75
	}
	if out.Resources == nil {
		out.Resources = &corev1.ResourceRequirements{
			Requests: corev1.ResourceList{
				corev1.ResourceCPU:    resource.MustParse("50m"),
				corev1.ResourceMemory: resource.MustParse("64Mi"),
			},
			Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("512Mi")},
		}
	}
	return out
}

func mergeMaps(a, b map[string]string) map[string]string {
	if len(a) == 0 && len(b) == 0 {
		return nil
	}
	out := make(map[string]string, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

// Workloads lists every built-in target and external service, enabled or not, in a
// stable order.
func Workloads(site *terav1.TeraSite) []Workload {
	var out []Workload
	for _, name := range terav1.BuiltinTargets {
		ts := targetSpec(site, name)
		enabled := slices.Contains(terav1.ServedTargets, name)
		if ts.Enabled != nil {
			enabled = *ts.Enabled
		}
		out = append(out, Workload{
			Name:    name,
			Spec:    merge(site.Spec.Defaults, ts.WorkloadSpec),
			Enabled: enabled,
		})
	}
	ext := append([]terav1.ExternalService(nil), site.Spec.ExternalServices...)
	sort.Slice(ext, func(i, j int) bool { return ext[i].Name < ext[j].Name })
	for i := range ext {
		e := ext[i]
		out = append(out, Workload{
			Name:     e.Name,
			External: &e,
			Spec:     merge(site.Spec.Defaults, e.WorkloadSpec),
			Enabled:  e.Enabled == nil || *e.Enabled,
		})
	}
	return out
}

// EnabledWorkloads filters Workloads.
func EnabledWorkloads(site *terav1.TeraSite) []Workload {
	var out []Workload
	for _, w := range Workloads(site) {
		if w.Enabled {
			out = append(out, w)
		}
	}
	return out
}

// PublicURL is how clients reach the site.
func PublicURL(site *terav1.TeraSite) string {
	scheme := "http"
	if site.Spec.Ingress.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + site.Spec.Ingress.Host
}

func keyOr(k, def string) string {
	if strings.TrimSpace(k) == "" {
		return def
	}
	return k
}

// DSNKey is the key of the DSN Secret.
func DSNKey(site *terav1.TeraSite) string {
	return keyOr(site.Spec.Database.DSNSecretRef.Key, DefaultDSNKey)
}

func udpPort(site *terav1.TeraSite) int32 {
	if site.Spec.VideoRehab.UDPPort == 0 {
		return DefaultUDPPort
	}
	return site.Spec.VideoRehab.UDPPort
}

func errf(format string, a ...any) error { return fmt.Errorf(format, a...) }
