package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Target names of the built-in fleet (ARCHITECTURE §2).
const (
	TargetLogin        = "login"
	TargetCore         = "core"
	TargetUserManager  = "usermanager"
	TargetWebSocket    = "websocket"
	TargetFileTransfer = "filetransfer"
	TargetLogging      = "logging"
	TargetEmail        = "email"
	TargetVideoRehab   = "videorehab"
)

// BuiltinTargets lists the built-in targets in reconcile order.
var BuiltinTargets = []string{
	TargetLogin, TargetCore, TargetUserManager, TargetWebSocket,
	TargetFileTransfer, TargetLogging, TargetEmail, TargetVideoRehab,
}

// ServedTargets are the built-in targets the tera binary of this release serves; they run
// unless disabled. The others are off unless enabled explicitly (for an image whose binary
// serves them): an enabled target the binary does not know would never become ready.
var ServedTargets = []string{TargetLogin, TargetCore, TargetUserManager, TargetWebSocket, TargetFileTransfer, TargetLogging, TargetEmail}

// Annotations and condition types.
const (
	// PausedAnnotation set to "true" stops the operator from reconciling the site.
	PausedAnnotation = "tera.health/paused"

	ConditionReady       = "Ready"
	ConditionProgressing = "Progressing"
	ConditionDegraded    = "Degraded"
	ConditionMigrating   = "Migrating"
)

// TeraSiteSpec describes one Tera site: the fleet of targets behind one ingress host.
// +kubebuilder:validation:XValidation:rule="!has(self.externalServices) || self.externalServices.all(s, self.externalServices.exists_one(o, o.serviceKey == s.serviceKey))",message="externalServices serviceKey values must be unique"
type TeraSiteSpec struct {
	// Image of the one tera binary every target runs.
	// +optional
	// +kubebuilder:default={}
	Image ImageSpec `json:"image,omitempty"`

	// Version of Tera this site runs. It is the image tag unless image.tag is set, and a
	// change of version runs the migration Job before any Deployment moves to it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`
	Version string `json:"version"`

	// Database references the PostgreSQL connection string.
	Database DatabaseSpec `json:"database"`

	// NATS is the NATS (JetStream) server the fleet uses for events and shared state.
	NATS NATSSpec `json:"nats"`

	// Ingress exposes the site on one host.
	Ingress IngressSpec `json:"ingress"`

	// OIDC federates users with an external identity provider.
	// +optional
	OIDC *OIDCSpec `json:"oidc,omitempty"`

	// Email is the SMTP server the email target sends through; without it every send
	// answers 503.
	// +optional
	Email *EmailSpec `json:"email,omitempty"`

	// FileTransfer is where the filetransfer target keeps asset and archive files: a
	// PersistentVolumeClaim or an S3 bucket. Without it the files live in an emptyDir and are
	// lost with the pod (evaluation only).
	// +optional
	FileTransfer *FileTransferSpec `json:"fileTransfer,omitempty"`

	// Log settings of every target.
	// +optional
	// +kubebuilder:default={}
	Log LogSpec `json:"log,omitempty"`

	// Defaults apply to every target (built-in and external) unless the target overrides them.
	// +optional
	// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="set either replicas or autoscaling, not both"
	Defaults WorkloadSpec `json:"defaults,omitempty"`

	// Targets holds per-target settings of the built-in fleet.
	// +optional
	Targets TargetsSpec `json:"targets,omitempty"`

	// VideoRehab media settings.
	// +optional
	// +kubebuilder:default={}
	VideoRehab VideoRehabSpec `json:"videoRehab,omitempty"`

	// ExternalServices are deployed, registered and routed like the built-in targets
	// (OpenTera's ServiceLauncher).
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=32
	ExternalServices []ExternalService `json:"externalServices,omitempty"`

	// Monitoring settings.
	// +optional
	// +kubebuilder:default={}
	Monitoring MonitoringSpec `json:"monitoring,omitempty"`

	// Tracing sends every built-in target's OpenTelemetry traces to an OTLP endpoint; without
	// it nothing is traced.
	// +optional
	Tracing *TracingSpec `json:"tracing,omitempty"`

	// Migration Job settings.
	// +optional
	// +kubebuilder:default={}
	Migration MigrationSpec `json:"migration,omitempty"`
}

