package server

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/apierr"
	"github.com/tera-health/tera/pkg/authn"
)

// Infrastructure services carry no access option: health and reflection are open, as every
// Kubernetes probe and grpcurl expects.
var openServices = []string{"grpc.health.v1.Health", "grpc.reflection.v1.ServerReflection", "grpc.reflection.v1alpha.ServerReflection"}

// accessTable maps a full method name (/pkg.Service/Method) to its declared access.
type accessTable map[string]*optionsv1.Access

// buildAccessTable reads the tera.options.v1.access option of every registered method. A
// method without one is an error: it would otherwise be served with no rule at all.
func buildAccessTable(s *grpc.Server) (accessTable, error) {
	table := accessTable{}
	var missing []string
	for svc, info := range s.GetServiceInfo() {
		if slices.Contains(openServices, svc) {
			continue
		}
		// No descriptor means no options could have been declared.
		d, _ := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
		sd, _ := d.(protoreflect.ServiceDescriptor)
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			if sd == nil {
				missing = append(missing, full)
				continue
			}
			md := sd.Methods().ByName(protoreflect.Name(m.Name))
			if md == nil {
				missing = append(missing, full)
				continue
			}
			opts := md.Options()
			if opts == nil || !proto.HasExtension(opts, optionsv1.E_Access) {
				missing = append(missing, full)
				continue
			}
			table[full] = proto.GetExtension(opts, optionsv1.E_Access).(*optionsv1.Access)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("methods without a (tera.options.v1.access) option cannot be served: %s", strings.Join(missing, ", "))
	}
	return table, nil
}

func isOpenMethod(fullMethod string) bool {
	for _, s := range openServices {
		if strings.HasPrefix(fullMethod, "/"+s+"/") {
			return true
		}
	}
	return false
}

// authorize authenticates the caller of a non-public method and checks the declared rule. The
// context it returns is never nil, with or without an error. The
// data-dependent part (which site or project) stays with the handler and the SQL access rules.
func (t accessTable) authorize(ctx context.Context, auth authn.Authenticator, fullMethod string) (context.Context, error) {
	if isOpenMethod(fullMethod) {
		return ctx, nil
	}
	rule, ok := t[fullMethod]
	if !ok {
		// Unreachable for registered methods; an unknown method is answered by gRPC itself.
		return ctx, apierr.Forbidden("method has no access rule")
	}
	if rule.GetPublic() {
		return ctx, nil
	}
	if auth == nil {
		return ctx, apierr.Unauthenticated("Unauthorized")
	}
	caller, err := auth.Authenticate(ctx)
	if err != nil {
		if apierr.IsStatus(err) {
			return ctx, err
		}
		return ctx, apierr.Unauthenticated("Unauthorized")
	}
	if caller == nil {
		return ctx, apierr.Unauthenticated("Unauthorized")
	}
	if !slices.Contains(rule.GetPrincipals(), caller.Kind) {
		// A credential of the wrong kind (a participant token on /api/user/…) does not
		// authenticate on this surface at all: OpenTera answers 401 there, not 403.
		return ctx, apierr.Unauthenticated("Unauthorized")
	}
	// From here the caller is known: the context carries it even with a refusal, for the
	// access log.
	if rule.GetParticipantFull() && caller.Kind == authn.KindParticipant && !caller.Full {
		return authn.WithCaller(ctx, caller), apierr.Forbidden("Forbidden")
	}
	if rule.GetSuperadmin() && caller.Kind == authn.KindUser && !caller.Superadmin {
		return authn.WithCaller(ctx, caller), apierr.Forbidden("Forbidden")
	}
	return authn.WithCaller(ctx, caller), nil
}
