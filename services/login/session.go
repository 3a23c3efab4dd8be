package login

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
)

// sessionCookie carries the id of a two-step login's server-side state (NATS KV, 5 min), as
// OpenTera's Flask session cookie does.
const sessionCookie = "session"

// Stages of a two-step login.
const (
	stage2FA            = "2fa"
	stage2FASetup       = "2fa_setup"
	stagePasswordChange = "password_change"
	stageOIDC           = "oidc"
	// stage2FADone: the OTP was just checked (within one request only).
	stage2FADone = "2fa_done"
	// stageLoggedIn: the token was issued; the session stays, as OpenTera's login_user does.
	stageLoggedIn = "logged_in"
)

// loginSession is the server side of a two-step login.
type loginSession struct {
	Stage    string `json:"stage"`
	UserUUID string `json:"user_uuid,omitempty"`
	// PendingSecret is the OTP secret offered by setup_2fa, until confirmed.
	PendingSecret string `json:"pending_secret,omitempty"`
	// AuthCode is the service SSO code the login started with (/login?auth_code=).
	AuthCode string `json:"auth_code,omitempty"`
	// OIDC state and PKCE verifier.
	OIDCState    string `json:"oidc_state,omitempty"`
	OIDCVerifier string `json:"oidc_verifier,omitempty"`
}

func (s *Service) saveSession(ctx context.Context, w http.ResponseWriter, r *http.Request, id string, ls *loginSession) (string, error) {
	if id == "" {
		id = authn.RandomHex(24)
	}
	b, _ := json.Marshal(ls)
	if _, err := s.state.LoginSessions.Put(ctx, id, b); err != nil {
		return "", err
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: int(authn.LoginSessionTTL.Seconds()),
		HttpOnly: true, Secure: isHTTPS(r), SameSite: http.SameSiteLaxMode})
	return id, nil
}

// loadSession returns the session named by the request's cookie, or nil.
func (s *Service) loadSession(ctx context.Context, r *http.Request) (string, *loginSession, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" || strings.ContainsAny(c.Value, ".*> ") {
		return "", nil, nil
	}
	e, err := s.state.LoginSessions.Get(ctx, c.Value)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	var ls loginSession
	if err := json.Unmarshal(e.Value(), &ls); err != nil {
		return "", nil, nil
	}
	return c.Value, &ls, nil
}

func (s *Service) endSession(ctx context.Context, w http.ResponseWriter, id string) {
	if id != "" {
		_ = s.state.LoginSessions.Purge(ctx, id)
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true})
}

func isHTTPS(r *http.Request) bool {
	return r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
}