// ImageSpec selects the container image.
type ImageSpec struct {
	// Repository of the tera image.
	// +kubebuilder:default="ghcr.io/tera-health/tera"
	// +kubebuilder:validation:MinLength=1
	// +optional
	Repository string `json:"repository,omitempty"`
	// Tag overrides the tag (defaults to spec.version).
	// +optional
	Tag string `json:"tag,omitempty"`
	// Digest pins the image (sha256:...); takes precedence over the tag.
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	// +optional
	Digest string `json:"digest,omitempty"`
	// PullPolicy of the image.
	// +kubebuilder:default=IfNotPresent
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	// +optional
	PullPolicy corev1.PullPolicy `json:"pullPolicy,omitempty"`
	// PullSecrets to pull the image.
	// +optional
	PullSecrets []corev1.LocalObjectReference `json:"pullSecrets,omitempty"`
}

// SecretKeyRef names one key of a Secret in the site's namespace.
type SecretKeyRef struct {
	// Name of the Secret.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Key in the Secret.
	// +kubebuilder:validation:MinLength=1
	// +optional
	Key string `json:"key,omitempty"`
}

// DatabaseSpec references PostgreSQL.
type DatabaseSpec struct {
	// DSNSecretRef is the Secret key holding the PostgreSQL URL (postgres://...).
	// The key defaults to "url"; CloudNativePG's <cluster>-app Secret has "uri".
	DSNSecretRef SecretKeyRef `json:"dsnSecretRef"`
}

// NATSSpec references NATS.
type NATSSpec struct {
	// URL of the NATS server(s), e.g. nats://nats.nats:4222.
	// +kubebuilder:validation:Pattern=`^(nats|tls|ws|wss)://.+`
	URL string `json:"url"`
	// CredentialsSecretRef is a Secret key holding a NATS .creds file (key defaults to "nats.creds").
	// +optional
	CredentialsSecretRef *SecretKeyRef `json:"credentialsSecretRef,omitempty"`
}

// IngressSpec exposes the site.
// +kubebuilder:validation:XValidation:rule="!has(self.tls) || !(has(self.tls.issuer) && has(self.tls.clusterIssuer))",message="set at most one of tls.issuer and tls.clusterIssuer"
type IngressSpec struct {
	// Enabled creates the Ingress.
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// Host the site is served on.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	// +kubebuilder:validation:MaxLength=253
	Host string `json:"host"`
	// ClassName is the IngressClass.
	// +optional
	ClassName *string `json:"className,omitempty"`
	// TLS settings; without them the site is served over plain HTTP (development only).
	// +optional
	TLS *IngressTLS `json:"tls,omitempty"`
	// Annotations added to the Ingress.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// TrustedProxies are CIDRs allowed to pass client-certificate headers (device certificate login).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	TrustedProxies []string `json:"trustedProxies,omitempty"`
}

// IngressTLS configures TLS.
type IngressTLS struct {
	// SecretName holds the certificate (written by cert-manager when an issuer is set).
	// +kubebuilder:validation:MinLength=1
	SecretName string `json:"secretName"`
	// Issuer is a cert-manager Issuer in the site's namespace.
	// +optional
	Issuer string `json:"issuer,omitempty"`
	// ClusterIssuer is a cert-manager ClusterIssuer.
	// +optional
	ClusterIssuer string `json:"clusterIssuer,omitempty"`
}

// OIDCSpec federates login with an OpenID Connect provider.
type OIDCSpec struct {
	// IssuerURL is the issuer as seen by browsers (the iss claim).
	// +kubebuilder:validation:Pattern=`^https?://.+`
	IssuerURL string `json:"issuerURL"`
	// DiscoveryURL is the in-cluster URL to fetch discovery and keys from (defaults to the issuer).
	// +kubebuilder:validation:Pattern=`^https?://.+`
	// +optional
	DiscoveryURL string `json:"discoveryURL,omitempty"`
	// ClientID registered with the provider.
	// +kubebuilder:validation:MinLength=1
	ClientID string `json:"clientID"`
	// ClientSecretRef is the Secret key with the client secret (key defaults to "client-secret").
	ClientSecretRef SecretKeyRef `json:"clientSecretRef"`
	// MatchClaim maps identities to Tera users: "username" (default) or "email".
	// +kubebuilder:validation:Enum=username;email
	// +optional
	MatchClaim string `json:"matchClaim,omitempty"`
	// UsernameClaim is the claim matched to user_username (default preferred_username).
	// +optional
	UsernameClaim string `json:"usernameClaim,omitempty"`
	// ProvisionUserGroup, when set, creates unknown users in this user group (id_user_group).
	// +kubebuilder:validation:Minimum=1
	// +optional
	ProvisionUserGroup *int64 `json:"provisionUserGroup,omitempty"`
	// DisplayName labels the login page's button.
	// +optional
	DisplayName string `json:"displayName,omitempty"`
}

