package authn

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/metadata"

	"github.com/tera-health/tera/pkg/apierr"
)

// Reason says why authentication failed, numbered as OpenTera's LoginEvent statuses
// (REFERENCE §5) so failures map onto LoginEvents directly.
type Reason int

// Failure reasons.
const (
	ReasonWrongPassword    Reason = 2
	ReasonWrongUsername    Reason = 3
	ReasonTooManyAttempts  Reason = 4
	ReasonAlreadyLoggedIn  Reason = 5
	ReasonInvalidToken     Reason = 6
	ReasonDisabledAccount  Reason = 7
	ReasonExpiredToken     Reason = 8
	reasonBasicNotAllowed  Reason = 100
	reasonUntrustedCert    Reason = 101
	reasonNoCredentialKind Reason = 102
)

// Error is an authentication failure; every one answers 401.
type Error struct {
	Reason Reason
	// Kind and UUID name the principal when it is known (for LoginEvents).
	Kind Kind
	UUID string
	msg  string
}

func (e *Error) Error() string { return e.msg }

func fail(r Reason, kind Kind, uuid, msg string) *Error {
	return &Error{Reason: r, Kind: kind, UUID: uuid, msg: msg}
}

// Method says how a caller authenticated.
type Method int

// Authentication methods.
const (
	MethodToken Method = iota + 1
	MethodStaticToken
	MethodPassword
	MethodCertificate
)

// Credentials are what a request presents.
type Credentials struct {
	// Authorization is the Authorization header.
	Authorization string
	// Token is the `token` query parameter.
	Token string
	// RemoteAddr is the peer address (host:port), used to trust the client-certificate header.
	RemoteAddr string
	// ClientCert is the URL-escaped PEM certificate a trusted TLS-terminating proxy forwards.
	ClientCert string
}

// CredentialsFromMetadata reads credentials from gRPC metadata as the gateway forwards them.
func CredentialsFromMetadata(ctx context.Context) Credentials {
	// Key by key: FromIncomingContext would copy every header of the call, on every call.
	get := func(k string) string {
		if v := metadata.ValueFromIncomingContext(ctx, k); len(v) > 0 {
			return v[0]
		}
		return ""
	}
	c := Credentials{Authorization: get("authorization"), Token: get("tera-token"), RemoteAddr: get("tera-remote-addr"),
		ClientCert: get("x-ssl-client-cert")}
	if c.ClientCert == "" {
		c.ClientCert = get("x-client-cert")
	}
	return c
}

// CredentialsFromRequest reads credentials from an HTTP request served directly (not through
// the gateway).
func CredentialsFromRequest(r *http.Request) Credentials {
	c := Credentials{Authorization: r.Header.Get("Authorization"), Token: r.URL.Query().Get("token"), RemoteAddr: r.RemoteAddr,
		ClientCert: r.Header.Get("X-Ssl-Client-Cert")}
	if c.ClientCert == "" {
		c.ClientCert = r.Header.Get("X-Client-Cert")
	}
	return c
}

// Verifier authenticates requests locally: token signatures against the key set, revocations
// and attempt counters in NATS KV, principals in the directory.
type Verifier struct {
	Keys  *KeySet
	State *State
	Dir   Directory
	// DeviceCA verifies device client certificates; nil disables certificate login.
	DeviceCA *x509.CertPool
	// TrustedProxies may forward a client certificate header.
	TrustedProxies []netip.Prefix
	Now            func() time.Time
	// CompareHash replaces bcrypt.CompareHashAndPassword when set: tests count through it
	// the comparisons a login costs.
	CompareHash func(hash, password []byte) error
	// Revocations, when set and in sync, answers revocation checks from memory (else the
	// revoked-ids bucket is asked).
	Revocations *RevocationSet
	// Principals, when set and live, caches the principals of token requests.
	Principals *PrincipalCache

	cache  *basicCache
	dummy  dummyHash
	tokens *tokenCache
}

// VerifierOptions tune NewVerifier.
type VerifierOptions struct {
	// BasicCacheTTL is how long a verified Basic password skips bcrypt (default 60 s; <0 off).
	BasicCacheTTL time.Duration
}

