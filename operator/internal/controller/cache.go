package controller

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tera-health/tera/operator/internal/builder"
)

// CacheOptions restricts the informers of owned kinds to objects the operator manages, so
// it never caches every Secret or Pod template of the cluster. namespace limits everything
// to one namespace when set.
func CacheOptions(namespace string) cache.Options {
	managed := labels.SelectorFromSet(labels.Set{builder.LabelManagedBy: builder.ManagedBy})
	by := cache.ByObject{Label: managed}
	opts := cache.Options{ByObject: map[client.Object]cache.ByObject{
		&corev1.Secret{}:                         by,
		&corev1.ConfigMap{}:                      by,
		&corev1.Service{}:                        by,
		&appsv1.Deployment{}:                     by,
		&batchv1.Job{}:                           by,
		&policyv1.PodDisruptionBudget{}:          by,
		&autoscalingv2.HorizontalPodAutoscaler{}: by,
		&networkingv1.Ingress{}:                  by,
	}}
	if namespace != "" {
		opts.DefaultNamespaces = map[string]cache.Config{namespace: {}}
	}
	return opts
}
