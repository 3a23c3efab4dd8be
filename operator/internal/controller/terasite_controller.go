// Package controller reconciles TeraSite objects into the Tera fleet.
package controller

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	ctrl "sigs.k8s.io/controller-runtime"
	ctrlbuilder "sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/operator/internal/builder"
)

// Reasons used in conditions and Events.
const (
	ReasonReconciled        = "Reconciled"
	ReasonReconcileError    = "ReconcileError"
	ReasonMigrating         = "Migrating"
	ReasonMigrationFailed   = "MigrationFailed"
	ReasonMigrationSucceded = "MigrationSucceeded"
	ReasonRollingOut        = "RollingOut"
	ReasonDeploymentFailed  = "DeploymentFailed"
	ReasonAvailable         = "Available"
	ReasonWaitingMigration  = "WaitingForMigration"
)

// ServiceMonitorGVK is the Prometheus Operator kind created when its CRD exists.
var ServiceMonitorGVK = schema.GroupVersionKind{Group: "monitoring.coreos.com", Version: "v1", Kind: "ServiceMonitor"}

// TeraSiteReconciler reconciles a TeraSite.
type TeraSiteReconciler struct {
	client.Client
	Scheme   *runtime.Scheme
	Recorder recorder.EventRecorder
	// Now is the clock (tests may fix it).
	Now func() time.Time
}

// +kubebuilder:rbac:groups=tera.health,resources=terasites,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=tera.health,resources=terasites/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=tera.health,resources=terasites/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=configmaps;secrets;services,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=networking.k8s.io,resources=ingresses,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=monitoring.coreos.com,resources=servicemonitors,verbs=get;list;watch;create;update;patch;delete

// SetupWithManager registers the controller and the kinds it owns.
func (r *TeraSiteReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&terav1.TeraSite{}, ctrlbuilder.WithPredicates(predicate.Or(
			predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&corev1.ConfigMap{}).
		Owns(&corev1.Secret{}).
		Owns(&corev1.Service{}).
		Owns(&appsv1.Deployment{}).
		Owns(&batchv1.Job{}).
		Owns(&policyv1.PodDisruptionBudget{}).
		Owns(&autoscalingv2.HorizontalPodAutoscaler{}).
		Owns(&networkingv1.Ingress{}).
		Named("terasite").
		Complete(r)
}

// IsPaused says whether the site carries tera.health/paused=true.
func IsPaused(site *terav1.TeraSite) bool {
	return strings.EqualFold(site.GetAnnotations()[terav1.PausedAnnotation], "true")
}

// Reconcile moves the fleet of one site toward its spec and reports status.
func (r *TeraSiteReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	logger := log.FromContext(ctx)
	site := &terav1.TeraSite{}
	if err := r.Get(ctx, req.NamespacedName, site); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !site.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // owned objects go with it (owner references)
	}
	if IsPaused(site) {
		logger.Info("reconciling paused by annotation", "annotation", terav1.PausedAnnotation)
		return ctrl.Result{}, nil
	}

	before := site.DeepCopy()
	result, err := r.reconcile(ctx, site)
	if err != nil {
		r.event(site, corev1.EventTypeWarning, ReasonReconcileError, "Reconcile", err.Error())
		r.setCondition(site, terav1.ConditionDegraded, metav1.ConditionTrue, ReasonReconcileError, err.Error())
		r.setCondition(site, terav1.ConditionReady, metav1.ConditionFalse, ReasonReconcileError, err.Error())
	}
	site.Status.ObservedGeneration = site.Generation
	if !equality.Semantic.DeepEqual(before.Status, site.Status) {
		if perr := r.Status().Patch(ctx, site, client.MergeFrom(before)); perr != nil {
			return result, errors.Join(err, perr)
		}
	}
	return result, err
}

type siteState struct {
	image        string
	configHash   string
	rolloutImage string // image Deployments of built-in targets may run
	migration    string // "", "running", "failed", "done"
	migrationMsg string
}

