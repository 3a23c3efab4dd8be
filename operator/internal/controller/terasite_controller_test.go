package controller_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/operator/internal/builder"
)

func baseSite(ns string) *terav1.TeraSite {
	return &terav1.TeraSite{
		ObjectMeta: metav1.ObjectMeta{Name: "clinic", Namespace: ns},
		Spec: terav1.TeraSiteSpec{
			Image:    terav1.ImageSpec{Repository: "registry.example/tera"},
			Version:  "1.0.0",
			Database: terav1.DatabaseSpec{DSNSecretRef: terav1.SecretKeyRef{Name: "pg-app", Key: "uri"}},
			NATS:     terav1.NATSSpec{URL: "nats://nats.nats:4222"},
			Ingress: terav1.IngressSpec{
				Host:      "tera.example.org",
				ClassName: ptr.To("nginx"),
				TLS:       &terav1.IngressTLS{SecretName: "tera-tls", ClusterIssuer: "letsencrypt"},
			},
			Targets: terav1.TargetsSpec{
				Core: terav1.TargetSpec{WorkloadSpec: terav1.WorkloadSpec{
					Autoscaling: &terav1.AutoscalingSpec{MinReplicas: 2, MaxReplicas: 5, TargetCPUUtilizationPercentage: 70},
				}},
				// Off by default until the binary serves them; enabled here so every target's
				// objects are checked.
				UserManager:  terav1.TargetSpec{Enabled: ptr.To(true)},
				WebSocket:    terav1.TargetSpec{Enabled: ptr.To(true), WorkloadSpec: terav1.WorkloadSpec{Replicas: ptr.To[int32](3)}},
				FileTransfer: terav1.TargetSpec{Enabled: ptr.To(true)},
				Logging:      terav1.TargetSpec{Enabled: ptr.To(true)},
				VideoRehab:   terav1.TargetSpec{Enabled: ptr.To(true)},
			},
			VideoRehab: terav1.VideoRehabSpec{UDPPort: 40000, PublicHost: "media.example.org"},
			ExternalServices: []terav1.ExternalService{{
				Name: "exergames", Image: "registry.example/exergames:2.1", Port: 8000,
				ServiceKey: "ExergamesService", Paths: []string{"/exergames"},
			}},
		},
	}
}

func get(t *testing.T, obj client.Object, ns, name string) error {
	t.Helper()
	return k8s.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, obj)
}

func getSite(t *testing.T, ns string) *terav1.TeraSite {
	t.Helper()
	s := &terav1.TeraSite{}
	if err := get(t, s, ns, "clinic"); err != nil {
		t.Fatal(err)
	}
	return s
}

func updateSite(t *testing.T, ns string, mutate func(*terav1.TeraSite)) {
	t.Helper()
	eventually(t, "update site", func() error {
		s := &terav1.TeraSite{}
		if err := get(t, s, ns, "clinic"); err != nil {
			return err
		}
		mutate(s)
		return k8s.Update(context.Background(), s)
	})
}

func condition(s *terav1.TeraSite, typ string) *metav1.Condition {
	return meta.FindStatusCondition(s.Status.Conditions, typ)
}

func wantCondition(t *testing.T, ns, typ string, status metav1.ConditionStatus, reason string) {
	t.Helper()
	eventually(t, fmt.Sprintf("condition %s=%s/%s", typ, status, reason), func() error {
		s := getSite(t, ns)
		c := condition(s, typ)
		if c == nil {
			return fmt.Errorf("no condition %s", typ)
		}
		if c.Status != status || (reason != "" && c.Reason != reason) {
			return fmt.Errorf("got %s/%s: %s", c.Status, c.Reason, c.Message)
		}
		if c.ObservedGeneration != s.Generation || s.Status.ObservedGeneration != s.Generation {
			return fmt.Errorf("observedGeneration %d/%d, generation %d", c.ObservedGeneration, s.Status.ObservedGeneration, s.Generation)
		}
		return nil
	})
}

func migrationJob(t *testing.T, ns, image string) *batchv1.Job {
	t.Helper()
	site := &terav1.TeraSite{ObjectMeta: metav1.ObjectMeta{Name: "clinic", Namespace: ns}}
	j := &batchv1.Job{}
	eventually(t, "migration job for "+image, func() error { return get(t, j, ns, builder.MigrationJobName(site, image)) })
	return j
}

