package builder

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

func secretVolume(name, secret string, items []corev1.KeyToPath) corev1.Volume {
	return corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
		SecretName: secret, Items: items, DefaultMode: ptr.To[int32](0o440),
	}}}
}

// teraVolumes are the config and secret files every built-in target (and the migration Job)
// mounts. Every target verifies tokens, so all get the signing keys; only login signs device
// certificates, so only login gets the device CA's private key (the others get ca.crt).
func teraVolumes(site *terav1.TeraSite, withKeys bool, target string) ([]corev1.Volume, []corev1.VolumeMount) {
	vols := []corev1.Volume{
		{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: ConfigMapName(site)},
			DefaultMode:          ptr.To[int32](0o444),
		}}},
		{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	}
	mounts := []corev1.VolumeMount{
		{Name: "config", MountPath: ConfigDir, ReadOnly: true},
		{Name: "tmp", MountPath: "/tmp"},
	}
	if withKeys {
		var caItems []corev1.KeyToPath
		if target != terav1.TargetLogin {
			caItems = []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}}
		}
		vols = append(vols,
			secretVolume("signing-keys", SigningKeysName(site), nil),
			secretVolume("device-ca", DeviceCAName(site), caItems))
		mounts = append(mounts,
			corev1.VolumeMount{Name: "signing-keys", MountPath: SigningKeysDir, ReadOnly: true},
			corev1.VolumeMount{Name: "device-ca", MountPath: DeviceCADir, ReadOnly: true})
	}
	if ref := site.Spec.NATS.CredentialsSecretRef; ref != nil {
		k := keyOr(ref.Key, DefaultNATSKey)
		vols = append(vols, secretVolume("nats-creds", ref.Name, []corev1.KeyToPath{{Key: k, Path: k}}))
		mounts = append(mounts, corev1.VolumeMount{Name: "nats-creds", MountPath: NATSCredsDir, ReadOnly: true})
	}
	if o := site.Spec.OIDC; o != nil && withKeys {
		k := keyOr(o.ClientSecretRef.Key, DefaultOIDCKey)
		vols = append(vols, secretVolume("oidc", o.ClientSecretRef.Name, []corev1.KeyToPath{{Key: k, Path: k}}))
		mounts = append(mounts, corev1.VolumeMount{Name: "oidc", MountPath: OIDCSecretDir, ReadOnly: true})
	}
	if target == terav1.TargetCore {
		// Core registers the external services with the SHA-256 of their client secrets.
		for _, w := range EnabledWorkloads(site) {
			if !w.IsExternal() {
				continue
			}
			name := "svc-" + w.Name
			vols = append(vols, secretVolume(name, ServiceCredentialsName(site, w.Name), []corev1.KeyToPath{{Key: ServiceSecretKey, Path: ServiceSecretKey}}))
			mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: ServiceSecretsDir + "/" + w.Name, ReadOnly: true})
		}
	}
	if target == terav1.TargetFileTransfer {
		f := site.Spec.FileTransfer
		switch {
		case f != nil && f.S3 != nil:
			if ref := f.S3.SecretAccessKeySecretRef; ref != nil {
				k := keyOr(ref.Key, DefaultS3Key)
				vols = append(vols, secretVolume("s3", ref.Name, []corev1.KeyToPath{{Key: k, Path: k}}))
				mounts = append(mounts, corev1.VolumeMount{Name: "s3", MountPath: S3SecretDir, ReadOnly: true})
			}
		case f != nil && f.PersistentVolumeClaim != "":
			vols = append(vols, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: f.PersistentVolumeClaim}}})
			mounts = append(mounts, corev1.VolumeMount{Name: "files", MountPath: FilesDir})
		default:
			vols = append(vols, corev1.Volume{Name: "files", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
			mounts = append(mounts, corev1.VolumeMount{Name: "files", MountPath: FilesDir})
		}
	}
	if e := site.Spec.Email; e != nil && e.PasswordSecretRef != nil && target == terav1.TargetEmail {
		k := keyOr(e.PasswordSecretRef.Key, DefaultSMTPKey)
		vols = append(vols, secretVolume("smtp", e.PasswordSecretRef.Name, []corev1.KeyToPath{{Key: k, Path: k}}))
		mounts = append(mounts, corev1.VolumeMount{Name: "smtp", MountPath: SMTPSecretDir, ReadOnly: true})
	}
	return vols, mounts
}