// NewVerifier builds a verifier.
func NewVerifier(keys *KeySet, state *State, dir Directory, opts VerifierOptions) *Verifier {
	ttl := opts.BasicCacheTTL
	if ttl == 0 {
		ttl = time.Minute
	}
	return &Verifier{Keys: keys, State: state, Dir: dir, cache: newBasicCache(ttl, 10000), tokens: newTokenCache(10000)}
}

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// ParseTrustedProxies parses CIDRs or single addresses.
func ParseTrustedProxies(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("trusted proxy %q: not an address or CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// Authenticate implements Authenticator for pkg/server: the caller of a gRPC or REST request.
// A failure to reach PostgreSQL or NATS is a 503 the client may retry, not a 401 that would
// send it back to the login page.
func (v *Verifier) Authenticate(ctx context.Context) (*Caller, error) {
	c, _, err := v.verify(ctx, CredentialsFromMetadata(ctx), false, true)
	var authErr *Error
	if err != nil && !errors.As(err, &authErr) {
		// Not logged per request: the readiness checks log the outage once, and each request's
		// access line shows its 503.
		slog.DebugContext(ctx, "authentication backend unavailable", "err", err)
		return nil, apierr.Unavailable("authentication is temporarily unavailable")
	}
	return c, err
}

// Verify establishes the caller from credentials: (nil, nil, nil) when there are none.
// loginEndpoint allows HTTP Basic for users who must complete 2FA or change their password
// (everywhere else Basic is refused for them, as in OpenTera).
//
// Verify reads revocations and principals from NATS KV and the directory (login's decisions:
// issuing, refreshing, logging out); Authenticate, which every API request goes through,
// answers from the local revocation set and principal cache when they are in sync, so a
// revocation or a disabled principal reaches it within RevocationBound and the cache's bound.
func (v *Verifier) Verify(ctx context.Context, cr Credentials, loginEndpoint bool) (*Caller, *Principal, error) {
	return v.verify(ctx, cr, loginEndpoint, false)
}

// local says the local revocation set and principal cache may answer.
func (v *Verifier) verify(ctx context.Context, cr Credentials, loginEndpoint, local bool) (*Caller, *Principal, error) {
	auth := strings.TrimSpace(cr.Authorization)
	if auth != "" {
		scheme, rest, _ := strings.Cut(auth, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToLower(scheme) {
		case "opentera", "bearer":
			return v.verifyToken(ctx, rest, local)
		case "basic":
			user, pass, ok := parseBasic(rest)
			if !ok {
				return nil, nil, fail(ReasonInvalidToken, 0, "", "malformed basic credentials")
			}
			c, p, err := v.VerifyAnyPassword(ctx, user, pass)
			if err != nil {
				return nil, nil, err
			}
			if !loginEndpoint && p.Kind == KindUser && (p.TwoFA || p.ForcePasswordChange) {
				return nil, nil, fail(reasonBasicNotAllowed, KindUser, p.UUID, "basic authentication not allowed for this user")
			}
			return c, p, nil
		default:
			return nil, nil, fail(ReasonInvalidToken, 0, "", "unknown authorization scheme")
		}
	}
	if cr.Token != "" {
		return v.verifyToken(ctx, cr.Token, local)
	}
	if cr.ClientCert != "" {
		return v.verifyCertificate(ctx, cr, local)
	}
	return nil, nil, nil
}

func parseBasic(s string) (string, string, bool) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return "", "", false
	}
	u, p, ok := strings.Cut(string(b), ":")
	return u, p, ok
}

func (v *Verifier) parser() *jwt.Parser {
	return jwt.NewParser(jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(Issuer), jwt.WithExpirationRequired(),
		jwt.WithLeeway(tokenLeeway), jwt.WithTimeFunc(v.now))
}

// VerifyToken checks a token: key-signed dynamic tokens (user, participant, service) by
// signature, expiry and revocation; static participant and device tokens (no exp) by equality
// with the stored token. The principal must exist and be enabled.
func (v *Verifier) VerifyToken(ctx context.Context, token string) (*Caller, *Principal, error) {
	return v.verifyToken(ctx, token, false)
}

func (v *Verifier) verifyToken(ctx context.Context, token string, local bool) (*Caller, *Principal, error) {
	kind, claims, static, err := v.tokenClaims(token)
	if err != nil {
		return nil, nil, err
	}
	if static {
		return v.verifyStatic(ctx, kind, token, claims, local)
	}
	uuid := unverifiedUUID(claims)
	revoked, err := v.isRevoked(ctx, claims.ID, local)
	if err != nil {
		return nil, nil, fmt.Errorf("revocation check: %w", err)
	}
	if revoked {
		return nil, nil, fail(ReasonInvalidToken, kind, uuid, "token revoked")
	}
	p, err := v.byUUID(ctx, kind, uuid, local)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		return nil, nil, fail(ReasonInvalidToken, kind, uuid, "unknown principal")
	}
	if !p.Enabled {
		return nil, nil, fail(ReasonDisabledAccount, kind, uuid, "disabled account")
	}
	c := callerOf(p, MethodToken)
	c.TokenID = claims.ID
	c.TokenExpires = claims.ExpiresAt.Time
	c.Full = kind == KindParticipant
	if kind == KindUser {
		c.ServiceAccess = claims.ServiceAccess
	}
	return c, p, nil
}