// EmailSpec locates the SMTP server of the email target.
type EmailSpec struct {
	// Host of the SMTP server.
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// Port (default 587 with starttls, 465 with implicit, 25 otherwise).
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// TLS is starttls (required), opportunistic, implicit (SMTPS) or none.
	// +kubebuilder:default=starttls
	// +kubebuilder:validation:Enum=starttls;opportunistic;implicit;none
	// +optional
	TLS string `json:"tls,omitempty"`
	// Username enables SMTP authentication.
	// +optional
	Username string `json:"username,omitempty"`
	// PasswordSecretRef is the Secret key with the SMTP password (key defaults to "password").
	// +optional
	PasswordSecretRef *SecretKeyRef `json:"passwordSecretRef,omitempty"`
	// Sender is the From address of every mail (default noreply@opentera.org).
	// +optional
	Sender string `json:"sender,omitempty"`
}

// FileTransferSpec is the blob store of the filetransfer target.
// +kubebuilder:validation:XValidation:rule="has(self.persistentVolumeClaim) != has(self.s3)",message="set exactly one of persistentVolumeClaim and s3"
type FileTransferSpec struct {
	// PersistentVolumeClaim holds the files, mounted in every filetransfer pod (ReadWriteMany
	// when the target runs more than one replica).
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +optional
	PersistentVolumeClaim string `json:"persistentVolumeClaim,omitempty"`
	// S3 is an S3-compatible bucket (AWS S3, MinIO, Ceph RGW…).
	// +optional
	S3 *S3Spec `json:"s3,omitempty"`
	// MaxUploadBytes caps one upload (default 500 MB, as OpenTera's proxy).
	// +kubebuilder:validation:Minimum=1
	// +optional
	MaxUploadBytes *int64 `json:"maxUploadBytes,omitempty"`
}

