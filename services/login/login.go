// Package login is the login target (ARCHITECTURE §2, §4): it issues OpenTera's tokens to users,
// participants, devices and services, runs the two-step flows (2FA, forced password change),
// device self-registration with the site's device CA, service SSO codes, OIDC federation and
// the login pages, and publishes a LoginEvent for every success and failure. Every endpoint
// authenticates its own caller, so they are plain HTTP routes beside the gateway: their
// responses (OpenTera's variable shapes, the 426 body, cookies, PNG, PEM) are not proto-shaped.
package login

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/time/rate"

	optionsv1 "github.com/tera-health/tera/pkg/api/tera/options/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/presence"
)

// Options configure the login target.
type Options struct {
	DB   *pgxpool.Pool
	NATS *nats.Conn
	Log  *slog.Logger
	// Verifier authenticates callers; its Keys sign the tokens this target issues.
	Verifier *authn.Verifier
	// PublicURL is how clients reach the site, e.g. https://tera.example.org (websocket_url,
	// OIDC redirect URI).
	PublicURL string
	// ServerName names the site in the TOTP issuer ("OpenTera-<name>").
	ServerName string
	// DeviceCADir holds ca.crt and ca.key; empty disables certificate registration.
	DeviceCADir string
	// TrustedProxies may set X-Forwarded-For (client ip of LoginEvents).
	TrustedProxies []netip.Prefix
	OIDC           OIDCOptions
	// Now is the clock (tests).
	Now func() time.Time
}

// Service is the login target.
type Service struct {
	server.NoGRPC // the login target has no gRPC API of its own

	o        Options
	log      *slog.Logger
	db       *pgxpool.Pool
	v        *authn.Verifier
	state    *authn.State
	signer   *authn.Signer
	ca       *deviceCA
	oidc     *oidcClient
	register *rate.Limiter
	pages    *template.Template
	presence *presence.Store
}

// errAlreadyLoggedIn refuses a websocket login of a principal that already has one.
var errAlreadyLoggedIn = errors.New("already logged in")

// isOnline reports whether a principal holds a websocket (usermanager's presence).
func (s *Service) isOnline(ctx context.Context, kind, uuid string) (bool, error) {
	if s.presence == nil {
		return false, nil
	}
	return s.presence.IsOnline(ctx, kind, uuid)
}

// New builds the login target.
func New(ctx context.Context, o Options) (*Service, error) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.ServerName == "" {
		o.ServerName = "Tera"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	s := &Service{o: o, log: o.Log, db: o.DB, v: o.Verifier, state: o.Verifier.State,
		signer:   &authn.Signer{Keys: o.Verifier.Keys, Now: o.Now},
		register: rate.NewLimiter(rate.Every(time.Second), 1)}
	var err error
	if o.NATS != nil {
		js, err := jetstream.New(o.NATS)
		if err != nil {
			return nil, fmt.Errorf("jetstream: %w", err)
		}
		s.presence = presence.NewStore(js)
	}
	if o.DeviceCADir != "" {
		if s.ca, err = loadDeviceCA(o.DeviceCADir); err != nil {
			return nil, err
		}
	}
	if o.OIDC.IssuerURL != "" {
		if s.oidc, err = newOIDCClient(ctx, o.OIDC, strings.TrimSuffix(o.PublicURL, "/")+"/login/oidc/callback"); err != nil {
			return nil, err
		}
	}
	if s.pages, err = parsePages(); err != nil {
		return nil, err
	}
	return s, nil
}

// Name implements server.Service.
func (s *Service) Name() string { return "login" }

// HTTPRoutes implements server.HTTPService: the login target's one route table. Every route is
// public to the server: each handler authenticates its callers itself (HTTP Basic, a token of
// its own kind, the login session) and reports a LoginEvent for every try. The two whose
// credential is no principal's (the register key, a service's client secret) declare it.
func (s *Service) HTTPRoutes() []server.Route {
	type methods = map[string]http.HandlerFunc
	get := func(h http.HandlerFunc) methods { return methods{http.MethodGet: h} }
	public := &optionsv1.Access{Public: true}
	routes := []server.Route{
		{Path: "/api/user/login", Methods: get(s.userLogin)},
		{Path: "/api/user/login/2fa", Methods: methods{http.MethodGet: s.userLogin2FA, http.MethodPost: s.userLogin2FA}},
		{Path: "/api/user/login/setup_2fa", Methods: methods{http.MethodGet: s.userSetup2FAGet, http.MethodPost: s.userSetup2FAPost}},
		{Path: "/api/user/login/change_password", Methods: methods{http.MethodPost: s.userChangePassword}},
		{Path: "/api/user/logout", Methods: get(s.userLogout)},
		{Path: "/api/user/refresh_token", Methods: get(s.userRefresh)},
		{Path: "/api/participant/login", Methods: get(s.participantLogin)},
		{Path: "/api/participant/logout", Methods: get(s.participantLogout)},
		{Path: "/api/participant/refresh_token", Methods: get(s.participantRefresh)},
		{Path: "/api/device/login", Methods: get(s.deviceLogin)},
		{Path: "/api/device/logout", Methods: get(s.deviceLogout)},
		{Path: "/api/device/register", Methods: methods{http.MethodGet: s.deviceRegister, http.MethodPost: s.deviceRegister},
			Credential: "the site's device registration key (server setting DeviceRegisterKey), rate limited"},
		{Path: "/api/service/auth/code", Methods: get(s.serviceAuthCode)},
		{Path: "/api/service/token", Methods: methods{http.MethodPost: s.serviceToken},
			Credential: "a service's OAuth2 client credentials (client_id and client_secret)"},
		{Path: "/.well-known/jwks.json", Methods: get(s.jwks)},
		{Path: "/login", Methods: methods{http.MethodGet: s.pageLoginForm, http.MethodPost: s.pageLogin}},
		{Path: "/login_validate_2fa", Methods: methods{http.MethodGet: s.pageStage(stage2FA, "validate_2fa", "Two-factor authentication"),
			http.MethodPost: s.pageValidate2FA}},
		{Path: "/login_setup_2fa", Methods: methods{http.MethodGet: s.pageSetup2FAForm, http.MethodPost: s.pageSetup2FA}},
		{Path: "/login_change_password", Methods: methods{http.MethodGet: s.pageStage(stagePasswordChange, "change_password", "Change password"),
			http.MethodPost: s.pageChangePassword}},
		{Path: "/login/oidc", Methods: get(s.oidcStart)},
		{Path: "/login/oidc/callback", Methods: get(s.oidcCallback)},
	}
	for i := range routes {
		routes[i].Access = public
		for m, h := range routes[i].Methods {
			routes[i].Methods[m] = readBody(h)
		}
	}
	return routes
}