func (r *TeraSiteReconciler) reconcile(ctx context.Context, site *terav1.TeraSite) (ctrl.Result, error) {
	st := &siteState{image: builder.Image(site)}

	if err := r.ensureSecrets(ctx, site); err != nil {
		return ctrl.Result{}, err
	}
	// ConfigMap first: every pod template carries its hash.
	cm, hash, err := builder.ConfigMap(site)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.applyConfigMap(ctx, site, cm); err != nil {
		return ctrl.Result{}, err
	}
	st.configHash = hash
	site.Status.ConfigHash = hash
	site.Status.URL = builder.PublicURL(site)

	if err := r.reconcileMigration(ctx, site, st); err != nil {
		return ctrl.Result{}, err
	}

	desired := map[string]map[string]bool{} // kind -> names to keep
	keep := func(kind, name string) {
		if desired[kind] == nil {
			desired[kind] = map[string]bool{}
		}
		desired[kind][name] = true
	}
	smAvailable := r.serviceMonitorAvailable()
	wantSM := site.Spec.Monitoring.ServiceMonitor == nil || *site.Spec.Monitoring.ServiceMonitor

	var statuses []terav1.TargetStatus
	for _, w := range builder.EnabledWorkloads(site) {
		svc := builder.Service(site, w)
		if err := r.applyService(ctx, site, svc); err != nil {
			return ctrl.Result{}, err
		}
		keep("Service", svc.Name)
		if w.Name == terav1.TargetVideoRehab && !w.IsExternal() {
			media := builder.MediaService(site)
			if err := r.applyService(ctx, site, media); err != nil {
				return ctrl.Result{}, err
			}
			keep("Service", media.Name)
		}
		pdb := builder.PodDisruptionBudget(site, w)
		if err := r.applyPDB(ctx, site, pdb); err != nil {
			return ctrl.Result{}, err
		}
		keep("PodDisruptionBudget", pdb.Name)
		if hpa := builder.HorizontalPodAutoscaler(site, w); hpa != nil {
			if err := r.applyHPA(ctx, site, hpa); err != nil {
				return ctrl.Result{}, err
			}
			keep("HorizontalPodAutoscaler", hpa.Name)
		}
		if smAvailable && wantSM {
			sm := builder.ServiceMonitor(site, w)
			if err := r.applyUnstructured(ctx, site, sm); err != nil {
				return ctrl.Result{}, err
			}
			keep("ServiceMonitor", sm.GetName())
		}

		image := st.rolloutImage
		if w.IsExternal() {
			image = w.External.Image
		}
		name := builder.ObjectName(site, w.Name)
		if image == "" {
			// First install: no Deployment before the schema exists.
			statuses = append(statuses, terav1.TargetStatus{Name: w.Name, Replicas: w.Replicas()})
			// keep a (not yet created) Deployment name so nothing is deleted by accident
			keep("Deployment", name)
			continue
		}
		d := builder.Deployment(site, w, image, st.configHash)
		live, err := r.applyDeployment(ctx, site, d, w.Spec.Autoscaling != nil)
		if err != nil {
			return ctrl.Result{}, err
		}
		keep("Deployment", d.Name)
		ts := terav1.TargetStatus{Name: w.Name, Image: image, ReadyReplicas: live.Status.ReadyReplicas}
		if live.Spec.Replicas != nil {
			ts.Replicas = *live.Spec.Replicas
		}
		statuses = append(statuses, ts)
	}
	sort.Slice(statuses, func(i, j int) bool { return statuses[i].Name < statuses[j].Name })
	site.Status.Targets = statuses

	if ing := builder.Ingress(site); ing != nil {
		if err := r.applyIngress(ctx, site, ing); err != nil {
			return ctrl.Result{}, err
		}
		keep("Ingress", ing.Name)
	}

	if err := r.prune(ctx, site, desired, smAvailable); err != nil {
		return ctrl.Result{}, err
	}
	return r.updateConditions(ctx, site, st)
}

func (r *TeraSiteReconciler) event(site *terav1.TeraSite, typ, reason, action, note string) {
	if r.Recorder == nil {
		return
	}
	r.Recorder.Eventf(site, nil, typ, reason, action, "%s", note)
}

