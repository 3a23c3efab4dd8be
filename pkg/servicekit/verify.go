package servicekit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
)

// Identity is a verified caller of the service.
type Identity struct {
	Kind authn.Kind
	UUID string
	// ID is id_user, id_participant or id_device (0 for services).
	ID   int64
	Name string
	// Superadmin holds every role of every service (OpenTera's bypass).
	Superadmin bool
	// ServiceAccess is a user token's global roles per service key.
	ServiceAccess map[string][]string
	TokenID       string
	Expires       time.Time
}

// HasRole says whether a user holds role on the service serviceKey (superadmins hold them all).
// Participants' and devices' roles are not in their tokens; ask the service API
// (/api/service/access) for them.
func (i *Identity) HasRole(serviceKey, role string) bool {
	if i.Kind != authn.KindUser {
		return false
	}
	return i.Superadmin || slices.Contains(i.ServiceAccess[serviceKey], role)
}

// Verification failures.
var (
	ErrNoToken = errors.New("no token")
	// ErrStaticToken: a participant's or device's static token (no expiry) is checked by equality
	// with the stored one, which only the fleet can do; the service asks the service API.
	ErrStaticToken = errors.New("static tokens cannot be verified locally")
	ErrRevoked     = errors.New("token revoked")
)

// Verifier checks Tera tokens locally: ES256 signature against the site's JWKS
// (/.well-known/jwks.json, refreshed every few minutes and at once on an unknown key id),
// issuer, expiry, and, with NATS, the revoked-ids bucket (logouts, refreshes) through a local
// copy kept current by a KV watcher.
type Verifier struct {
	http    *http.Client
	jwksURL string
	log     *slog.Logger
	now     func() time.Time

	mu        sync.RWMutex
	keys      map[string]*ecdsa.PublicKey
	fetchedAt time.Time

	state   *authn.State
	revoked *authn.RevocationSet
}

// jwksRefresh is how often the key set is fetched again; keysMinInterval bounds refetches
// caused by unknown key ids (a flood of forged tokens must not become a flood of fetches).
const (
	jwksRefresh     = 5 * time.Minute
	keysMinInterval = 10 * time.Second
)

// NewVerifier loads the key set of the site at baseURL. js may be nil: revocations are then
// not checked (tokens are accepted until they expire).
func NewVerifier(ctx context.Context, hc *http.Client, baseURL string, js jetstream.JetStream, log *slog.Logger) (*Verifier, error) {
	if log == nil {
		log = slog.Default()
	}
	v := &Verifier{http: hc, jwksURL: strings.TrimSuffix(baseURL, "/") + "/.well-known/jwks.json", log: log, now: time.Now}
	if err := v.fetchKeys(ctx); err != nil {
		return nil, err
	}
	if js != nil {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := authn.OpenState(sctx, js)
		if err != nil {
			log.Warn("token state buckets not all reachable yet; binding on first use", "err", err)
		}
		v.state, v.revoked = st, authn.NewRevocationSet(st, log)
	}
	return v, nil
}

// Run keeps keys and revocations current until ctx ends.
func (v *Verifier) Run(ctx context.Context) error {
	if v.revoked != nil {
		go func() { _ = v.revoked.Run(ctx) }()
	}
	t := time.NewTicker(jwksRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			if err := v.fetchKeys(ctx); err != nil {
				v.log.Warn("JWKS refresh failed; keeping the current keys", "err", err)
			}
		}
	}
}

func (v *Verifier) fetchKeys(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.jwksURL, nil)
	if err != nil {
		return err
	}
	resp, err := v.http.Do(req)
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch JWKS %s: %d", v.jwksURL, resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("fetch JWKS: %w", err)
	}
	keys, err := ParseJWKS(b)
	if err != nil {
		return err
	}
	v.mu.Lock()
	v.keys, v.fetchedAt = keys, v.now()
	v.mu.Unlock()
	return nil
}