// readBody reads a (small) body in full before the handler, so a body cut by the server's
// size limit is answered as every other one over the limit, whichever way the handler would
// have parsed it.
func readBody(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(r.Body)
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				server.WriteTooLarge(w, tooLarge.Limit)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		h(w, r)
	}
}

func (s *Service) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "public, max-age=60")
	_, _ = w.Write(s.v.Keys.JWKS())
}

// --- responses -----------------------------------------------------------------------------

// obj is a JSON object that keeps its key order, as OpenTera's json.dumps replies do.
type obj []kv

type kv struct {
	k string
	v any
}

func (o obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, e := range o {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(e.k)
		v, err := json.Marshal(e.v)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteString(": ")
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// unauthorized is OpenTera's 401: text/html "Unauthorized", the session cookie cleared.
func unauthorized(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", Expires: time.Unix(0, 0), MaxAge: -1, HttpOnly: true})
	unauthorizedKeepSession(w)
}

// unauthorizedKeepSession is a 401 that leaves a two-step login in progress (a wrong OTP code
// may be retried, up to the 2FA attempt limit).
func unauthorizedKeepSession(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusUnauthorized)
	_, _ = w.Write([]byte("Unauthorized"))
}

// internal answers a failure of ours: 503 when PostgreSQL or NATS cannot be reached (the
// client may retry; the readiness checks log the outage once, not once per request), else 500.
func (s *Service) internal(w http.ResponseWriter, r *http.Request, err error) {
	if unreachable(err) {
		server.WriteJSON(w, http.StatusServiceUnavailable, "Service temporarily unavailable")
		return
	}
	s.log.Error("login request failed", "path", r.URL.Path, "err", err)
	server.WriteJSON(w, http.StatusInternalServerError, "Internal Server Error")
}

// unreachable tells a dependency that did not answer from one that answered with an error.
func unreachable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Connection exceptions, server shutting down or not accepting connections yet,
		// insufficient resources.
		return strings.HasPrefix(pe.Code, "08") || strings.HasPrefix(pe.Code, "57P") || strings.HasPrefix(pe.Code, "53")
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	return errors.As(err, &ce) || errors.As(err, &ne) || pgconn.Timeout(err) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, nats.ErrNoServers) || errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, nats.ErrNoResponders) || errors.Is(err, nats.ErrDisconnected) || errors.Is(err, nats.ErrConnectionReconnecting) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) || errors.Is(err, jetstream.ErrJetStreamNotEnabled)
}

func boolParam(r *http.Request, name string) bool {
	v := strings.ToLower(r.URL.Query().Get(name))
	if v == "" && r.Method == http.MethodPost {
		v = strings.ToLower(r.PostFormValue(name))
	}
	return v == "true" || v == "1" || v == "on" || v == "yes"
}

// clientIP is the first X-Forwarded-For hop when the peer is a trusted proxy.
func (s *Service) clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
		if a, err := netip.ParseAddr(host); err == nil {
			for _, p := range s.o.TrustedProxies {
				if p.Contains(a.Unmap()) {
					first, _, _ := strings.Cut(xff, ",")
					return strings.TrimSpace(first)
				}
			}
		}
	}
	return host
}

func (s *Service) websocketURL(kind string, key string) string {
	base := strings.TrimSuffix(s.o.PublicURL, "/")
	switch {
	case strings.HasPrefix(base, "https://"):
		base = "wss://" + strings.TrimPrefix(base, "https://")
	case strings.HasPrefix(base, "http://"):
		base = "ws://" + strings.TrimPrefix(base, "http://")
	}
	return base + "/wss/" + kind + "?id=" + key
}

func (s *Service) newConnectKey(ctx context.Context, c *authn.Caller, jti string) (string, error) {
	return s.state.NewConnectKey(ctx, authn.ConnectTarget{Kind: c.Kind, UUID: c.UUID, TokenID: jti})
}

func (s *Service) setting(ctx context.Context, name string) (string, error) {
	var v string
	err := s.db.QueryRow(ctx, `SELECT server_settings_value FROM core.t_server_settings WHERE server_settings_name = $1`, name).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return v, err
}