func (r *TeraSiteReconciler) setCondition(site *terav1.TeraSite, typ string, status metav1.ConditionStatus, reason, msg string) {
	if len(msg) > 1024 {
		msg = msg[:1024]
	}
	meta.SetStatusCondition(&site.Status.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: site.Generation,
	})
}

// ensureSecrets creates the signing keys, the device CA and each external service's client
// credentials once; existing Secrets are never
// touched (rotating them is an explicit operation, not a reconcile side effect).
func (r *TeraSiteReconciler) ensureSecrets(ctx context.Context, site *terav1.TeraSite) error {
	gens := []struct {
		name string
		gen  func() (*corev1.Secret, error)
	}{
		{builder.SigningKeysName(site), func() (*corev1.Secret, error) { return builder.SigningKeysSecret(site, r.Now()) }},
		{builder.DeviceCAName(site), func() (*corev1.Secret, error) { return builder.DeviceCASecret(site, r.Now()) }},
	}
	for _, w := range builder.EnabledWorkloads(site) {
		if w.IsExternal() {
			e := *w.External
			gens = append(gens, struct {
				name string
				gen  func() (*corev1.Secret, error)
			}{builder.ServiceCredentialsName(site, e.Name), func() (*corev1.Secret, error) { return builder.ServiceCredentialsSecret(site, e) }})
		}
	}
	for _, g := range gens {
		err := r.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: g.name}, &corev1.Secret{})
		if err == nil {
			continue
		}
		if !apierrors.IsNotFound(err) {
			return err
		}
		s, err := g.gen()
		if err != nil {
			return fmt.Errorf("generate secret %s: %w", g.name, err)
		}
		if err := controllerutil.SetControllerReference(site, s, r.Scheme); err != nil {
			return err
		}
		if err := r.Create(ctx, s); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create secret %s: %w", g.name, err)
		}
		r.event(site, corev1.EventTypeNormal, "SecretGenerated", "Create", "generated Secret "+g.name)
	}
	return nil
}

// reconcileMigration runs `tera migrate` for a new image and decides which image built-in
// Deployments may run: the new one only after its Job succeeded.
func (r *TeraSiteReconciler) reconcileMigration(ctx context.Context, site *terav1.TeraSite, st *siteState) error {
	st.rolloutImage = site.Status.MigratedImage
	if site.Status.MigratedImage == st.image {
		st.migration = "done"
		r.setCondition(site, terav1.ConditionMigrating, metav1.ConditionFalse, ReasonMigrationSucceded,
			"migrations for "+site.Spec.Version+" applied")
		// Idempotent: also cleans up when the reconcile that saw the Job succeed was cut short.
		return r.deleteOldJobs(ctx, site, builder.MigrationJobName(site, st.image))
	}
	job := builder.MigrationJob(site, st.image, st.configHash)
	live := &batchv1.Job{}
	err := r.Get(ctx, client.ObjectKeyFromObject(job), live)
	switch {
	case apierrors.IsNotFound(err):
		if err := controllerutil.SetControllerReference(site, job, r.Scheme); err != nil {
			return err
		}
		if err := r.Create(ctx, job); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create migration job: %w", err)
		} else if err == nil {
			r.event(site, corev1.EventTypeNormal, "MigrationStarted", "Migrate", "started Job "+job.Name+" for "+st.image)
		}
		live = job
	case err != nil:
		return err
	}
	switch {
	case jobCondition(live, batchv1.JobComplete):
		st.migration = "done"
		site.Status.MigratedImage = st.image
		st.rolloutImage = st.image
		r.setCondition(site, terav1.ConditionMigrating, metav1.ConditionFalse, ReasonMigrationSucceded,
			"migrations for "+site.Spec.Version+" applied by Job "+live.Name)
		r.event(site, corev1.EventTypeNormal, ReasonMigrationSucceded, "Migrate", "Job "+live.Name+" succeeded")
		return r.deleteOldJobs(ctx, site, live.Name)
	case jobCondition(live, batchv1.JobFailed):
		st.migration = "failed"
		msg := "migration Job " + live.Name + " failed"
		if c := findJobCondition(live, batchv1.JobFailed); c != nil && c.Message != "" {
			msg += ": " + c.Reason + ": " + c.Message
		} else if c != nil && c.Reason != "" {
			msg += ": " + c.Reason
		}
		st.migrationMsg = msg
		if meta.FindStatusCondition(site.Status.Conditions, terav1.ConditionMigrating) == nil ||
			meta.FindStatusCondition(site.Status.Conditions, terav1.ConditionMigrating).Reason != ReasonMigrationFailed {
			r.event(site, corev1.EventTypeWarning, ReasonMigrationFailed, "Migrate", msg)
		}
		r.setCondition(site, terav1.ConditionMigrating, metav1.ConditionFalse, ReasonMigrationFailed, msg)
	default:
		st.migration = "running"
		r.setCondition(site, terav1.ConditionMigrating, metav1.ConditionTrue, ReasonMigrating,
			"Job "+live.Name+" is applying migrations for "+site.Spec.Version)
	}
	return nil
}

func findJobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func jobCondition(j *batchv1.Job, t batchv1.JobConditionType) bool {
	return findJobCondition(j, t) != nil
}

// deleteOldJobs removes finished migration Jobs of earlier images.
func (r *TeraSiteReconciler) deleteOldJobs(ctx context.Context, site *terav1.TeraSite, current string) error {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(site.Namespace), client.MatchingLabels{
		builder.LabelSite: site.Name, builder.LabelComponent: "migrate"}); err != nil {
		return err
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		if j.Name == current || !metav1.IsControlledBy(j, site) {
			continue
		}
		if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
	}
	return nil
}

// updateConditions derives Ready, Progressing and Degraded from the migration and the
// Deployments' own status.
func (r *TeraSiteReconciler) updateConditions(ctx context.Context, site *terav1.TeraSite, st *siteState) (ctrl.Result, error) {
	var rolling, failed []string
	for _, w := range builder.EnabledWorkloads(site) {
		d := &appsv1.Deployment{}
		err := r.Get(ctx, client.ObjectKey{Namespace: site.Namespace, Name: builder.ObjectName(site, w.Name)}, d)
		if apierrors.IsNotFound(err) {
			rolling = append(rolling, w.Name)
			continue
		}
		if err != nil {
			return ctrl.Result{}, err
		}
		switch deploymentState(d) {
		case "failed":
			failed = append(failed, w.Name)
		case "rolling":
			rolling = append(rolling, w.Name)
		}
	}
	switch {
	case st.migration == "failed":
		r.setCondition(site, terav1.ConditionDegraded, metav1.ConditionTrue, ReasonMigrationFailed, st.migrationMsg)
	case len(failed) > 0:
		r.setCondition(site, terav1.ConditionDegraded, metav1.ConditionTrue, ReasonDeploymentFailed,
			"Deployments not progressing: "+strings.Join(failed, ", "))
	default:
		r.setCondition(site, terav1.ConditionDegraded, metav1.ConditionFalse, ReasonReconciled, "no failure observed")
	}
	converged := st.migration == "done" && len(rolling) == 0 && len(failed) == 0
	switch {
	case st.migration == "failed":
		r.setCondition(site, terav1.ConditionProgressing, metav1.ConditionFalse, ReasonMigrationFailed, st.migrationMsg)
		r.setCondition(site, terav1.ConditionReady, metav1.ConditionFalse, ReasonMigrationFailed, st.migrationMsg)
	case st.migration == "running":
		r.setCondition(site, terav1.ConditionProgressing, metav1.ConditionTrue, ReasonMigrating, "applying migrations for "+site.Spec.Version)
		r.setCondition(site, terav1.ConditionReady, metav1.ConditionFalse, ReasonWaitingMigration, "waiting for migrations of "+site.Spec.Version)
	case len(failed) > 0:
		r.setCondition(site, terav1.ConditionProgressing, metav1.ConditionFalse, ReasonDeploymentFailed, "rollout stalled: "+strings.Join(failed, ", "))
		r.setCondition(site, terav1.ConditionReady, metav1.ConditionFalse, ReasonDeploymentFailed, "rollout stalled: "+strings.Join(failed, ", "))
	case !converged:
		r.setCondition(site, terav1.ConditionProgressing, metav1.ConditionTrue, ReasonRollingOut, "rolling out: "+strings.Join(rolling, ", "))
		r.setCondition(site, terav1.ConditionReady, metav1.ConditionFalse, ReasonRollingOut, "waiting for: "+strings.Join(rolling, ", "))
	default:
		r.setCondition(site, terav1.ConditionProgressing, metav1.ConditionFalse, ReasonAvailable, "every target runs "+site.Spec.Version)
		r.setCondition(site, terav1.ConditionReady, metav1.ConditionTrue, ReasonAvailable, "every target is available")
		site.Status.Version = site.Spec.Version
	}
	if st.migration == "running" || (!converged && st.migration != "failed") {
		// Owned-object watches drive progress; a slow requeue covers what no event announces.
		return ctrl.Result{RequeueAfter: 30 * time.Second}, nil
	}
	return ctrl.Result{}, nil
}