// finishJob sets the status the Job controller would (envtest runs no controllers).
func finishJob(t *testing.T, j *batchv1.Job, succeeded bool) {
	t.Helper()
	now := metav1.Now()
	eventually(t, "job status", func() error {
		if err := get(t, j, j.Namespace, j.Name); err != nil {
			return err
		}
		j.Status.StartTime = &now
		if succeeded {
			j.Status.CompletionTime = &now
			j.Status.Succeeded = 1
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, LastTransitionTime: now, LastProbeTime: now},
			}
		} else {
			j.Status.Failed = 4
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", Message: "Job has reached the specified backoff limit", LastTransitionTime: now, LastProbeTime: now},
			}
		}
		return k8s.Status().Update(context.Background(), j)
	})
}

// markDeploymentsReady plays the Deployment controller: every replica updated and ready.
func markDeploymentsReady(t *testing.T, ns string) {
	t.Helper()
	var list appsv1.DeploymentList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		d := list.Items[i]
		eventually(t, "deployment status "+d.Name, func() error {
			if err := get(t, &d, ns, d.Name); err != nil {
				return err
			}
			r := *d.Spec.Replicas
			d.Status = appsv1.DeploymentStatus{
				ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
			}
			return k8s.Status().Update(context.Background(), &d)
		})
	}
}

func deployments(t *testing.T, ns string) map[string]appsv1.Deployment {
	t.Helper()
	var list appsv1.DeploymentList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	out := map[string]appsv1.Deployment{}
	for _, d := range list.Items {
		out[d.Name] = d
	}
	return out
}

var allDeployments = []string{
	"clinic-core", "clinic-email", "clinic-exergames", "clinic-filetransfer", "clinic-logging", "clinic-login",
	"clinic-usermanager", "clinic-videorehab", "clinic-websocket",
}

func sortedKeys[M ~map[string]V, V any](m M) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	slices.Sort(k)
	return k
}

// createReadySite creates the base site, lets its first migration succeed and marks every
// Deployment ready.
func createReadySite(t *testing.T, mutate func(*terav1.TeraSite)) string {
	t.Helper()
	ns := newNamespace(t)
	site := baseSite(ns)
	if mutate != nil {
		mutate(site)
	}
	if err := k8s.Create(context.Background(), site); err != nil {
		t.Fatal(err)
	}
	finishJob(t, migrationJob(t, ns, builder.Image(site)), true)
	eventually(t, "deployments", func() error {
		if got := sortedKeys(deployments(t, ns)); !slices.Equal(got, allDeployments) {
			return fmt.Errorf("deployments %v", got)
		}
		return nil
	})
	// The reconciler may still be updating a Deployment (a new generation) right after we mark
	// it ready, so keep marking until the site reports Ready: a kubelet would do the same.
	eventually(t, "site ready", func() error {
		if err := setDeploymentsReady(ns); err != nil {
			return err
		}
		c := condition(getSite(t, ns), terav1.ConditionReady)
		if c == nil || c.Status != metav1.ConditionTrue {
			return fmt.Errorf("Ready: %+v", c)
		}
		return nil
	})
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionTrue, "Available")
	return ns
}

// setDeploymentsReady reports every Deployment of ns available at its current generation.
func setDeploymentsReady(ns string) error {
	var list appsv1.DeploymentList
	if err := k8s.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range list.Items {
		d := &list.Items[i]
		r := *d.Spec.Replicas
		if d.Status.ObservedGeneration == d.Generation && d.Status.AvailableReplicas == r && d.Status.UpdatedReplicas == r {
			continue
		}
		d.Status = appsv1.DeploymentStatus{
			ObservedGeneration: d.Generation, Replicas: r, UpdatedReplicas: r, ReadyReplicas: r, AvailableReplicas: r,
		}
		if err := k8s.Status().Update(context.Background(), d); err != nil {
			return err
		}
	}
	return nil
}

