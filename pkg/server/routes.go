package server

import (
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
)

// Route is a plain HTTP route, one that is not a gRPC binding (login flows and pages,
// websockets, downloads). It declares its access as every RPC does with
// (tera.options.v1.access), and the server refuses to start with a route that does not.
type Route struct {
	// Path is a net/http ServeMux path, without a method ("/api/user/login", "/wss/user").
	Path string
	// Methods maps each method served to its handler. GET serves HEAD too; any other method on
	// the path is answered 405, as Flask does.
	Methods map[string]http.HandlerFunc
	// Access is the declared rule. Public means the handler authenticates its callers itself
	// (a login flow, a register key, a websocket connect key). Otherwise the server
	// authenticates the caller and applies the rule first, as for an RPC; the handler reads the
	// caller with authn.FromContext.
	Access *optionsv1.Access
	// Credential, on a public route only, names the credential its handler checks that belongs
	// to no principal: the site's device registration key, a service's OAuth2 client secret.
	// Every other route on a principal kind's surface (/api/user/…, /api/participant/…,
	// /api/device/…, /api/service/…) authenticates that kind, public or not, and refuses every
	// other kind's credentials with OpenTera's 401; the security suite
	// (services/internal/accessmatrix) checks both, so a public route that authenticates nobody
	// must say so here.
	Credential string
	// MaxBodyBytes, when set, replaces the server's max_body_bytes for this route (file uploads:
	// OpenTera's proxy admits 500 MB on /file). The handler must stream the body.
	MaxBodyBytes int64
	// ForbiddenWithoutCredential answers a missing or refused credential 403 "Forbidden" (a JSON
	// string) instead of 401: OpenTera's services (service_or_others_token_required of
	// FileTransferService) answer so, where TeraServer's own API answers 401.
	ForbiddenWithoutCredential bool
}

// HTTPService is a Service that also serves plain HTTP routes.
type HTTPService interface {
	HTTPRoutes() []Route
}

// undeclaredRoutes is the shape of a service that would register handlers on a mux itself,
// past the route table.
type undeclaredRoutes interface {
	HTTPRoutes(mux *http.ServeMux)
}

// buildRouteTable collects the routes of every service. A route without a declared access or
// without a method, a path served twice, or a service registering handlers itself is an error:
// it would otherwise be served with no rule at all.
func buildRouteTable(services []Service) ([]Route, error) {
	var routes []Route
	var problems []string
	seen := map[string]string{}
	for _, svc := range services {
		if _, ok := svc.(undeclaredRoutes); ok {
			problems = append(problems, svc.Name()+" registers HTTP handlers itself (declare them: HTTPRoutes() []server.Route)")
			continue
		}
		h, ok := svc.(HTTPService)
		if !ok {
			continue
		}
		for _, rt := range h.HTTPRoutes() {
			switch {
			case rt.Access == nil:
				problems = append(problems, rt.Path+" ("+svc.Name()+") has no declared access")
				continue
			case rt.Access.GetPermission() != optionsv1.Permission_PERMISSION_UNSPECIFIED || rt.Access.GetScopeField() != "":
				// A plain route has no request message to read a scope from.
				problems = append(problems, rt.Path+" ("+svc.Name()+") declares a permission a plain route cannot have checked")
				continue
			case rt.Credential != "" && !rt.Access.GetPublic():
				// The server authenticates a principal on a non-public route before the handler
				// could read any credential of its own.
				problems = append(problems, rt.Path+" ("+svc.Name()+") declares a credential of its own but is not public")
				continue
			case len(rt.Methods) == 0:
				problems = append(problems, rt.Path+" ("+svc.Name()+") serves no method")
				continue
			case strings.ContainsAny(rt.Path, " \t") || !strings.HasPrefix(rt.Path, "/"):
				problems = append(problems, fmt.Sprintf("%q (%s) is not a path", rt.Path, svc.Name()))
				continue
			}
			if other, dup := seen[rt.Path]; dup {
				problems = append(problems, rt.Path+" is served by "+other+" and "+svc.Name())
				continue
			}
			seen[rt.Path] = svc.Name()
			routes = append(routes, rt)
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, fmt.Errorf("undeclared HTTP routes cannot be served: %s", strings.Join(problems, "; "))
	}
	return routes, nil
}

// allowed lists the methods of a route as the Allow header does.
func (rt Route) allowed() string {
	var m []string
	for k := range rt.Methods {
		m = append(m, k)
	}
	if rt.Methods[http.MethodGet] != nil && rt.Methods[http.MethodHead] == nil {
		m = append(m, http.MethodHead)
	}
	slices.Sort(m)
	return strings.Join(m, ", ")
}

// handler dispatches by method and enforces the declared access of non-public routes.
func (s *Server) routeHandler(rt Route) http.Handler {
	allow := rt.allowed()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := rt.Methods[r.Method]
		if h == nil {
			w.Header().Set("Allow", allow)
			writeMethodNotAllowed(w)
			return
		}
		if !rt.Access.GetPublic() {
			ctx, err := checkRule(requestMetadata(r).Context(), s.opts.Authenticator, rt.Access)
			NoteCaller(ctx, authn.FromContext(ctx))
			if err != nil {
				if rt.ForbiddenWithoutCredential && status.Code(err) == codes.Unauthenticated {
					err = apierr.Forbidden("Forbidden")
				}
				s.errorHandler(ctx, nil, nil, w, r, err)
				return
			}
			r = r.WithContext(ctx)
		}
		h(w, r)
	})
}

// requestMetadata gives a plain HTTP request the gRPC metadata the gateway would, so the
// process's Authenticator reads its credentials the same way.
func requestMetadata(r *http.Request) *http.Request {
	md := metadata.MD{}
	for k, vs := range r.Header {
		if forwardedHeaders[textproto.CanonicalMIMEHeaderKey(k)] {
			md.Set(strings.ToLower(k), vs...)
		}
	}
	if t := r.URL.Query().Get("token"); t != "" {
		md.Set(MDToken, t)
	}
	md.Set(MDRemoteAddr, r.RemoteAddr)
	return r.WithContext(metadata.NewIncomingContext(r.Context(), md))
}

// writeMethodNotAllowed is Flask-RESTX's 405 body.
func writeMethodNotAllowed(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write([]byte(`{"message": "The method is not allowed for the requested URL."}` + "\n"))
}