// isRevoked answers from the local revocation set when it is in sync, else from the bucket.
func (v *Verifier) isRevoked(ctx context.Context, jti string, local bool) (bool, error) {
	if !local {
		return v.State.IsRevoked(ctx, jti)
	}
	if revoked, known := v.Revocations.Revoked(jti); known {
		return revoked, nil
	}
	return v.State.IsRevoked(ctx, jti)
}

// byUUID and byStaticToken are the directory lookups of token and certificate requests,
// through the principal cache when local. Password logins read the directory directly: they
// need the current hash and 2FA state.
func (v *Verifier) byUUID(ctx context.Context, kind Kind, uuid string, local bool) (*Principal, error) {
	return v.cached(uuidKey(kind, uuid), local, func() (*Principal, error) { return v.Dir.ByUUID(ctx, kind, uuid) })
}

func (v *Verifier) byStaticToken(ctx context.Context, kind Kind, token string, local bool) (*Principal, error) {
	return v.cached(staticKey(kind, token), local, func() (*Principal, error) { return v.Dir.ByStaticToken(ctx, kind, token) })
}

// cached answers from the principal cache when local, else looks up and refreshes the entry,
// so a login decision also brings the cache up to date.
func (v *Verifier) cached(k principalKey, local bool, lookup func() (*Principal, error)) (*Principal, error) {
	if !local {
		gen := v.Principals.generation()
		p, err := lookup()
		if err == nil && p == nil {
			v.Principals.forget(k)
		} else if err == nil {
			v.Principals.put(k, p, gen)
		}
		return p, err
	}
	if p, ok := v.Principals.get(k); ok {
		return p, nil
	}
	gen := v.Principals.generation()
	p, err := lookup()
	if err == nil {
		v.Principals.put(k, p, gen)
	}
	return p, err
}

// tokenLeeway is the clock skew tolerated on exp and nbf.
const tokenLeeway = 5 * time.Second

// tokenClaims returns the claims of a token whose signature and claims verified (static
// tokens: its unverified claims, static set, for the directory to check).
func (v *Verifier) tokenClaims(token string) (Kind, *Claims, bool, error) {
	if e, ok := v.tokens.get(token); ok {
		if k, ok := v.Keys.public(e.kid); ok && k == e.key {
			uuid := unverifiedUUID(&e.claims)
			now := v.now()
			if now.After(e.claims.ExpiresAt.Add(tokenLeeway)) {
				v.tokens.drop(token)
				return e.kind, nil, false, fail(ReasonExpiredToken, e.kind, uuid, "token expired")
			}
			if nbf := e.claims.NotBefore; nbf != nil && now.Before(nbf.Add(-tokenLeeway)) {
				return e.kind, nil, false, fail(ReasonInvalidToken, e.kind, uuid, "invalid token: token is not valid yet")
			}
			return e.kind, &e.claims, false, nil
		}
		v.tokens.drop(token)
	}
	var unverified Claims
	if _, _, err := jwt.NewParser().ParseUnverified(token, &unverified); err != nil {
		return 0, nil, false, fail(ReasonInvalidToken, 0, "", "malformed token")
	}
	kind, err := unverified.Kind()
	if err != nil {
		return 0, nil, false, fail(ReasonInvalidToken, 0, "", err.Error())
	}
	if unverified.ExpiresAt == nil && (kind == KindDevice || kind == KindParticipant) {
		return kind, &unverified, true, nil
	}
	e := &verifiedToken{kind: kind}
	_, err = v.parser().ParseWithClaims(token, &e.claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := v.Keys.public(kid)
		if !ok {
			return nil, errors.New("unknown key id")
		}
		e.kid, e.key = kid, k
		return k, nil
	})
	uuid := unverifiedUUID(&unverified)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return kind, nil, false, fail(ReasonExpiredToken, kind, uuid, "token expired")
		}
		return kind, nil, false, fail(ReasonInvalidToken, kind, uuid, "invalid token: "+err.Error())
	}
	if e.claims.ID == "" {
		return kind, nil, false, fail(ReasonInvalidToken, kind, uuid, "token without jti")
	}
	// Kind was read from the unverified claims; the signed ones are the same bytes.
	v.tokens.put(token, e, v.now())
	return kind, &e.claims, false, nil
}

