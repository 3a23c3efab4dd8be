package devmode

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"google.golang.org/grpc"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/fleet"
)

// serviceProxy does for tera dev what the operator's Ingress does for a cluster: the client
// endpoint of each external service (its service_clientendpoint) is routed to the service,
// on the same port as the rest of the site.
type serviceProxy struct{ routes []server.Route }

func newServiceProxy(services []fleet.ExternalService) (*serviceProxy, error) {
	p := &serviceProxy{}
	for _, s := range services {
		target, err := url.Parse(fmt.Sprintf("http://%s:%d", s.Hostname, s.Port))
		if err != nil {
			return nil, fmt.Errorf("external service %s: %w", s.Key, err)
		}
		h := httputil.NewSingleHostReverseProxy(target).ServeHTTP
		all := map[string]http.HandlerFunc{}
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			all[m] = h
		}
		// The service authenticates its own callers, as behind the ingress.
		p.routes = append(p.routes, server.Route{Path: strings.TrimSuffix(s.ClientEndpoint, "/") + "/", Methods: all,
			Access: &optionsv1.Access{Public: true}})
	}
	return p, nil
}

func (p *serviceProxy) Name() string               { return "external-service-proxy" }
func (p *serviceProxy) RegisterGRPC(*grpc.Server)  {}
func (p *serviceProxy) HTTPRoutes() []server.Route { return p.routes }
func (p *serviceProxy) RegisterGateway(context.Context, *runtime.ServeMux, *grpc.ClientConn) error {
	return nil
}