func dsnEnv(site *terav1.TeraSite) corev1.EnvVar {
	return corev1.EnvVar{Name: "TERA_DATABASE_URL", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: site.Spec.Database.DSNSecretRef.Name},
		Key:                  DSNKey(site),
	}}}
}

// tracingEnv is the OTEL_* environment of a built-in target under spec.tracing (none without
// it: tracing stays off). Each target is its own service, named after the site.
func tracingEnv(site *terav1.TeraSite, target string) []corev1.EnvVar {
	t := site.Spec.Tracing
	if t == nil {
		return nil
	}
	proto := t.Protocol
	if proto == "" {
		proto = "grpc"
	}
	env := []corev1.EnvVar{
		{Name: "OTEL_EXPORTER_OTLP_ENDPOINT", Value: t.Endpoint},
		{Name: "OTEL_EXPORTER_OTLP_PROTOCOL", Value: proto},
		{Name: "OTEL_SERVICE_NAME", Value: "tera-" + target},
		{Name: "OTEL_RESOURCE_ATTRIBUTES", Value: "tera.site=" + site.Name + ",k8s.namespace.name=" + site.Namespace},
	}
	if t.SampleRatio != "" {
		env = append(env, corev1.EnvVar{Name: "OTEL_TRACES_SAMPLER", Value: "parentbased_traceidratio"},
			corev1.EnvVar{Name: "OTEL_TRACES_SAMPLER_ARG", Value: t.SampleRatio})
	}
	return append(env, t.Env...)
}

