package login

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"time"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/server"
	"github.com/tera-health/tera/services/internal/store"
)

// serviceToken is POST /api/service/token: the OAuth2 client credentials grant (RFC 6749
// §4.4) by which an external service obtains its token. client_id is the service_key,
// client_secret the secret of the service's Kubernetes Secret; the client authenticates with
// HTTP Basic (§2.3.1) or with client_id/client_secret in the form body. The answer is a
// short-lived ES256 service token that every target verifies locally; the service asks again
// before it expires (pkg/servicekit does).
//
// OpenTera has no such endpoint: its services sign their own tokens with a key shared through
// Redis, so any process that can read Redis can be any service. Here only login holds the
// signing key and a service proves itself with a secret of its own, stored hashed.
func (s *Service) serviceToken(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if err := r.ParseForm(); err != nil {
		oauthError(w, http.StatusBadRequest, "invalid_request", "the body must be application/x-www-form-urlencoded")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		oauthError(w, http.StatusBadRequest, "unsupported_grant_type", "grant_type must be client_credentials")
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// §2.3.1: both are form-urlencoded before Basic encoding.
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id == "" || secret == "" {
		w.Header().Set("WWW-Authenticate", `Basic realm="tera"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "client_id and client_secret are required")
		return
	}
	cred, err := store.GetServiceCredential(r.Context(), s.db, id)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		s.internal(w, r, err)
		return
	}
	sum := sha256.Sum256([]byte(secret))
	want := cred.SecretSHA256
	if len(want) != len(sum) {
		want = make([]byte, len(sum)) // an unknown client costs the same comparison
	}
	if subtle.ConstantTimeCompare(sum[:], want) != 1 || err != nil {
		s.event(r, typePassword, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_WRONG_PASSWORD, authn.KindService, cred.UUID, "service login failed")
		w.Header().Set("WWW-Authenticate", `Basic realm="tera"`)
		oauthError(w, http.StatusUnauthorized, "invalid_client", "unknown client or wrong secret")
		return
	}
	if !cred.Enabled {
		s.event(r, typePassword, eventsv1.LoginEvent_LOGIN_STATUS_FAILED_WITH_DISABLED_ACCOUNT, authn.KindService, cred.UUID, "service login failed")
		oauthError(w, http.StatusUnauthorized, "invalid_client", "service disabled")
		return
	}
	server.NoteCaller(r.Context(), &authn.Caller{Kind: authn.KindService, ID: int64(cred.IDService), UUID: cred.UUID})
	tok, err := s.signer.Sign(authn.Claims{ServiceUUID: cred.UUID}, authn.ServiceClientTokenLifetime)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.event(r, typePassword, eventsv1.LoginEvent_LOGIN_STATUS_SUCCESS, authn.KindService, cred.UUID, "service token issued")
	server.WriteJSON(w, http.StatusOK, obj{{"access_token", tok}, {"token_type", "Bearer"},
		{"expires_in", int(authn.ServiceClientTokenLifetime / time.Second)}, {"service_uuid", cred.UUID}})
}

// oauthError is RFC 6749 §5.2's error response.
func oauthError(w http.ResponseWriter, code int, kind, desc string) {
	server.WriteJSON(w, code, obj{{"error", kind}, {"error_description", desc}})
}