func unverifiedUUID(c *Claims) string {
	return c.UserUUID + c.ParticipantUUID + c.DeviceUUID + c.ServiceUUID
}

func (v *Verifier) verifyStatic(ctx context.Context, kind Kind, token string, claims *Claims, local bool) (*Caller, *Principal, error) {
	p, err := v.byStaticToken(ctx, kind, token, local)
	if err != nil {
		return nil, nil, err
	}
	uuid := unverifiedUUID(claims)
	if p == nil {
		return nil, nil, fail(ReasonInvalidToken, kind, uuid, "unknown static token")
	}
	if !p.Enabled {
		return nil, nil, fail(ReasonDisabledAccount, kind, p.UUID, "disabled account")
	}
	c := callerOf(p, MethodStaticToken)
	c.TokenID = claims.ID
	return c, p, nil
}

func callerOf(p *Principal, m Method) *Caller {
	return &Caller{Kind: p.Kind, ID: p.ID, UUID: p.UUID, Name: p.Name, Superadmin: p.Kind == KindUser && p.Superadmin, Method: m}
}

// AttemptsKey is the counter key of a principal (OpenTera's UserLoginAttempts.<uuid> …).
func AttemptsKey(kind Kind, uuid string) string {
	switch kind {
	case KindParticipant:
		return "participant." + uuid
	default:
		return "user." + uuid
	}
}

// VerifyAnyPassword checks HTTP Basic credentials against users, then participants, with one
// bcrypt comparison whichever (or neither) holds the username.
func (v *Verifier) VerifyAnyPassword(ctx context.Context, username, password string) (*Caller, *Principal, error) {
	kind := KindUser
	p, err := v.loginPrincipal(ctx, KindUser, username)
	if err == nil && p == nil {
		kind = KindParticipant
		p, err = v.loginPrincipal(ctx, KindParticipant, username)
	}
	if err != nil {
		return nil, nil, err
	}
	return v.checkPassword(ctx, kind, p, username, password)
}

// VerifyPassword checks a user's or participant's username and password: attempt lockout
// (5 failures, shared by every replica), bcrypt (skipped for a recently verified pair while the
// stored hash is unchanged), enabled (participants: login enabled too).
func (v *Verifier) VerifyPassword(ctx context.Context, kind Kind, username, password string) (*Caller, *Principal, error) {
	p, err := v.loginPrincipal(ctx, kind, username)
	if err != nil {
		return nil, nil, err
	}
	return v.checkPassword(ctx, kind, p, username, password)
}

// loginPrincipal finds who may log in with a password under username: nil for nobody. A
// username PostgreSQL could not even compare (a NUL byte, invalid UTF-8) names nobody.
func (v *Verifier) loginPrincipal(ctx context.Context, kind Kind, username string) (*Principal, error) {
	if username == "" || !utf8.ValidString(username) || strings.IndexByte(username, 0) >= 0 {
		return nil, nil
	}
	p, err := v.Dir.ByUsername(ctx, kind, username)
	if err != nil {
		return nil, err
	}
	if p == nil || p.PasswordHash == "" || (kind == KindParticipant && !p.LoginEnabled) {
		return nil, nil
	}
	return p, nil
}

// noAttempts is a counter key no principal has: an unknown username reads it, so its answer
// costs the same NATS round trip as a known one's.
const noAttempts = "none.00000000-0000-0000-0000-000000000000"