func containerSecurityContext() *corev1.SecurityContext {
	return &corev1.SecurityContext{
		AllowPrivilegeEscalation: ptr.To(false),
		ReadOnlyRootFilesystem:   ptr.To(true),
		RunAsNonRoot:             ptr.To(true),
		RunAsUser:                ptr.To[int64](RunAsUser),
		RunAsGroup:               ptr.To[int64](RunAsUser),
		Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

func podSecurityContext() *corev1.PodSecurityContext {
	return &corev1.PodSecurityContext{
		RunAsNonRoot:   ptr.To(true),
		RunAsUser:      ptr.To[int64](RunAsUser),
		RunAsGroup:     ptr.To[int64](RunAsUser),
		FSGroup:        ptr.To[int64](RunAsUser),
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
}

// Probes of a built-in target. Liveness only asks whether the process answers (/livez never
// looks at PostgreSQL or NATS: a dependency outage must not restart the fleet); readiness
// (/readyz) does check them and takes the pod out of the Service instead.
func teraProbes() (liveness, readiness, startup *corev1.Probe) {
	get := func(path string) corev1.ProbeHandler {
		return corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromString("http")}}
	}
	liveness = &corev1.Probe{ProbeHandler: get("/livez"), PeriodSeconds: 10, TimeoutSeconds: 2, FailureThreshold: 6}
	readiness = &corev1.Probe{ProbeHandler: get("/readyz"), PeriodSeconds: 5, TimeoutSeconds: 3, FailureThreshold: 3}
	startup = &corev1.Probe{ProbeHandler: get("/livez"), PeriodSeconds: 2, TimeoutSeconds: 2, FailureThreshold: 30}
	return
}

// Deployment renders the Deployment of a workload. image is the image the pods may run
// (the last migrated one for built-in targets); configHash rolls pods on config change.
func Deployment(site *terav1.TeraSite, w Workload, image, configHash string) *appsv1.Deployment {
	labels := ComponentLabels(site, w.Name)
	if w.IsExternal() {
		labels[LabelExternal] = "true"
	}
	// No version label on pods: during a migration the pods keep the previous image, and a
	// label change alone would restart them for nothing.
	podLabels := mergeMaps(w.Spec.Labels, labels)
	annotations := mergeMaps(w.Spec.Annotations, map[string]string{
		AnnotationConfigHash:                      configHash,
		"kubectl.kubernetes.io/default-container": containerName(w),
	})

	var c corev1.Container
	var vols []corev1.Volume
	if w.IsExternal() {
		c, vols = externalContainer(site, w)
	} else {
		c, vols = targetContainer(site, w, image)
	}
	c.Resources = *w.Spec.Resources.DeepCopy()
	c.SecurityContext = containerSecurityContext()
	c.TerminationMessagePolicy = corev1.TerminationMessageFallbackToLogsOnError

	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(site, w.Name), Namespace: site.Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: SelectorLabels(site, w.Name)},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxUnavailable: ptr.To(intstr.FromInt32(0)),
					MaxSurge:       ptr.To(intstr.FromString("25%")),
				},
			},
			RevisionHistoryLimit: ptr.To[int32](5),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: annotations},
				Spec: corev1.PodSpec{
					Containers:                    []corev1.Container{c},
					Volumes:                       vols,
					SecurityContext:               podSecurityContext(),
					AutomountServiceAccountToken:  ptr.To(false),
					EnableServiceLinks:            ptr.To(false),
					TerminationGracePeriodSeconds: ptr.To[int64](30),
					ImagePullSecrets:              site.Spec.Image.PullSecrets,
					NodeSelector:                  w.Spec.NodeSelector,
					Tolerations:                   w.Spec.Tolerations,
					Affinity:                      w.Spec.Affinity,
				},
			},
		},
	}
	// Under an HPA this is only the initial count: the reconciler leaves replicas to the HPA.
	d.Spec.Replicas = ptr.To(w.Replicas())
	if w.Spec.Affinity == nil {
		// Spread replicas across nodes when nothing else is asked for.
		d.Spec.Template.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{
			MaxSkew: 1, TopologyKey: "kubernetes.io/hostname",
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(site, w.Name)},
		}}
	}
	return d
}

func containerName(w Workload) string {
	if w.IsExternal() {
		return "service"
	}
	return "tera"
}