func ownedBySite(t *testing.T, obj client.Object, site *terav1.TeraSite) {
	t.Helper()
	ref := metav1.GetControllerOf(obj)
	if ref == nil || ref.UID != site.UID || ref.Kind != "TeraSite" || ref.APIVersion != terav1.GroupVersion.String() {
		t.Errorf("%T %s: controller reference %+v, want TeraSite %s", obj, obj.GetName(), ref, site.UID)
		return
	}
	if ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
		t.Errorf("%T %s: blockOwnerDeletion not set", obj, obj.GetName())
	}
}

func TestSiteLifecycle(t *testing.T) {
	needEnvtest(t)
	ctx := context.Background()
	ns := newNamespace(t)
	site := baseSite(ns)
	if err := k8s.Create(ctx, site); err != nil {
		t.Fatal(err)
	}
	image := "registry.example/tera:1.0.0"

	// Secrets are generated, the ConfigMap rendered, the migration Job started — and no
	// Deployment exists before the schema does.
	cm := &corev1.ConfigMap{}
	eventually(t, "configmap", func() error { return get(t, cm, ns, "clinic-config") })
	var conf builder.TeraConfig
	if err := yaml.UnmarshalStrict([]byte(cm.Data["tera.yaml"]), &conf); err != nil {
		t.Fatalf("tera.yaml: %v\n%s", err, cm.Data["tera.yaml"])
	}
	if conf.PublicURL != "https://tera.example.org" || conf.NATS.URL != "nats://nats.nats:4222" ||
		conf.Peers["core"] != "clinic-core:9090" || conf.Peers["videorehab"] != "clinic-videorehab:9090" ||
		len(conf.Peers) != 8 || conf.Database.URL != "" || conf.VideoRehab.UDPPort != 40000 ||
		conf.Auth.SigningKeysDir != "/etc/tera/signing-keys" || conf.Auth.DeviceCADir != "/etc/tera/device-ca" {
		t.Errorf("unexpected tera.yaml:\n%s", cm.Data["tera.yaml"])
	}

	keys := &corev1.Secret{}
	eventually(t, "signing keys", func() error { return get(t, keys, ns, "clinic-signing-keys") })
	if len(keys.Data) != 1 {
		t.Fatalf("signing keys: %d entries", len(keys.Data))
	}
	for k, v := range keys.Data {
		if !strings.HasPrefix(k, "signing-key-") || !strings.HasSuffix(k, ".pem") {
			t.Errorf("signing key name %q", k)
		}
		b, _ := pem.Decode(v)
		if b == nil {
			t.Fatal("signing key is not PEM")
		}
		pk, err := x509.ParsePKCS8PrivateKey(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		if ec, ok := pk.(*ecdsa.PrivateKey); !ok || ec.Curve != elliptic.P256() {
			t.Errorf("signing key is %T, want ECDSA P-256", pk)
		}
	}
	ca := &corev1.Secret{}
	eventually(t, "device ca", func() error { return get(t, ca, ns, "clinic-device-ca") })
	b, _ := pem.Decode(ca.Data["ca.crt"])
	if b == nil {
		t.Fatal("ca.crt is not PEM")
	}
	caCert, err := x509.ParseCertificate(b.Bytes)
	if err != nil || !caCert.IsCA {
		t.Fatalf("ca.crt: CA=%v err=%v", caCert != nil && caCert.IsCA, err)
	}
	if _, ok := ca.Data["ca.key"]; !ok {
		t.Error("no ca.key")
	}

	job := migrationJob(t, ns, image)
	c := job.Spec.Template.Spec.Containers[0]
	if c.Image != image || !slices.Equal(c.Args, []string{"migrate", "--config=/etc/tera/tera.yaml"}) {
		t.Errorf("migration job container: %s %v", c.Image, c.Args)
	}
	if c.Env[0].Name != "TERA_DATABASE_URL" || c.Env[0].ValueFrom.SecretKeyRef.Name != "pg-app" || c.Env[0].ValueFrom.SecretKeyRef.Key != "uri" {
		t.Errorf("migration job env: %+v", c.Env)
	}
	wantCondition(t, ns, terav1.ConditionMigrating, metav1.ConditionTrue, "Migrating")
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionFalse, "WaitingForMigration")
	if d := deployments(t, ns); len(d) != 1 || d["clinic-exergames"].Name == "" {
		// external services do not run tera migrations, so only they may start early
		t.Errorf("deployments before migration: %v", sortedKeys(d))
	}

	finishJob(t, job, true)
	wantCondition(t, ns, terav1.ConditionMigrating, metav1.ConditionFalse, "MigrationSucceeded")
	eventually(t, "all deployments", func() error {
		if got := sortedKeys(deployments(t, ns)); !slices.Equal(got, allDeployments) {
			return fmt.Errorf("got %v", got)
		}
		return nil
	})
	site = getSite(t, ns)
	deps := deployments(t, ns)
	for _, target := range terav1.BuiltinTargets {
		d := deps["clinic-"+target]
		ownedBySite(t, &d, site)
		pod := d.Spec.Template
		if pod.Annotations[builder.AnnotationConfigHash] != site.Status.ConfigHash || site.Status.ConfigHash == "" {
			t.Errorf("%s: config hash %q, status %q", target, pod.Annotations[builder.AnnotationConfigHash], site.Status.ConfigHash)
		}
		c := pod.Spec.Containers[0]
		if c.Image != image || !slices.Equal(c.Args, []string{"serve", "--target=" + target, "--config=/etc/tera/tera.yaml"}) {
			t.Errorf("%s: container %s %v", target, c.Image, c.Args)
		}
		if c.LivenessProbe.HTTPGet.Path != "/livez" || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
			t.Errorf("%s: probes %s / %s", target, c.LivenessProbe.HTTPGet.Path, c.ReadinessProbe.HTTPGet.Path)
		}
		sc := c.SecurityContext
		if !*sc.RunAsNonRoot || !*sc.ReadOnlyRootFilesystem || *sc.AllowPrivilegeEscalation || *sc.RunAsUser != 65532 {
			t.Errorf("%s: security context %+v", target, sc)
		}
		if c.Env[0].Name != "TERA_DATABASE_URL" || c.Env[0].ValueFrom.SecretKeyRef.Key != "uri" {
			t.Errorf("%s: env %+v", target, c.Env)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		if ports["http"] != 8080 || ports["grpc"] != 9090 {
			t.Errorf("%s: ports %v", target, ports)
		}
		if target == "videorehab" && (ports["media"] != 40000 || c.Ports[2].Protocol != corev1.ProtocolUDP) {
			t.Errorf("videorehab: media port %v", c.Ports)
		}
		svc := &corev1.Service{}
		if err := get(t, svc, ns, "clinic-"+target); err != nil {
			t.Errorf("%s: service: %v", target, err)
		} else {
			ownedBySite(t, svc, site)
		}
		pdb := &policyv1.PodDisruptionBudget{}
		if err := get(t, pdb, ns, "clinic-"+target); err != nil {
			t.Errorf("%s: pdb: %v", target, err)
		}
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		err := get(t, hpa, ns, "clinic-"+target)
		if target == "core" {
			if err != nil || hpa.Spec.MaxReplicas != 5 || *hpa.Spec.MinReplicas != 2 || *hpa.Spec.Metrics[0].Resource.Target.AverageUtilization != 70 {
				t.Errorf("core hpa: %v %+v", err, hpa.Spec)
			}
		} else if !apierrors.IsNotFound(err) {
			t.Errorf("%s: unexpected hpa (%v)", target, err)
		}
	}
	if r := *deps["clinic-websocket"].Spec.Replicas; r != 3 {
		t.Errorf("websocket replicas %d", r)
	}
	if r := *deps["clinic-login"].Spec.Replicas; r != 1 {
		t.Errorf("login replicas %d", r)
	}
	ext := deps["clinic-exergames"].Spec.Template.Spec.Containers[0]
	if ext.Image != "registry.example/exergames:2.1" || ext.Ports[0].ContainerPort != 8000 {
		t.Errorf("external service container %s %v", ext.Image, ext.Ports)
	}
	media := &corev1.Service{}
	if err := get(t, media, ns, "clinic-videorehab-media"); err != nil || media.Spec.Ports[0].Protocol != corev1.ProtocolUDP {
		t.Errorf("media service: %v", err)
	}

	ing := &networkingv1.Ingress{}
	if err := get(t, ing, ns, "clinic"); err != nil {
		t.Fatal(err)
	}
	ownedBySite(t, ing, site)
	routes := map[string]string{}
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		routes[p.Path] = p.Backend.Service.Name
	}
	for path, svc := range map[string]string{
		"/api": "clinic-core", "/api/user/login": "clinic-login", "/.well-known": "clinic-login",
		"/api/user/users/online": "clinic-usermanager", "/wss": "clinic-websocket", "/file": "clinic-filetransfer",
		"/log": "clinic-logging", "/email": "clinic-email", "/rehab": "clinic-videorehab", "/exergames": "clinic-exergames",
	} {
		if routes[path] != svc {
			t.Errorf("ingress %s -> %q, want %s", path, routes[path], svc)
		}
	}
	if ing.Spec.Rules[0].Host != "tera.example.org" || ing.Spec.TLS[0].SecretName != "tera-tls" ||
		ing.Annotations["cert-manager.io/cluster-issuer"] != "letsencrypt" || *ing.Spec.IngressClassName != "nginx" ||
		ing.Annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"] == "" {
		t.Errorf("ingress: %+v %v", ing.Spec, ing.Annotations)
	}
	for _, o := range []client.Object{cm, keys, ca, job} {
		if err := get(t, o, ns, o.GetName()); err != nil {
			t.Fatal(err)
		}
		ownedBySite(t, o, site)
	}

	// Not ready until the Deployments are.
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionFalse, "RollingOut")
	wantCondition(t, ns, terav1.ConditionProgressing, metav1.ConditionTrue, "RollingOut")
	markDeploymentsReady(t, ns)
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionTrue, "Available")
	wantCondition(t, ns, terav1.ConditionProgressing, metav1.ConditionFalse, "Available")
	wantCondition(t, ns, terav1.ConditionDegraded, metav1.ConditionFalse, "")
	site = getSite(t, ns)
	if site.Status.Version != "1.0.0" || site.Status.MigratedImage != image || len(site.Status.Targets) != 9 {
		t.Errorf("status: %+v", site.Status)
	}

	// Reconciling a converged site writes nothing (no update loops with the API server's defaults).
	rvs := func() map[string]string {
		out := map[string]string{}
		for n, d := range deployments(t, ns) {
			out["deploy/"+n] = d.ResourceVersion
		}
		for _, o := range []client.Object{&corev1.ConfigMap{}, &networkingv1.Ingress{}, &corev1.Service{}} {
			name := map[string]string{"*v1.ConfigMap": "clinic-config", "*v1.Ingress": "clinic", "*v1.Service": "clinic-core"}[fmt.Sprintf("%T", o)]
			if err := get(t, o, ns, name); err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%T/%s", o, name)] = o.GetResourceVersion()
		}
		return out
	}
	before := rvs()
	updateSite(t, ns, func(s *terav1.TeraSite) {
		s.Annotations = map[string]string{"example.org/touch": "1"} // triggers a reconcile
	})
	time.Sleep(1500 * time.Millisecond)
	if after := rvs(); !reflect.DeepEqual(before, after) {
		t.Errorf("a no-op reconcile rewrote objects:\nbefore %v\nafter  %v", before, after)
	}

	// Deleting the site: everything it made carries its controller reference, so the
	// garbage collector removes it (envtest runs no GC; the references are what it follows).
	if err := k8s.Delete(ctx, site); err != nil {
		t.Fatal(err)
	}
	eventually(t, "site gone", func() error {
		if err := get(t, &terav1.TeraSite{}, ns, "clinic"); !apierrors.IsNotFound(err) {
			return fmt.Errorf("still there (%v)", err)
		}
		return nil
	})
}

