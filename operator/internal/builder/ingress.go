package builder

import (
	"sort"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	terav1 "github.com/tera-health/tera/operator/api/v1alpha1"
	"github.com/tera-health/tera/pkg/routing"
)

// WebsocketAnnotations keep long-lived /wss connections open on common controllers
// (ingress-nginx upgrades websockets by itself; it needs long timeouts).
var WebsocketAnnotations = map[string]string{
	"nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
	"nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
	"nginx.ingress.kubernetes.io/proxy-body-size":    "512m",
}

// Ingress renders the one Ingress of the site, or nil when it is disabled.
func Ingress(site *terav1.TeraSite) *networkingv1.Ingress {
	is := site.Spec.Ingress
	if is.Enabled != nil && !*is.Enabled {
		return nil
	}
	type route struct {
		path, backend string
		port          int32
	}
	var routes []route
	for _, w := range EnabledWorkloads(site) {
		if w.IsExternal() {
			for _, p := range w.External.Paths {
				routes = append(routes, route{p, ObjectName(site, w.Name), w.External.Port})
			}
			continue
		}
		// The paths each built-in target owns: pkg/routing's table, which the fleet's tests
		// check against the routes the targets really serve.
		for _, p := range routing.Prefixes[w.Name] {
			routes = append(routes, route{p, ObjectName(site, w.Name), HTTPPort})
		}
	}
	// Longest first (then by path) for a stable, readable object; controllers sort anyway.
	sort.SliceStable(routes, func(i, j int) bool {
		if len(routes[i].path) != len(routes[j].path) {
			return len(routes[i].path) > len(routes[j].path)
		}
		return routes[i].path < routes[j].path
	})
	seen := map[string]bool{}
	var paths []networkingv1.HTTPIngressPath
	for _, r := range routes {
		if seen[r.path] { // an external service may not steal a built-in path twice
			continue
		}
		seen[r.path] = true
		paths = append(paths, networkingv1.HTTPIngressPath{
			Path:     r.path,
			PathType: ptrPathType(networkingv1.PathTypePrefix),
			Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{
				Name: r.backend, Port: networkingv1.ServiceBackendPort{Number: r.port},
			}},
		})
	}
	ann := mergeMaps(WebsocketAnnotations, nil)
	if is.TLS != nil {
		if is.TLS.ClusterIssuer != "" {
			ann["cert-manager.io/cluster-issuer"] = is.TLS.ClusterIssuer
		}
		if is.TLS.Issuer != "" {
			ann["cert-manager.io/issuer"] = is.TLS.Issuer
		}
	}
	ann = mergeMaps(ann, is.Annotations)
	ing := &networkingv1.Ingress{
		ObjectMeta: metav1.ObjectMeta{Name: IngressName(site), Namespace: site.Namespace, Labels: ComponentLabels(site, "ingress"), Annotations: ann},
		Spec: networkingv1.IngressSpec{
			IngressClassName: is.ClassName,
			Rules: []networkingv1.IngressRule{{
				Host:             is.Host,
				IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: paths}},
			}},
		},
	}
	if is.TLS != nil {
		ing.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{is.Host}, SecretName: is.TLS.SecretName}}
	}
	return ing
}

func ptrPathType(p networkingv1.PathType) *networkingv1.PathType { return &p }

var _ = corev1.ServiceTypeClusterIP