func targetContainer(site *terav1.TeraSite, w Workload, image string) (corev1.Container, []corev1.Volume) {
	vols, mounts := teraVolumes(site, true, w.Name)
	live, ready, startup := teraProbes()
	c := corev1.Container{
		Name:            "tera",
		Image:           image,
		ImagePullPolicy: site.Spec.Image.PullPolicy,
		Args:            []string{"serve", "--target=" + w.Name, "--config=" + ConfigDir + "/" + ConfigFile},
		Ports: []corev1.ContainerPort{
			{Name: "http", ContainerPort: HTTPPort, Protocol: corev1.ProtocolTCP},
			{Name: "grpc", ContainerPort: GRPCPort, Protocol: corev1.ProtocolTCP},
		},
		Env: append([]corev1.EnvVar{
			dsnEnv(site),
			{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
			{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		}, tracingEnv(site, w.Name)...),
		VolumeMounts:   mounts,
		LivenessProbe:  live,
		ReadinessProbe: ready,
		StartupProbe:   startup,
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	if w.Name == terav1.TargetVideoRehab {
		p := udpPort(site)
		c.Ports = append(c.Ports, corev1.ContainerPort{Name: "media", ContainerPort: p, Protocol: corev1.ProtocolUDP})
	}
	return c, vols
}

func externalContainer(site *terav1.TeraSite, w Workload) (corev1.Container, []corev1.Volume) {
	e := w.External
	vols := []corev1.Volume{{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	env := []corev1.EnvVar{
		{Name: "TERA_SERVICE_NAME", Value: e.Name},
		{Name: "TERA_SERVICE_KEY", Value: e.ServiceKey},
		{Name: "TERA_SERVICE_PATHS", Value: strings.Join(e.Paths, ",")},
		{Name: "TERA_PUBLIC_URL", Value: PublicURL(site)},
		{Name: "TERA_CORE_ADDR", Value: fmt.Sprintf("%s:%d", ObjectName(site, terav1.TargetCore), GRPCPort)},
		{Name: "TERA_LOGIN_ADDR", Value: fmt.Sprintf("%s:%d", ObjectName(site, terav1.TargetLogin), GRPCPort)},
		{Name: "TERA_NATS_URL", Value: site.Spec.NATS.URL},
		{Name: "PORT", Value: fmt.Sprintf("%d", e.Port)},
		// pkg/servicekit's configuration: its credential, where it listens.
		{Name: "TERA_SERVICE_LISTEN", Value: fmt.Sprintf(":%d", e.Port)},
		{Name: "TERA_SERVICE_CLIENT_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: ServiceCredentialsName(site, e.Name)}, Key: ServiceSecretKey}}},
	}
	env = append(env, e.Env...)
	tcp := corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromString("http")}}
	c := corev1.Container{
		Name:            "service",
		Image:           e.Image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Args:            e.Args,
		Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: e.Port, Protocol: corev1.ProtocolTCP}},
		Env:             env,
		VolumeMounts:    []corev1.VolumeMount{{Name: "tmp", MountPath: "/tmp"}},
		LivenessProbe:   &corev1.Probe{ProbeHandler: tcp, PeriodSeconds: 10, FailureThreshold: 6},
		ReadinessProbe:  &corev1.Probe{ProbeHandler: tcp, PeriodSeconds: 5, FailureThreshold: 3},
	}
	return c, vols
}

// Service renders the ClusterIP Service of a workload (http and, for built-ins, grpc).
func Service(site *terav1.TeraSite, w Workload) *corev1.Service {
	ports := []corev1.ServicePort{{Name: "http", Port: w.HTTPPort(), TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("http")}}
	if !w.IsExternal() {
		ports = append(ports, corev1.ServicePort{Name: "grpc", Port: GRPCPort, TargetPort: intstr.FromString("grpc"), Protocol: corev1.ProtocolTCP, AppProtocol: ptr.To("kubernetes.io/h2c")})
	}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(site, w.Name), Namespace: site.Namespace, Labels: ComponentLabels(site, w.Name)},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeClusterIP,
			Selector: SelectorLabels(site, w.Name),
			Ports:    ports,
		},
	}
}

// MediaService exposes videorehab's UDP media port.
func MediaService(site *terav1.TeraSite) *corev1.Service {
	p := udpPort(site)
	t := site.Spec.VideoRehab.ServiceType
	if t == "" {
		t = corev1.ServiceTypeClusterIP
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: MediaServiceName(site), Namespace: site.Namespace, Labels: ComponentLabels(site, terav1.TargetVideoRehab)},
		Spec: corev1.ServiceSpec{
			Type:     t,
			Selector: SelectorLabels(site, terav1.TargetVideoRehab),
			Ports:    []corev1.ServicePort{{Name: "media", Port: p, TargetPort: intstr.FromString("media"), Protocol: corev1.ProtocolUDP}},
		},
	}
	if t != corev1.ServiceTypeClusterIP {
		svc.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal
	}
	return svc
}

// PodDisruptionBudget keeps at least one pod of a workload through voluntary disruptions
// (or lets one go at a time when there is a single replica).
func PodDisruptionBudget(site *terav1.TeraSite, w Workload) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(site, w.Name), Namespace: site.Namespace, Labels: ComponentLabels(site, w.Name)},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MaxUnavailable:             ptr.To(intstr.FromInt32(1)),
			Selector:                   &metav1.LabelSelector{MatchLabels: SelectorLabels(site, w.Name)},
			UnhealthyPodEvictionPolicy: ptr.To(policyv1.AlwaysAllow),
		},
	}
}

