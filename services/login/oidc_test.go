package login_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tera-health/tera/services/internal/fleet"
)

// idp is a small OpenID provider: discovery, JWKS, an authorize endpoint that signs the user
// in at once, and a token endpoint that checks the client secret and the PKCE verifier.
type idp struct {
	srv    *httptest.Server
	issuer string
	key    *rsa.PrivateKey
	claims map[string]any

	mu    sync.Mutex
	codes map[string]grant
}

type grant struct{ challenge, nonce, redirect string }

func newIDP(t *testing.T) *idp {
	k, _ := rsa.GenerateKey(rand.Reader, 2048)
	p := &idp{key: k, codes: map[string]grant{}}
	mux := http.NewServeMux()
	p.srv = httptest.NewServer(mux)
	t.Cleanup(p.srv.Close)
	// Browsers and tokens know the provider as 127.0.0.1; Tera discovers it as localhost (as
	// an in-cluster Service name would be).
	p.issuer = p.srv.URL
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"issuer": p.issuer, "authorization_endpoint": p.issuer + "/authorize",
			"token_endpoint": p.issuer + "/token", "jwks_uri": p.issuer + "/jwks", "response_types_supported": []string{"code"},
			"subject_types_supported": []string{"public"}, "id_token_signing_alg_values_supported": []string{"RS256"},
			"code_challenge_methods_supported": []string{"S256"}})
	})
	mux.HandleFunc("GET /jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(map[string]any{"keys": []map[string]string{{"kty": "RSA", "kid": "k1", "alg": "RS256", "use": "sig",
			"n": base64.RawURLEncoding.EncodeToString(k.N.Bytes()), "e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())}}})
	})
	mux.HandleFunc("GET /authorize", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("client_id") != "tera" || q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("response_type") != "code" {
			http.Error(w, "bad authorize request", 400)
			return
		}
		c := "code-" + q.Get("state")[:8]
		p.mu.Lock()
		p.codes[c] = grant{challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), redirect: q.Get("redirect_uri")}
		p.mu.Unlock()
		http.Redirect(w, r, q.Get("redirect_uri")+"?code="+c+"&state="+url.QueryEscape(q.Get("state")), http.StatusFound)
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, ok := r.BasicAuth()
		if !ok {
			id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
		}
		p.mu.Lock()
		g, found := p.codes[r.PostFormValue("code")]
		delete(p.codes, r.PostFormValue("code"))
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if id != "tera" || secret != "s3cr3t" || !found || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || r.PostFormValue("redirect_uri") != g.redirect {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		claims := jwt.MapClaims{"iss": p.issuer, "aud": "tera", "sub": "idp-user-1", "iat": time.Now().Unix(), "exp": time.Now().Add(5 * time.Minute).Unix(), "nonce": g.nonce}
		for k, v := range p.claims {
			claims[k] = v
		}
		tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
		tok.Header["kid"] = "k1"
		s, _ := tok.SignedString(k)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 300, "id_token": s})
	})
	return p
}

// oidcLogin runs the code flow as a browser would and returns the final response.
func oidcLogin(t *testing.T, base string) response {
	t.Helper()
	c := jarClient(t)
	r := do(t, req{url: base + "/login/oidc", client: c})
	if r.code != 302 {
		t.Fatalf("start: %d %s", r.code, r.body)
	}
	r = do(t, req{url: r.header.Get("Location"), client: c})
	if r.code != 302 {
		t.Fatalf("authorize: %d %s", r.code, r.body)
	}
	cb, _ := url.Parse(r.header.Get("Location"))
	if cb.Host != "tera.test" || cb.Path != "/login/oidc/callback" {
		t.Fatalf("redirect uri %s", cb)
	}
	return do(t, req{url: base + cb.Path + "?" + cb.RawQuery, client: c})
}

func TestOIDCLogin(t *testing.T) {
	e := newEnv(t)
	p := newIDP(t)
	secretFile := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secretFile, []byte("s3cr3t\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	discovery := strings.Replace(p.issuer, "127.0.0.1", "localhost", 1)
	withOIDC := func(match string, group int64) func(*fleet.Config) {
		return func(c *fleet.Config) {
			c.OIDC.IssuerURL, c.OIDC.DiscoveryURL, c.OIDC.ClientID, c.OIDC.ClientSecretFile = p.issuer, discovery, "tera", secretFile
			c.OIDC.MatchClaim, c.OIDC.ProvisionUserGroup, c.OIDC.DisplayName = match, group, "Test IdP"
		}
	}
	byName := e.replica(withOIDC("username", 0))
	if page := do(t, req{url: byName + "/login"}); !strings.Contains(string(page.body), "Sign in with Test IdP") {
		t.Fatal("login page has no SSO button")
	}

	// Mapped by username to the existing user3.
	p.claims = map[string]any{"preferred_username": "user3", "email": "someone@example.org"}
	r := oidcLogin(t, byName)
	if r.code != 200 || !strings.Contains(string(r.body), `id="done"`) || !strings.Contains(string(r.body), "Project Admin") {
		t.Fatalf("oidc login: %d %s", r.code, r.body)
	}
	// Unknown user, no provisioning: refused.
	p.claims = map[string]any{"preferred_username": "stranger"}
	if r := oidcLogin(t, byName); r.code != 401 {
		t.Fatalf("unknown user: %d", r.code)
	}

	// Mapped by verified email; unknown users provisioned into user group 4.
	byEmail := e.replica(withOIDC("email", 4))
	p.claims = map[string]any{"email": "noaccess@opentera.org", "email_verified": true}
	if r := oidcLogin(t, byEmail); r.code != 200 || !strings.Contains(string(r.body), "No Access User!") {
		t.Fatalf("by email: %d %s", r.code, r.body)
	}
	p.claims = map[string]any{"email": "noaccess@opentera.org", "email_verified": false}
	if r := oidcLogin(t, byEmail); r.code != 401 {
		t.Fatalf("unverified email accepted: %d", r.code)
	}
	p.claims = map[string]any{"preferred_username": "newcomer", "email": "newcomer@example.org", "email_verified": true, "given_name": "New", "family_name": "Comer"}
	if r := oidcLogin(t, byEmail); r.code != 200 || !strings.Contains(string(r.body), "New Comer") {
		t.Fatalf("provisioning: %d %s", r.code, r.body)
	}
	if g := e.scalar(`SELECT uug.id_user_group::text FROM core.t_users u JOIN core.t_users_users_groups uug USING (id_user) WHERE u.user_username = 'newcomer'`); g != "4" {
		t.Fatalf("provisioned into group %q", g)
	}
	// A forged state is refused.
	c := jarClient(t)
	do(t, req{url: byName + "/login/oidc", client: c})
	if r := do(t, req{url: byName + "/login/oidc/callback?code=x&state=forged", client: c}); r.code != 400 {
		t.Fatalf("forged state: %d", r.code)
	}
}