func TestConfigChangeRollsPods(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	before := deployments(t, ns)["clinic-login"].Spec.Template.Annotations[builder.AnnotationConfigHash]
	keysBefore := &corev1.Secret{}
	if err := get(t, keysBefore, ns, "clinic-signing-keys"); err != nil {
		t.Fatal(err)
	}

	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Log.Level = "debug" })
	eventually(t, "new config hash", func() error {
		cm := &corev1.ConfigMap{}
		if err := get(t, cm, ns, "clinic-config"); err != nil {
			return err
		}
		if !strings.Contains(cm.Data["tera.yaml"], "level: debug") {
			return errors.New("configmap not updated")
		}
		for name, d := range deployments(t, ns) {
			if name == "clinic-exergames" {
				continue
			}
			h := d.Spec.Template.Annotations[builder.AnnotationConfigHash]
			if h == before || h != builder.HashData(cm.Data) {
				return fmt.Errorf("%s: hash %s (before %s)", name, h, before)
			}
		}
		return nil
	})
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionFalse, "RollingOut")
	keysAfter := &corev1.Secret{}
	if err := get(t, keysAfter, ns, "clinic-signing-keys"); err != nil {
		t.Fatal(err)
	}
	if keysAfter.ResourceVersion != keysBefore.ResourceVersion {
		t.Error("signing keys were rewritten")
	}
}

