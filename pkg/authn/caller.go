// Package authn identifies who calls a Tera API. The verifier (tokens, HTTP Basic, revocation)
// fills a Caller into the request context; the server's access interceptor and the handlers read
// it back with FromContext.
package authn

import (
	"context"
	"time"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
)

// Kind is the kind of principal behind a request.
type Kind = optionsv1.Principal

// Principal kinds.
const (
	KindUser        = optionsv1.Principal_PRINCIPAL_USER
	KindParticipant = optionsv1.Principal_PRINCIPAL_PARTICIPANT
	KindDevice      = optionsv1.Principal_PRINCIPAL_DEVICE
	KindService     = optionsv1.Principal_PRINCIPAL_SERVICE
)

// Caller is an authenticated principal.
type Caller struct {
	Kind Kind
	// ID is the principal's integer id (id_user, id_participant, id_device, id_service).
	ID   int64
	UUID string
	// Name is the display name (user full name, participant name, device name, service name).
	Name string
	// Superadmin is set for users with user_superadmin.
	Superadmin bool
	// Full is set for participants holding a dynamic token or Basic login (OpenTera role
	// `full`); static tokens give `limited`.
	Full bool
	// TokenID is the token's jti, empty for HTTP Basic.
	TokenID string
	// TokenExpires is the expiry of a dynamic token (zero for static tokens and Basic).
	TokenExpires time.Time
	// Method says how the caller authenticated.
	Method Method
	// ServiceAccess is a user token's service_access claim: global roles per service key.
	ServiceAccess map[string][]string
}

type ctxKey struct{}

// WithCaller returns a context carrying the caller.
func WithCaller(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the caller, or nil for an anonymous request.
func FromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(ctxKey{}).(*Caller)
	return c
}

// Authenticator establishes the caller of a request from its metadata (gRPC metadata, which
// the REST gateway fills from HTTP headers and the `token` query parameter). It returns
// (nil, nil) when the request carries no credentials, and an error when they are invalid.
type Authenticator interface {
	Authenticate(ctx context.Context) (*Caller, error)
}