// S3Spec locates an S3 bucket.
type S3Spec struct {
	// Endpoint is host[:port] of the S3 API, without a scheme.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:Pattern=`^[^/:]+(:[0-9]+)?$`
	Endpoint string `json:"endpoint"`
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`
	// +optional
	Region string `json:"region,omitempty"`
	// Prefix of every object key.
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Insecure speaks plain HTTP to the endpoint.
	// +optional
	Insecure bool `json:"insecure,omitempty"`
	// AccessKeyID with SecretAccessKeySecretRef are static credentials; without them the pod's
	// environment (AWS_* variables, an IAM role for the service account) is used.
	// +optional
	AccessKeyID string `json:"accessKeyID,omitempty"`
	// SecretAccessKeySecretRef is the Secret key with the secret access key (key defaults to
	// "secretAccessKey").
	// +optional
	SecretAccessKeySecretRef *SecretKeyRef `json:"secretAccessKeySecretRef,omitempty"`
}

// LogSpec configures logging.
type LogSpec struct {
	// +kubebuilder:default=info
	// +kubebuilder:validation:Enum=debug;info;warn;error
	// +optional
	Level string `json:"level,omitempty"`
	// +kubebuilder:default=json
	// +kubebuilder:validation:Enum=json;text
	// +optional
	Format string `json:"format,omitempty"`
}

// WorkloadSpec holds the settings of a target's pods. Every unset field falls back to
// spec.defaults, then to the operator's built-in default.
type WorkloadSpec struct {
	// Replicas when autoscaling is not set (default 1).
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=100
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`
	// Resources of the container.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`
	// Autoscaling creates a HorizontalPodAutoscaler.
	// +optional
	Autoscaling *AutoscalingSpec `json:"autoscaling,omitempty"`
	// NodeSelector of the pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Tolerations of the pods.
	// +optional
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`
	// Affinity of the pods.
	// +optional
	Affinity *corev1.Affinity `json:"affinity,omitempty"`
	// Annotations added to the pods.
	// +optional
	Annotations map[string]string `json:"annotations,omitempty"`
	// Labels added to the pods.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
}

// AutoscalingSpec configures a HorizontalPodAutoscaler.
// +kubebuilder:validation:XValidation:rule="self.minReplicas <= self.maxReplicas",message="minReplicas must be less than or equal to maxReplicas"
type AutoscalingSpec struct {
	// +kubebuilder:default=1
	// +kubebuilder:validation:Minimum=1
	// +optional
	MinReplicas int32 `json:"minReplicas,omitempty"`
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	MaxReplicas int32 `json:"maxReplicas"`
	// TargetCPUUtilizationPercentage of the requested CPU.
	// +kubebuilder:default=75
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100
	// +optional
	TargetCPUUtilizationPercentage int32 `json:"targetCPUUtilizationPercentage,omitempty"`
}

// TargetSpec configures one built-in target.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="set either replicas or autoscaling, not both"
type TargetSpec struct {
	// Enabled runs the target. Default: true for login and core (the targets this release
	// serves), false for the others. Disabling it deletes its objects.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +optional
	WorkloadSpec `json:",inline"`
}

// TargetsSpec has one entry per built-in target.
type TargetsSpec struct {
	// +optional
	Login TargetSpec `json:"login,omitempty"`
	// +optional
	Core TargetSpec `json:"core,omitempty"`
	// +optional
	UserManager TargetSpec `json:"usermanager,omitempty"`
	// +optional
	WebSocket TargetSpec `json:"websocket,omitempty"`
	// +optional
	FileTransfer TargetSpec `json:"filetransfer,omitempty"`
	// +optional
	Logging TargetSpec `json:"logging,omitempty"`
	// +optional
	Email TargetSpec `json:"email,omitempty"`
	// +optional
	VideoRehab TargetSpec `json:"videorehab,omitempty"`
}

// VideoRehabSpec holds the media settings of videorehab.
type VideoRehabSpec struct {
	// UDPPort is the media port of each videorehab pod (container and Service port).
	// +kubebuilder:default=10000
	// +kubebuilder:validation:Minimum=1024
	// +kubebuilder:validation:Maximum=65535
	// +optional
	UDPPort int32 `json:"udpPort,omitempty"`
	// PublicHost is the address clients reach the media port on (IP or DNS name).
	// +optional
	PublicHost string `json:"publicHost,omitempty"`
	// ServiceType of the media Service (LoadBalancer or NodePort exposes UDP outside the cluster).
	// +kubebuilder:default=ClusterIP
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	ServiceType corev1.ServiceType `json:"serviceType,omitempty"`
	// TURNURLs are TURN servers offered as fallback (turn:host:port?transport=udp).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^turns?:.+`
	TURNURLs []string `json:"turnURLs,omitempty"`
}

// ExternalService is a service outside the built-in fleet that the operator deploys and routes.
// +kubebuilder:validation:XValidation:rule="!(has(self.replicas) && has(self.autoscaling))",message="set either replicas or autoscaling, not both"
// +kubebuilder:validation:XValidation:rule="!(self.name in ['login','core','usermanager','websocket','filetransfer','logging','videorehab','migrate','config'])",message="name is reserved for a built-in target"
type ExternalService struct {
	// Name of the service; objects are named <site>-<name>.
	// +kubebuilder:validation:Pattern=`^[a-z]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=22
	Name string `json:"name"`
	// Image of the service.
	// +kubebuilder:validation:MinLength=1
	Image string `json:"image"`
	// Port the service listens on for HTTP.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
	// ServiceKey registers the service with core (OpenTera's service_key).
	// +kubebuilder:validation:Pattern=`^[A-Za-z][A-Za-z0-9_.-]*$`
	// +kubebuilder:validation:MaxLength=64
	ServiceKey string `json:"serviceKey"`
	// Paths routed to the service by the ingress (prefixes).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^/[A-Za-z0-9/_.-]*$`
	Paths []string `json:"paths"`
	// Args passed to the container.
	// +optional
	Args []string `json:"args,omitempty"`
	// Env added to the container (besides the TERA_* variables the operator sets).
	// +optional
	// +kubebuilder:validation:MaxItems=64
	Env []corev1.EnvVar `json:"env,omitempty"`
	// Enabled runs the service (default true).
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// +optional
	WorkloadSpec `json:",inline"`
}