func TestNewVersionMigratesBeforeRollout(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	generations := map[string]int64{}
	for n, d := range deployments(t, ns) {
		generations[n] = d.Generation
	}
	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Version = "1.1.0" })
	job := migrationJob(t, ns, "registry.example/tera:1.1.0")
	wantCondition(t, ns, terav1.ConditionMigrating, metav1.ConditionTrue, "Migrating")
	wantCondition(t, ns, terav1.ConditionProgressing, metav1.ConditionTrue, "Migrating")
	// Give the reconciler a chance to do the wrong thing.
	time.Sleep(time.Second)
	for name, d := range deployments(t, ns) {
		if img := d.Spec.Template.Spec.Containers[0].Image; name != "clinic-exergames" && img != "registry.example/tera:1.0.0" {
			t.Fatalf("%s moved to %s before migrations ran", name, img)
		}
		if d.Generation != generations[name] {
			t.Errorf("%s was changed (generation %d -> %d) before migrations ran", name, generations[name], d.Generation)
		}
	}
	finishJob(t, job, true)
	eventually(t, "rollout to 1.1.0", func() error {
		for name, d := range deployments(t, ns) {
			if img := d.Spec.Template.Spec.Containers[0].Image; name != "clinic-exergames" && img != "registry.example/tera:1.1.0" {
				return fmt.Errorf("%s still on %s", name, img)
			}
		}
		return nil
	})
	markDeploymentsReady(t, ns)
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionTrue, "Available")
	if v := getSite(t, ns).Status.Version; v != "1.1.0" {
		t.Errorf("status.version %s", v)
	}
	// The old Job is cleaned up.
	eventually(t, "old job deleted", func() error {
		old := &batchv1.Job{}
		err := get(t, old, ns, builder.MigrationJobName(getSite(t, ns), "registry.example/tera:1.0.0"))
		if err == nil && old.DeletionTimestamp.IsZero() {
			return errors.New("old job still there")
		}
		return nil
	})
}

