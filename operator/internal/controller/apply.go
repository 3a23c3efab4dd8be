package controller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
)

// Each apply* creates the object or updates only the fields the operator owns, keeping
// what the API server or other controllers set (cluster IPs, node ports, HPA replicas).

func mergeLabels(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func (r *TeraSiteReconciler) createOrUpdate(ctx context.Context, site *terav1.TeraSite, obj client.Object, mutate func()) error {
	labels, annotations := obj.GetLabels(), obj.GetAnnotations()
	_, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		obj.SetLabels(mergeLabels(obj.GetLabels(), labels))
		if len(annotations) > 0 {
			obj.SetAnnotations(mergeLabels(obj.GetAnnotations(), annotations))
		}
		mutate()
		return controllerutil.SetControllerReference(site, obj, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("apply %T %s: %w", obj, obj.GetName(), err)
	}
	return nil
}

func (r *TeraSiteReconciler) applyConfigMap(ctx context.Context, site *terav1.TeraSite, want *corev1.ConfigMap) error {
	obj := &corev1.ConfigMap{ObjectMeta: *want.ObjectMeta.DeepCopy()}
	return r.createOrUpdate(ctx, site, obj, func() { obj.Data = want.Data; obj.BinaryData = nil })
}

func (r *TeraSiteReconciler) applyService(ctx context.Context, site *terav1.TeraSite, want *corev1.Service) error {
	obj := &corev1.Service{ObjectMeta: *want.ObjectMeta.DeepCopy()}
	return r.createOrUpdate(ctx, site, obj, func() {
		nodePorts := map[string]int32{}
		for _, p := range obj.Spec.Ports {
			nodePorts[p.Name] = p.NodePort
		}
		ports := append([]corev1.ServicePort(nil), want.Spec.Ports...)
		if want.Spec.Type != corev1.ServiceTypeClusterIP {
			for i := range ports {
				ports[i].NodePort = nodePorts[ports[i].Name]
			}
		}
		obj.Spec.Type = want.Spec.Type
		obj.Spec.Selector = want.Spec.Selector
		obj.Spec.Ports = ports
		obj.Spec.ExternalTrafficPolicy = want.Spec.ExternalTrafficPolicy
		if want.Spec.Type == corev1.ServiceTypeClusterIP {
			obj.Spec.ExternalTrafficPolicy = ""
		}
	})
}

func (r *TeraSiteReconciler) applyPDB(ctx context.Context, site *terav1.TeraSite, want *policyv1.PodDisruptionBudget) error {
	obj := &policyv1.PodDisruptionBudget{ObjectMeta: *want.ObjectMeta.DeepCopy()}
	return r.createOrUpdate(ctx, site, obj, func() { obj.Spec = want.Spec })
}

func (r *TeraSiteReconciler) applyHPA(ctx context.Context, site *terav1.TeraSite, want *autoscalingv2.HorizontalPodAutoscaler) error {
	obj := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: *want.ObjectMeta.DeepCopy()}
	return r.createOrUpdate(ctx, site, obj, func() {
		behavior := obj.Spec.Behavior
		obj.Spec = want.Spec
		if obj.Spec.Behavior == nil {
			obj.Spec.Behavior = behavior // keep server defaults
		}
	})
}

func (r *TeraSiteReconciler) applyIngress(ctx context.Context, site *terav1.TeraSite, want *networkingv1.Ingress) error {
	obj := &networkingv1.Ingress{ObjectMeta: *want.ObjectMeta.DeepCopy()}
	return r.createOrUpdate(ctx, site, obj, func() { obj.Spec = want.Spec })
}

func (r *TeraSiteReconciler) applyUnstructured(ctx context.Context, site *terav1.TeraSite, want *unstructured.Unstructured) error {
	obj := &unstructured.Unstructured{}
	obj.SetGroupVersionKind(want.GroupVersionKind())
	obj.SetName(want.GetName())
	obj.SetNamespace(want.GetNamespace())
	obj.SetLabels(want.GetLabels())
	return r.createOrUpdate(ctx, site, obj, func() { obj.Object["spec"] = want.Object["spec"] })
}

// applyDeployment keeps the selector (immutable) and, under an HPA, the replica count.
func (r *TeraSiteReconciler) applyDeployment(ctx context.Context, site *terav1.TeraSite, want *appsv1.Deployment, autoscaled bool) (*appsv1.Deployment, error) {
	obj := &appsv1.Deployment{ObjectMeta: *want.ObjectMeta.DeepCopy()}
	err := r.createOrUpdate(ctx, site, obj, func() {
		if obj.CreationTimestamp.IsZero() {
			obj.Spec.Selector = want.Spec.Selector
		}
		switch {
		case !autoscaled:
			obj.Spec.Replicas = want.Spec.Replicas
		case obj.Spec.Replicas == nil:
			obj.Spec.Replicas = want.Spec.Replicas
		}
		obj.Spec.Strategy = want.Spec.Strategy
		obj.Spec.RevisionHistoryLimit = want.Spec.RevisionHistoryLimit
		obj.Spec.Template = want.Spec.Template
	})
	return obj, err
}
