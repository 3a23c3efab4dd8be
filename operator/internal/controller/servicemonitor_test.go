package controller_test

import (
	"context"
	"fmt"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/operator/internal/controller"
)

// serviceMonitorCRD is a minimal stand-in for the Prometheus Operator CRD.
func serviceMonitorCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{
				Plural: "servicemonitors", Singular: "servicemonitor", Kind: "ServiceMonitor", ListKind: "ServiceMonitorList",
			},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: ptr.To(true),
				}},
			}},
		},
	}
}

// TestServiceMonitorOnlyWithItsCRD installs the CRD mid-test: the operator finds it through
// discovery without a restart. (No other test asserts the absence of ServiceMonitors.)
func TestServiceMonitorOnlyWithItsCRD(t *testing.T) {
	needEnvtest(t)
	ns := createReadySite(t, nil)
	sm := &unstructured.Unstructured{}
	sm.SetGroupVersionKind(controller.ServiceMonitorGVK)
	if err := get(t, sm, ns, "clinic-core"); err == nil || !(apierrors.IsNotFound(err) || isNoMatch(err)) {
		t.Fatalf("ServiceMonitor without its CRD: %v", err)
	}

	if _, err := envtest.InstallCRDs(cfg, envtest.CRDInstallOptions{CRDs: []*apiextensionsv1.CustomResourceDefinition{serviceMonitorCRD()}}); err != nil {
		t.Fatal(err)
	}
	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Log.Level = "warn" })
	eventually(t, "service monitors", func() error {
		for _, target := range terav1.BuiltinTargets {
			sm := &unstructured.Unstructured{}
			sm.SetGroupVersionKind(controller.ServiceMonitorGVK)
			if err := get(t, sm, ns, "clinic-"+target); err != nil {
				return fmt.Errorf("%s: %w", target, err)
			}
			eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
			if len(eps) != 1 || eps[0].(map[string]any)["path"] != "/metrics" || eps[0].(map[string]any)["port"] != "http" {
				return fmt.Errorf("%s endpoints %v", target, eps)
			}
		}
		return nil
	})
	// Opting out removes them.
	updateSite(t, ns, func(s *terav1.TeraSite) { s.Spec.Monitoring.ServiceMonitor = ptr.To(false) })
	eventually(t, "service monitors removed", func() error {
		var l unstructured.UnstructuredList
		l.SetGroupVersionKind(controller.ServiceMonitorGVK.GroupVersion().WithKind("ServiceMonitorList"))
		if err := k8s.List(context.Background(), &l, client.InNamespace(ns)); err != nil {
			return err
		}
		n := 0
		for _, i := range l.Items {
			if i.GetDeletionTimestamp() == nil {
				n++
			}
		}
		if n != 0 {
			return fmt.Errorf("%d left", n)
		}
		return nil
	})
}

func isNoMatch(err error) bool { return meta.IsNoMatchError(err) }