func TestFailedMigrationDegrades(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Version = "2.0.0" })
	finishJob(t, migrationJob(t, ns, "registry.example/tera:2.0.0"), false)
	wantCondition(t, ns, terav1.ConditionMigrating, metav1.ConditionFalse, "MigrationFailed")
	wantCondition(t, ns, terav1.ConditionDegraded, metav1.ConditionTrue, "MigrationFailed")
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionFalse, "MigrationFailed")
	s := getSite(t, ns)
	if msg := condition(s, terav1.ConditionMigrating).Message; !strings.Contains(msg, "BackoffLimitExceeded") {
		t.Errorf("Migrating message %q lacks the Job's reason", msg)
	}
	for name, d := range deployments(t, ns) {
		if img := d.Spec.Template.Spec.Containers[0].Image; name != "clinic-exergames" && img != "registry.example/tera:1.0.0" {
			t.Errorf("%s runs %s after a failed migration", name, img)
		}
	}
	eventually(t, "warning event", func() error {
		var evs eventsv1.EventList
		if err := k8s.List(context.Background(), &evs, client.InNamespace(ns)); err != nil {
			return err
		}
		for _, e := range evs.Items {
			if e.Reason == "MigrationFailed" && e.Type == corev1.EventTypeWarning && e.Regarding.Name == "clinic" {
				return nil
			}
		}
		return fmt.Errorf("no MigrationFailed event among %d", len(evs.Items))
	})
}