// TracingSpec configures the targets' OTEL_* environment (README "Tracing").
type TracingSpec struct {
	// Endpoint of the OTLP receiver (an OpenTelemetry Collector, Jaeger, Tempo):
	// http://host:4317 for grpc, http://host:4318 for http/protobuf.
	// +kubebuilder:validation:Pattern=`^https?://[^\s]+$`
	// +kubebuilder:validation:MaxLength=512
	Endpoint string `json:"endpoint"`
	// Protocol of the endpoint.
	// +kubebuilder:default=grpc
	// +kubebuilder:validation:Enum=grpc;http/protobuf
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// SampleRatio of the traces started by the site (a decimal from 0 to 1); a caller's
	// sampling decision is always followed. Every trace when unset.
	// +kubebuilder:validation:Pattern=`^(0(\.[0-9]+)?|1(\.0+)?)$`
	// +optional
	SampleRatio string `json:"sampleRatio,omitempty"`
	// Env adds OTEL_* variables to every built-in target, after the operator's (e.g.
	// OTEL_EXPORTER_OTLP_HEADERS from a Secret, OTEL_RESOURCE_ATTRIBUTES).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	Env []corev1.EnvVar `json:"env,omitempty"`
}

// MonitoringSpec configures Prometheus integration.
type MonitoringSpec struct {
	// ServiceMonitor creates a ServiceMonitor per target when the Prometheus Operator CRD exists.
	// +kubebuilder:default=true
	// +optional
	ServiceMonitor *bool `json:"serviceMonitor,omitempty"`
}

// MigrationSpec configures the migration Job.
type MigrationSpec struct {
	// BackoffLimit of the Job.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	// +optional
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// ActiveDeadlineSeconds of the Job.
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=30
	// +optional
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
}

// TargetStatus reports one target.
type TargetStatus struct {
	// Name of the target or external service.
	Name string `json:"name"`
	// Replicas desired.
	Replicas int32 `json:"replicas"`
	// ReadyReplicas observed.
	ReadyReplicas int32 `json:"readyReplicas"`
	// Image the Deployment runs.
	Image string `json:"image,omitempty"`
}

// TeraSiteStatus is the observed state of a TeraSite.
type TeraSiteStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions: Ready, Progressing, Degraded, Migrating.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// Version the Deployments run (migrated and rolled out).
	// +optional
	Version string `json:"version,omitempty"`
	// MigratedImage is the image whose migrations succeeded; Deployments never run a newer one.
	// +optional
	MigratedImage string `json:"migratedImage,omitempty"`
	// ConfigHash is the hash of the rendered tera.yaml the pods run with.
	// +optional
	ConfigHash string `json:"configHash,omitempty"`
	// URL of the site.
	// +optional
	URL string `json:"url,omitempty"`
	// Targets reports every deployed target.
	// +optional
	Targets []TargetStatus `json:"targets,omitempty"`
}

// TeraSite is one Tera site: the telehealth fleet reconciled from this description.
// Object names are <site>-<target>, so the site name is kept short enough for every one of
// them to be a valid Service name (63 characters).
// +kubebuilder:object:root=true
// +kubebuilder:validation:XValidation:rule="size(self.metadata.name) <= 40 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be a DNS label of at most 40 characters starting with a letter"
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=tsite,categories=tera
// +kubebuilder:printcolumn:name="Version",type=string,JSONPath=`.spec.version`
// +kubebuilder:printcolumn:name="Running",type=string,JSONPath=`.status.version`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TeraSite struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   TeraSiteSpec   `json:"spec"`
	Status TeraSiteStatus `json:"status,omitempty"`
}

// TeraSiteList is a list of TeraSite.
// +kubebuilder:object:root=true
type TeraSiteList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TeraSite `json:"items"`
}

func init() {
	SchemeBuilder.Register(&TeraSite{}, &TeraSiteList{})
}