// checkPassword answers a password login. Unknown user, wrong password and locked account
// each cost one bcrypt comparison at the cost of the stored hashes (an unknown user is
// compared against a dummy hash, a locked one against its own hash, the result ignored), so
// their timing does not tell which usernames exist or are locked.
func (v *Verifier) checkPassword(ctx context.Context, kind Kind, p *Principal, username, password string) (*Caller, *Principal, error) {
	if p == nil {
		if _, err := Attempts(ctx, v.State.Attempts, noAttempts); err != nil {
			return nil, nil, fmt.Errorf("attempt counter: %w", err)
		}
		_ = v.compare(v.dummy.hash(), password)
		return nil, nil, fail(ReasonWrongUsername, kind, "", "unknown username")
	}
	key := AttemptsKey(kind, p.UUID)
	n, err := Attempts(ctx, v.State.Attempts, key)
	if err != nil {
		return nil, nil, fmt.Errorf("attempt counter: %w", err)
	}
	if n >= MaxLoginAttempts {
		_ = v.compare(p.PasswordHash, password)
		return nil, nil, fail(ReasonTooManyAttempts, kind, p.UUID, "too many login attempts")
	}
	now := v.now()
	id := v.cache.id(kind, username, password)
	if !v.cache.ok(id, p.PasswordHash, now) {
		if v.compare(p.PasswordHash, password) != nil {
			if _, err := AddAttempt(ctx, v.State.Attempts, key); err != nil {
				return nil, nil, fmt.Errorf("attempt counter: %w", err)
			}
			return nil, nil, fail(ReasonWrongPassword, kind, p.UUID, "wrong password")
		}
		v.cache.put(id, p.PasswordHash, now)
	}
	if !p.Enabled {
		return nil, nil, fail(ReasonDisabledAccount, kind, p.UUID, "disabled account")
	}
	if n > 0 {
		_ = ResetAttempts(ctx, v.State.Attempts, key)
	}
	c := callerOf(p, MethodPassword)
	c.Full = kind == KindParticipant
	return c, p, nil
}

// compare is the one bcrypt comparison of a password login; the dummy hash follows the cost of
// the stored hashes it sees.
func (v *Verifier) compare(hash, password string) error {
	if cost, err := bcrypt.Cost([]byte(hash)); err == nil {
		v.dummy.seen(cost)
	}
	if v.CompareHash != nil {
		return v.CompareHash([]byte(hash), []byte(password))
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password))
}

// dummyHash is a bcrypt hash of a random password, at the cost of the last stored hash
// compared (bcrypt.DefaultCost before any): what an unknown username is compared against.
type dummyHash struct {
	cost   atomic.Int32
	mu     sync.Mutex
	byCost map[int]string
}

func (d *dummyHash) seen(cost int) { d.cost.Store(int32(cost)) }

func (d *dummyHash) hash() string {
	cost := int(d.cost.Load())
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if h, ok := d.byCost[cost]; ok {
		return h
	}
	h, err := bcrypt.GenerateFromPassword([]byte(RandomHex(16)), cost)
	if err != nil { // only for a cost out of range, which bcrypt.Cost never reports
		return ""
	}
	if d.byCost == nil {
		d.byCost = map[int]string{}
	}
	d.byCost[cost] = string(h)
	return string(h)
}

// oidUID is the LDAP userid attribute (0.9.2342.19200300.100.1.1) carrying the device uuid in
// device certificates.
var oidUID = []int{0, 9, 2342, 19200300, 100, 1, 1}

// DeviceUUIDOf returns the device uuid a device certificate names: its UID attribute, else
// its common name.
func DeviceUUIDOf(cert *x509.Certificate) string {
	for _, n := range cert.Subject.Names {
		if n.Type.Equal(oidUID) {
			if s, ok := n.Value.(string); ok {
				return s
			}
		}
	}
	return cert.Subject.CommonName
}

// VerifyCertificate logs a device in with the client certificate a trusted proxy forwards.
func (v *Verifier) VerifyCertificate(ctx context.Context, cr Credentials) (*Caller, *Principal, error) {
	return v.verifyCertificate(ctx, cr, false)
}

func (v *Verifier) verifyCertificate(ctx context.Context, cr Credentials, local bool) (*Caller, *Principal, error) {
	if v.DeviceCA == nil || !v.trusted(cr.RemoteAddr) {
		return nil, nil, fail(reasonUntrustedCert, KindDevice, "", "client certificate header from an untrusted peer")
	}
	raw, err := url.PathUnescape(cr.ClientCert)
	if err != nil {
		raw = cr.ClientCert
	}
	block, _ := pem.Decode([]byte(raw))
	if block == nil {
		return nil, nil, fail(ReasonInvalidToken, KindDevice, "", "malformed client certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, nil, fail(ReasonInvalidToken, KindDevice, "", "malformed client certificate")
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: v.DeviceCA, CurrentTime: v.now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, nil, fail(ReasonInvalidToken, KindDevice, "", "client certificate not signed by the device CA")
	}
	uuid := DeviceUUIDOf(cert)
	p, err := v.byUUID(ctx, KindDevice, uuid, local)
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		return nil, nil, fail(ReasonInvalidToken, KindDevice, uuid, "unknown device")
	}
	if !p.Enabled {
		return nil, nil, fail(ReasonDisabledAccount, KindDevice, uuid, "disabled device")
	}
	return callerOf(p, MethodCertificate), p, nil
}

func (v *Verifier) trusted(remote string) bool {
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, p := range v.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