func TestDisablingTargetsDeletesTheirObjects(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	updateSite(t, ns, func(s *terav1.TeraSite) {
		s.Spec.Targets.VideoRehab.Enabled = ptr.To(false)
		s.Spec.Targets.Core.Autoscaling = nil
		s.Spec.ExternalServices = nil
	})
	gone := func(obj client.Object, name string) error {
		err := get(t, obj, ns, name)
		if apierrors.IsNotFound(err) || (err == nil && !obj.GetDeletionTimestamp().IsZero()) {
			return nil
		}
		return fmt.Errorf("%T %s still exists (%v)", obj, name, err)
	}
	eventually(t, "objects removed", func() error {
		return errors.Join(
			gone(&appsv1.Deployment{}, "clinic-videorehab"),
			gone(&corev1.Service{}, "clinic-videorehab"),
			gone(&corev1.Service{}, "clinic-videorehab-media"),
			gone(&policyv1.PodDisruptionBudget{}, "clinic-videorehab"),
			gone(&appsv1.Deployment{}, "clinic-exergames"),
			gone(&corev1.Service{}, "clinic-exergames"),
			gone(&autoscalingv2.HorizontalPodAutoscaler{}, "clinic-core"),
		)
	})
	cm := &corev1.ConfigMap{}
	if err := get(t, cm, ns, "clinic-config"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(cm.Data["tera.yaml"], "clinic-videorehab:9090") {
		t.Error("disabled videorehab still listed in peers")
	}
	ing := &networkingv1.Ingress{}
	if err := get(t, ing, ns, "clinic"); err != nil {
		t.Fatal(err)
	}
	for _, p := range ing.Spec.Rules[0].HTTP.Paths {
		if p.Path == "/rehab" || p.Path == "/exergames" {
			t.Errorf("ingress still routes %s", p.Path)
		}
	}
	// The core Deployment is kept and now has fixed replicas.
	if d := deployments(t, ns)["clinic-core"]; d.Name == "" {
		t.Error("core deployment deleted")
	}
}

func TestStalledDeploymentDegrades(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	d := &appsv1.Deployment{}
	eventually(t, "stall login", func() error {
		if err := get(t, d, ns, "clinic-login"); err != nil {
			return err
		}
		d.Status.Conditions = []appsv1.DeploymentCondition{{
			Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded",
			Message: "ReplicaSet has timed out progressing", LastUpdateTime: metav1.Now(), LastTransitionTime: metav1.Now(),
		}}
		return k8s.Status().Update(context.Background(), d)
	})
	wantCondition(t, ns, terav1.ConditionDegraded, metav1.ConditionTrue, "DeploymentFailed")
	wantCondition(t, ns, terav1.ConditionReady, metav1.ConditionFalse, "DeploymentFailed")
	if c := condition(getSite(t, ns), terav1.ConditionDegraded); !strings.Contains(c.Message, "login") {
		t.Errorf("Degraded message %q does not name the target", c.Message)
	}
}

func TestPausedSiteIsLeftAlone(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	cm := &corev1.ConfigMap{}
	if err := get(t, cm, ns, "clinic-config"); err != nil {
		t.Fatal(err)
	}
	updateSite(t, ns, func(s *terav1.TeraSite) {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		s.Annotations[terav1.PausedAnnotation] = "true"
	})
	time.Sleep(500 * time.Millisecond)
	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Log.Level = "error" })
	time.Sleep(2 * time.Second)
	after := &corev1.ConfigMap{}
	if err := get(t, after, ns, "clinic-config"); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != cm.ResourceVersion {
		t.Fatal("paused site was reconciled")
	}
	updateSite(t, ns, func(s *terav1.TeraSite) { delete(s.Annotations, terav1.PausedAnnotation) })
	eventually(t, "resumed", func() error {
		if err := get(t, after, ns, "clinic-config"); err != nil {
			return err
		}
		if !strings.Contains(after.Data["tera.yaml"], "level: error") {
			return errors.New("not reconciled after unpausing")
		}
		return nil
	})
}