// deploymentState is "ready", "rolling" or "failed".
func deploymentState(d *appsv1.Deployment) string {
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			return "failed"
		}
		if c.Type == appsv1.DeploymentReplicaFailure && c.Status == corev1.ConditionTrue {
			return "failed"
		}
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	s := d.Status
	if s.ObservedGeneration < d.Generation || s.UpdatedReplicas < want || s.AvailableReplicas < want ||
		s.ReadyReplicas < want || s.Replicas > s.UpdatedReplicas {
		return "rolling"
	}
	return "ready"
}

// serviceMonitorAvailable asks discovery (through the REST mapper) whether the
// Prometheus Operator CRD is installed.
func (r *TeraSiteReconciler) serviceMonitorAvailable() bool {
	_, err := r.RESTMapper().RESTMapping(ServiceMonitorGVK.GroupKind(), ServiceMonitorGVK.Version)
	return err == nil
}

// prune deletes objects of the site that are no longer desired (disabled targets, removed
// external services, a disabled ingress).
func (r *TeraSiteReconciler) prune(ctx context.Context, site *terav1.TeraSite, desired map[string]map[string]bool, sm bool) error {
	lists := map[string]client.ObjectList{
		"Deployment":              &appsv1.DeploymentList{},
		"Service":                 &corev1.ServiceList{},
		"PodDisruptionBudget":     &policyv1.PodDisruptionBudgetList{},
		"HorizontalPodAutoscaler": &autoscalingv2.HorizontalPodAutoscalerList{},
		"Ingress":                 &networkingv1.IngressList{},
	}
	if sm {
		ul := &unstructured.UnstructuredList{}
		ul.SetGroupVersionKind(ServiceMonitorGVK.GroupVersion().WithKind("ServiceMonitorList"))
		lists["ServiceMonitor"] = ul
	}
	kinds := make([]string, 0, len(lists))
	for k := range lists {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, kind := range kinds {
		list := lists[kind]
		if err := r.List(ctx, list, client.InNamespace(site.Namespace), client.MatchingLabels{builder.LabelSite: site.Name}); err != nil {
			if meta.IsNoMatchError(err) {
				continue
			}
			return err
		}
		objs, err := meta.ExtractList(list)
		if err != nil {
			return err
		}
		for _, o := range objs {
			obj := o.(client.Object)
			if desired[kind][obj.GetName()] || !metav1.IsControlledBy(obj, site) {
				continue
			}
			if err := r.Delete(ctx, obj, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
				return fmt.Errorf("delete %s %s: %w", kind, obj.GetName(), err)
			}
			r.event(site, corev1.EventTypeNormal, "Deleted", "Delete", fmt.Sprintf("deleted %s %s (no longer in spec)", kind, obj.GetName()))
		}
	}
	return nil
}
