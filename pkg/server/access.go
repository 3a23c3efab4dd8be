package server

import (
	"context"
	"errors"
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

// PermissionChecker decides declared, data-dependent permissions (Zitadel's
// checkUserPermissions): whether the caller holds perm on the object of kind obj with this id. A
// Service whose methods declare a scope_field implements it; the server calls it for every
// request with a non-zero scope value, before the handler, so a handler never repeats the check.
type PermissionChecker interface {
	HasPermission(ctx context.Context, c *authn.Caller, perm optionsv1.Permission, obj optionsv1.Object, id int64) (bool, error)
}

// methodRule is a method's declared access, with its scope resolved at start.
type methodRule struct {
	*optionsv1.Access
	// scope is the path of fields to the scoped id (nil: no data-dependent check).
	scope   []protoreflect.FieldDescriptor
	checker PermissionChecker
}

// accessTable maps a full method name (/pkg.Service/Method) to its declared access.
type accessTable map[string]methodRule

// buildAccessTable reads the tera.options.v1.access option of every registered method. A
// method without one is an error: it would otherwise be served with no rule at all; so is a
// scope_field that names no integer field of the request, or whose service cannot check it.
// checkers gives the PermissionChecker of each gRPC service name (nil when none).
func buildAccessTable(s *grpc.Server, checkers map[string]PermissionChecker) (accessTable, error) {
	table := accessTable{}
	var missing, bad []string
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
			rule := methodRule{Access: proto.GetExtension(opts, optionsv1.E_Access).(*optionsv1.Access)}
			if rule.GetScopeField() != "" {
				var err error
				if rule.scope, err = scopePath(md, rule.Access); err == nil && checkers[svc] == nil {
					err = errors.New("its service implements no server.PermissionChecker")
				}
				if err != nil {
					bad = append(bad, full+": "+err.Error())
				}
				rule.checker = checkers[svc]
			}
			table[full] = rule
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("methods without a (tera.options.v1.access) option cannot be served: %s", strings.Join(missing, ", "))
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return nil, fmt.Errorf("methods with a scope that cannot be checked cannot be served: %s", strings.Join(bad, "; "))
	}
	return table, nil
}

// scopePath resolves a rule's scope_field against the method's request message.
func scopePath(md protoreflect.MethodDescriptor, a *optionsv1.Access) ([]protoreflect.FieldDescriptor, error) {
	if md.IsStreamingClient() || md.IsStreamingServer() {
		return nil, errors.New("scope_field on a streaming method")
	}
	if a.GetPermission() == optionsv1.Permission_PERMISSION_UNSPECIFIED || a.GetScopeObject() == optionsv1.Object_OBJECT_UNSPECIFIED {
		return nil, errors.New("scope_field needs a permission and a scope_object")
	}
	msg := md.Input()
	var path []protoreflect.FieldDescriptor
	for i, name := range strings.Split(a.GetScopeField(), ".") {
		if msg == nil {
			return nil, fmt.Errorf("scope_field %q: %s is not a message", a.GetScopeField(), path[i-1].Name())
		}
		fd := msg.Fields().ByName(protoreflect.Name(name))
		if fd == nil || fd.IsList() || fd.IsMap() {
			return nil, fmt.Errorf("scope_field %q: no field %s in %s", a.GetScopeField(), name, msg.FullName())
		}
		path = append(path, fd)
		msg = fd.Message()
	}
	last := path[len(path)-1]
	if _, ok := scopeKinds[last.Kind()]; !ok && !scopeMessages[last.Message().FullName()] {
		return nil, fmt.Errorf("scope_field %q is not an integer", a.GetScopeField())
	}
	return path, nil
}

var scopeKinds = map[protoreflect.Kind]bool{protoreflect.Int32Kind: true, protoreflect.Int64Kind: true,
	protoreflect.Uint32Kind: true, protoreflect.Uint64Kind: true, protoreflect.Sint32Kind: true, protoreflect.Sint64Kind: true}

// Wrapper and JSON value fields carry ids where OpenTera accepts null or 0 too.
var scopeMessages = map[protoreflect.FullName]bool{"google.protobuf.Int32Value": true, "google.protobuf.Int64Value": true,
	"google.protobuf.Value": true}

// scopeValue reads the scoped id of a request; 0 when absent, zero or not an integer (the
// handler answers those).
func scopeValue(m protoreflect.Message, path []protoreflect.FieldDescriptor) int64 {
	for _, fd := range path[:len(path)-1] {
		if !m.Has(fd) {
			return 0
		}
		m = m.Get(fd).Message()
	}
	fd := path[len(path)-1]
	if !m.Has(fd) {
		return 0
	}
	v := m.Get(fd)
	if fd.Message() == nil {
		if fd.Kind() == protoreflect.Uint32Kind || fd.Kind() == protoreflect.Uint64Kind {
			return int64(v.Uint())
		}
		return v.Int()
	}
	inner := v.Message()
	switch fd.Message().FullName() {
	case "google.protobuf.Value":
		num := inner.Descriptor().Fields().ByName("number_value")
		if !inner.Has(num) {
			return 0
		}
		f := inner.Get(num).Float()
		if f != float64(int64(f)) {
			return 0
		}
		return int64(f)
	default: // Int32Value, Int64Value
		return inner.Get(inner.Descriptor().Fields().ByName("value")).Int()
	}
}

// checkScope enforces a method's declared permission on its scoped object.
func (t accessTable) checkScope(ctx context.Context, fullMethod string, req any) error {
	rule := t[fullMethod]
	if rule.scope == nil {
		return nil
	}
	m, ok := req.(proto.Message)
	if !ok {
		return apierr.Forbidden("Forbidden")
	}
	id := scopeValue(m.ProtoReflect(), rule.scope)
	if id == 0 {
		return nil
	}
	c := authn.FromContext(ctx)
	if c == nil {
		return apierr.Unauthenticated("Unauthorized")
	}
	allowed, err := rule.checker.HasPermission(ctx, c, rule.GetPermission(), rule.GetScopeObject(), id)
	if err != nil {
		if apierr.IsStatus(err) {
			return err
		}
		// The checker logs its own failures; the client learns nothing of them.
		return apierr.Internal("Internal Server Error")
	}
	if !allowed {
		msg := rule.GetDeniedMessage()
		if msg == "" {
			msg = "Forbidden"
		}
		return apierr.Forbidden(msg)
	}
	return nil
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
	return checkRule(ctx, auth, rule.Access)
}

// checkRule authenticates the caller and applies a declared rule (of an RPC or of a plain HTTP
// route); the context it returns is never nil.
func checkRule(ctx context.Context, auth authn.Authenticator, rule *optionsv1.Access) (context.Context, error) {
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