func TestInvalidSpecsRefused(t *testing.T) {
	needEnvtest(t)
	ns := newNamespace(t)
	cases := map[string]struct {
		mutate func(*terav1.TeraSite)
		want   string
	}{
		"min > max replicas": {func(s *terav1.TeraSite) {
			s.Spec.Targets.Login.Autoscaling = &terav1.AutoscalingSpec{MinReplicas: 4, MaxReplicas: 2}
		}, "minReplicas must be less than or equal to maxReplicas"},
		"min > max in defaults": {func(s *terav1.TeraSite) {
			s.Spec.Defaults.Autoscaling = &terav1.AutoscalingSpec{MinReplicas: 3, MaxReplicas: 1}
		}, "minReplicas must be less than or equal to maxReplicas"},
		"reserved external name": {func(s *terav1.TeraSite) {
			s.Spec.ExternalServices[0].Name = "core"
		}, "name is reserved"},
		"duplicate service key": {func(s *terav1.TeraSite) {
			e := s.Spec.ExternalServices[0]
			e.Name = "other"
			s.Spec.ExternalServices = append(s.Spec.ExternalServices, e)
		}, "serviceKey values must be unique"},
		"both issuers": {func(s *terav1.TeraSite) {
			s.Spec.Ingress.TLS.Issuer = "local"
		}, "at most one of tls.issuer and tls.clusterIssuer"},
		"no version": {func(s *terav1.TeraSite) { s.Spec.Version = "" }, "spec.version"},
		"bad host":   {func(s *terav1.TeraSite) { s.Spec.Ingress.Host = "Not A Host" }, "spec.ingress.host"},
		"udp port":   {func(s *terav1.TeraSite) { s.Spec.VideoRehab.UDPPort = 80 }, "spec.videoRehab.udpPort"},
		"bad path": {func(s *terav1.TeraSite) {
			s.Spec.ExternalServices[0].Paths = []string{"nope"}
		}, "paths"},
		"nats scheme": {func(s *terav1.TeraSite) { s.Spec.NATS.URL = "http://nats" }, "spec.nats.url"},
		"site name too long": {func(s *terav1.TeraSite) {
			s.Name = strings.Repeat("a", 41)
		}, "at most 40 characters"},
		"external name too long": {func(s *terav1.TeraSite) {
			s.Spec.ExternalServices[0].Name = strings.Repeat("e", 23)
		}, "externalServices[0].name"},
		"replicas and autoscaling": {func(s *terav1.TeraSite) {
			s.Spec.Targets.Core.Replicas = ptr.To[int32](2)
		}, "set either replicas or autoscaling, not both"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			s := baseSite(ns)
			tc.mutate(s)
			err := k8s.Create(context.Background(), s)
			if err == nil {
				_ = k8s.Delete(context.Background(), s)
				t.Fatal("accepted")
			}
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want Invalid mentioning %q", err, tc.want)
			}
		})
	}
	// Defaults are filled in by the schema.
	s := baseSite(ns)
	s.Spec.Image = terav1.ImageSpec{}
	if err := k8s.Create(context.Background(), s); err != nil {
		t.Fatal(err)
	}
	if s.Spec.Image.Repository != "ghcr.io/tera-health/tera" || s.Spec.Log.Level != "info" ||
		s.Spec.Image.PullPolicy != corev1.PullIfNotPresent || *s.Spec.Migration.BackoffLimit != 3 {
		t.Errorf("defaults not applied: %+v", s.Spec)
	}

	// A minimal manifest (no image, log, migration… blocks) gets every default too.
	u := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "tera.health/v1alpha1", "kind": "TeraSite",
		"metadata": map[string]any{"name": "minimal", "namespace": ns},
		"spec": map[string]any{
			"version":  "1.0.0",
			"database": map[string]any{"dsnSecretRef": map[string]any{"name": "pg"}},
			"nats":     map[string]any{"url": "nats://nats:4222"},
			"ingress":  map[string]any{"host": "tera.local"},
		},
	}}
	if err := k8s.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	m := &terav1.TeraSite{}
	if err := get(t, m, ns, "minimal"); err != nil {
		t.Fatal(err)
	}
	if m.Spec.Image.Repository != "ghcr.io/tera-health/tera" || m.Spec.Log.Format != "json" || m.Spec.VideoRehab.UDPPort != 10000 ||
		*m.Spec.Migration.ActiveDeadlineSeconds != 600 || !*m.Spec.Monitoring.ServiceMonitor || !*m.Spec.Ingress.Enabled {
		t.Errorf("defaults of a minimal site: %+v", m.Spec)
	}
}