// HorizontalPodAutoscaler renders the HPA of a workload; nil when autoscaling is not set.
func HorizontalPodAutoscaler(site *terav1.TeraSite, w Workload) *autoscalingv2.HorizontalPodAutoscaler {
	a := w.Spec.Autoscaling
	if a == nil {
		return nil
	}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: ObjectName(site, w.Name), Namespace: site.Namespace, Labels: ComponentLabels(site, w.Name)},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: ObjectName(site, w.Name)},
			MinReplicas:    ptr.To(a.MinReplicas),
			MaxReplicas:    a.MaxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{
					Name:   corev1.ResourceCPU,
					Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To(a.TargetCPUUtilizationPercentage)},
				},
			}},
		},
	}
}

// ServiceMonitor renders a Prometheus Operator ServiceMonitor (as unstructured: the operator
// does not depend on its Go types, and creates it only when discovery finds the CRD).
func ServiceMonitor(site *terav1.TeraSite, w Workload) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("monitoring.coreos.com/v1")
	u.SetKind("ServiceMonitor")
	u.SetName(ObjectName(site, w.Name))
	u.SetNamespace(site.Namespace)
	u.SetLabels(ComponentLabels(site, w.Name))
	sel := map[string]any{}
	for k, v := range SelectorLabels(site, w.Name) {
		sel[k] = v
	}
	u.Object["spec"] = map[string]any{
		"selector":  map[string]any{"matchLabels": sel},
		"endpoints": []any{map[string]any{"port": "http", "path": "/metrics", "interval": "30s"}},
	}
	return u
}

// MigrationJob runs `tera migrate` with the given image.
func MigrationJob(site *terav1.TeraSite, image, configHash string) *batchv1.Job {
	vols, mounts := teraVolumes(site, false, "migrate")
	labels := ComponentLabels(site, "migrate")
	labels[LabelVersion] = labelValue(site.Spec.Version)
	c := corev1.Container{
		Name:            "migrate",
		Image:           image,
		ImagePullPolicy: site.Spec.Image.PullPolicy,
		Args:            []string{"migrate", "--config=" + ConfigDir + "/" + ConfigFile},
		Env:             []corev1.EnvVar{dsnEnv(site)},
		VolumeMounts:    mounts,
		SecurityContext: containerSecurityContext(),
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: mustQ("50m"), corev1.ResourceMemory: mustQ("64Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: mustQ("256Mi")},
		},
		TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = corev1.PullIfNotPresent
	}
	backoff := site.Spec.Migration.BackoffLimit
	if backoff == nil {
		backoff = ptr.To[int32](3)
	}
	deadline := site.Spec.Migration.ActiveDeadlineSeconds
	if deadline == nil {
		deadline = ptr.To[int64](600)
	}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: MigrationJobName(site, image), Namespace: site.Namespace, Labels: labels,
			Annotations: map[string]string{AnnotationImage: image},
		},
		Spec: batchv1.JobSpec{
			BackoffLimit:          backoff,
			ActiveDeadlineSeconds: deadline,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{AnnotationConfigHash: configHash}},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					Containers:                   []corev1.Container{c},
					Volumes:                      vols,
					SecurityContext:              podSecurityContext(),
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					ImagePullSecrets:             site.Spec.Image.PullSecrets,
					NodeSelector:                 site.Spec.Defaults.NodeSelector,
					Tolerations:                  site.Spec.Defaults.Tolerations,
				},
			},
		},
	}
}

// labelValue trims a string to a valid label value.
func labelValue(s string) string {
	if len(s) > 63 {
		s = s[:63]
	}
	return strings.TrimRight(s, "-_.")
}