// ParseJWKS reads the EC P-256 keys of a JWK set.
func ParseJWKS(b []byte) (map[string]*ecdsa.PublicKey, error) {
	var set struct {
		Keys []struct {
			Kty, Crv, X, Y, Kid string
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	out := map[string]*ecdsa.PublicKey{}
	for _, k := range set.Keys {
		if k.Kty != "EC" || k.Crv != "P-256" {
			continue
		}
		x, errX := base64.RawURLEncoding.DecodeString(k.X)
		y, errY := base64.RawURLEncoding.DecodeString(k.Y)
		if errX != nil || errY != nil {
			return nil, fmt.Errorf("parse JWKS: key %s: bad coordinates", k.Kid)
		}
		pub := &ecdsa.PublicKey{Curve: elliptic.P256(), X: new(big.Int).SetBytes(x), Y: new(big.Int).SetBytes(y)}
		if !pub.Curve.IsOnCurve(pub.X, pub.Y) { //nolint:staticcheck // the point check is what we want here
			return nil, fmt.Errorf("parse JWKS: key %s is not on P-256", k.Kid)
		}
		out[k.Kid] = pub
	}
	if len(out) == 0 {
		return nil, errors.New("parse JWKS: no P-256 key")
	}
	return out, nil
}

func (v *Verifier) key(ctx context.Context, kid string) (*ecdsa.PublicKey, bool) {
	v.mu.RLock()
	k, ok := v.keys[kid]
	fresh := v.now().Sub(v.fetchedAt) < keysMinInterval
	v.mu.RUnlock()
	if ok || fresh {
		return k, ok
	}
	// A key added by a rotation since the last fetch.
	if err := v.fetchKeys(ctx); err != nil {
		v.log.Warn("JWKS refetch failed", "err", err)
		return nil, false
	}
	v.mu.RLock()
	defer v.mu.RUnlock()
	k, ok = v.keys[kid]
	return k, ok
}

// Verify checks a token and returns who it names.
func (v *Verifier) Verify(ctx context.Context, token string) (*Identity, error) {
	if token == "" {
		return nil, ErrNoToken
	}
	var unverified authn.Claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &unverified); err != nil {
		return nil, fmt.Errorf("malformed token: %w", err)
	}
	kind, err := unverified.Kind()
	if err != nil {
		return nil, err
	}
	if unverified.ExpiresAt == nil && (kind == authn.KindParticipant || kind == authn.KindDevice) {
		return nil, ErrStaticToken
	}
	var c authn.Claims
	_, err = jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(authn.Issuer), jwt.WithExpirationRequired(),
		jwt.WithLeeway(5*time.Second), jwt.WithTimeFunc(v.now)).ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := v.key(ctx, kid)
		if !ok {
			return nil, fmt.Errorf("unknown key id %q", kid)
		}
		return k, nil
	})
	if err != nil {
		return nil, fmt.Errorf("invalid token: %w", err)
	}
	if c.ID == "" {
		return nil, errors.New("invalid token: no jti")
	}
	if revoked, err := v.isRevoked(ctx, c.ID); err != nil {
		return nil, fmt.Errorf("revocation check: %w", err)
	} else if revoked {
		return nil, ErrRevoked
	}
	id := &Identity{Kind: kind, UUID: c.UserUUID + c.ParticipantUUID + c.DeviceUUID + c.ServiceUUID, ID: c.IDUser + c.IDParticipant + c.IDDevice,
		Name: c.UserFullname, ServiceAccess: c.ServiceAccess, TokenID: c.ID, Expires: c.ExpiresAt.Time}
	id.Superadmin = c.UserSuperadmin != nil && *c.UserSuperadmin
	return id, nil
}

func (v *Verifier) isRevoked(ctx context.Context, jti string) (bool, error) {
	if v.state == nil {
		return false, nil
	}
	if revoked, known := v.revoked.Revoked(jti); known {
		return revoked, nil
	}
	return v.state.IsRevoked(ctx, jti)
}

// TokenOf reads a request's token as OpenTera's services do: Authorization "OpenTera <t>" or
// "Bearer <t>", else the token query parameter.
func TokenOf(r *http.Request) string {
	if h := strings.TrimSpace(r.Header.Get("Authorization")); h != "" {
		scheme, rest, _ := strings.Cut(h, " ")
		if strings.EqualFold(scheme, "opentera") || strings.EqualFold(scheme, "bearer") {
			return strings.TrimSpace(rest)
		}
		return ""
	}
	return r.URL.Query().Get("token")
}

type identityKey struct{}

// IdentityFrom returns the identity Require stored in the request context.
func IdentityFrom(ctx context.Context) *Identity {
	id, _ := ctx.Value(identityKey{}).(*Identity)
	return id
}

// Require answers 401 to requests without a valid token of one of kinds (none: any kind) and
// passes the others on with their Identity in the context.
func (v *Verifier) Require(next http.Handler, kinds ...authn.Kind) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err := v.Verify(r.Context(), TokenOf(r))
		if err == nil && len(kinds) > 0 && !slices.Contains(kinds, id.Kind) {
			err = errors.New("token of another kind")
		}
		if err != nil {
			http.Error(w, "Unauthorized", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
	})
}
