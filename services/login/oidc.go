package login

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/jackc/pgx/v5"
	"golang.org/x/oauth2"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/store"
)

// OIDCOptions federate users with an external identity provider.
type OIDCOptions struct {
	// IssuerURL is the provider's issuer as browsers and tokens know it.
	IssuerURL string
	// DiscoveryURL, when set, is where this process fetches the discovery document (an
	// in-cluster address); the document must still name IssuerURL as its issuer.
	DiscoveryURL string
	ClientID     string
	ClientSecret string
	// MatchClaim maps the identity to a Tera user: "username" (user_username =
	// UsernameClaim, default preferred_username) or "email" (user_email = email; the provider
	// must assert email_verified).
	MatchClaim    string
	UsernameClaim string
	// ProvisionGroup, when non-zero, creates unknown users in that user group.
	ProvisionGroup int64
	// DisplayName labels the button of the login page.
	DisplayName string
}

type oidcClient struct {
	o        OIDCOptions
	redirect string

	mu       sync.Mutex
	provider *oidc.Provider
}

func newOIDCClient(_ context.Context, o OIDCOptions, redirect string) (*oidcClient, error) {
	if o.ClientID == "" {
		return nil, errors.New("oidc: client_id is required")
	}
	if o.MatchClaim == "" {
		o.MatchClaim = "username"
	}
	if o.MatchClaim != "username" && o.MatchClaim != "email" {
		return nil, fmt.Errorf("oidc: match claim %q is neither username nor email", o.MatchClaim)
	}
	if o.UsernameClaim == "" {
		o.UsernameClaim = "preferred_username"
	}
	if o.DisplayName == "" {
		o.DisplayName = "single sign-on"
	}
	// Discovery is lazy: the provider may come up after us.
	return &oidcClient{o: o, redirect: redirect}, nil
}

func (c *oidcClient) discover(ctx context.Context) (*oidc.Provider, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.provider != nil {
		return c.provider, nil
	}
	var p *oidc.Provider
	var err error
	if c.o.DiscoveryURL != "" && strings.TrimSuffix(c.o.DiscoveryURL, "/") != strings.TrimSuffix(c.o.IssuerURL, "/") {
		p, err = oidc.NewProvider(oidc.InsecureIssuerURLContext(ctx, c.o.IssuerURL), c.o.DiscoveryURL)
	} else {
		p, err = oidc.NewProvider(ctx, c.o.IssuerURL)
	}
	if err != nil {
		return nil, fmt.Errorf("oidc discovery: %w", err)
	}
	c.provider = p
	return p, nil
}

func (c *oidcClient) config(p *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{ClientID: c.o.ClientID, ClientSecret: c.o.ClientSecret, Endpoint: p.Endpoint(), RedirectURL: c.redirect,
		Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}
}

// oidcStart is GET /login/oidc: the authorization code flow with PKCE begins; state, nonce and
// verifier wait in the login session.
func (s *Service) oidcStart(w http.ResponseWriter, r *http.Request) {
	if s.oidc == nil {
		http.NotFound(w, r)
		return
	}
	p, err := s.oidc.discover(r.Context())
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ls := &loginSession{Stage: stageOIDC, OIDCState: randomToken(), OIDCVerifier: oauth2.GenerateVerifier(), AuthCode: r.URL.Query().Get("auth_code")}
	if _, err := s.saveSession(r.Context(), w, r, "", ls); err != nil {
		s.internal(w, r, err)
		return
	}
	url := s.oidc.config(p).AuthCodeURL(ls.OIDCState, oauth2.S256ChallengeOption(ls.OIDCVerifier), oidc.Nonce(ls.OIDCState))
	http.Redirect(w, r, url, http.StatusFound)
}

// oidcCallback is GET /login/oidc/callback: the code is exchanged, the ID token verified, the
// identity mapped to a Tera user (or provisioned), then the login continues as a password
// login would (2FA if the user has it).
func (s *Service) oidcCallback(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if s.oidc == nil {
		http.NotFound(w, r)
		return
	}
	id, ls, err := s.loadSession(ctx, r)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	q := r.URL.Query()
	if ls == nil || ls.Stage != stageOIDC || q.Get("state") == "" || q.Get("state") != ls.OIDCState {
		s.render(w, http.StatusBadRequest, "login", pageData{Title: "Sign in", Error: "The sign-in expired; please try again"})
		return
	}
	if e := q.Get("error"); e != "" {
		s.render(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "The identity provider refused the sign-in"})
		return
	}
	p, err := s.oidc.discover(ctx)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	tok, err := s.oidc.config(p).Exchange(ctx, q.Get("code"), oauth2.VerifierOption(ls.OIDCVerifier))
	if err != nil {
		s.log.Warn("oidc code exchange failed", "err", err)
		s.render(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "The sign-in failed"})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := p.Verifier(&oidc.Config{ClientID: s.oidc.o.ClientID}).Verify(ctx, raw)
	if err != nil || idt.Nonce != ls.OIDCState {
		s.log.Warn("oidc id token refused", "err", err)
		s.render(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "The sign-in failed"})
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		s.internal(w, r, err)
		return
	}
	user, err := s.oidcUser(ctx, claims)
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) {
			s.failed(r, typeToken, authn.KindUser, err)
			s.render(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "No " + s.o.ServerName + " account matches this identity"})
			return
		}
		s.internal(w, r, err)
		return
	}
	if !user.Enabled {
		s.failed(r, typeToken, authn.KindUser, &authn.Error{Reason: authn.ReasonDisabledAccount, UUID: user.UUID})
		s.render(w, http.StatusUnauthorized, "login", pageData{Title: "Sign in", Error: "This account is disabled"})
		return
	}
	ls.OIDCState, ls.OIDCVerifier, ls.UserUUID = "", "", user.UUID
	s.pageNext(w, r, user, id, ls)
}

func claimString(m map[string]any, k string) string {
	v, _ := m[k].(string)
	return v
}

// oidcUser maps ID token claims to a Tera user, provisioning one when configured.
func (s *Service) oidcUser(ctx context.Context, claims map[string]any) (*authn.Principal, error) {
	o := s.oidc.o
	username, email := claimString(claims, o.UsernameClaim), claimString(claims, "email")
	var uuid string
	var err error
	switch o.MatchClaim {
	case "email":
		if verified, _ := claims["email_verified"].(bool); email == "" || !verified {
			return nil, &authn.Error{Reason: authn.ReasonWrongUsername}
		}
		err = s.db.QueryRow(ctx, `SELECT user_uuid FROM core.t_users WHERE deleted_at IS NULL AND lower(user_email) = lower($1)`, email).Scan(&uuid)
	default:
		if username == "" {
			return nil, &authn.Error{Reason: authn.ReasonWrongUsername}
		}
		err = s.db.QueryRow(ctx, `SELECT user_uuid FROM core.t_users WHERE deleted_at IS NULL AND user_username = $1`, username).Scan(&uuid)
	}
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, err // includes several users sharing one email: refused
	}
	if errors.Is(err, pgx.ErrNoRows) {
		if o.ProvisionGroup == 0 {
			return nil, &authn.Error{Reason: authn.ReasonWrongUsername}
		}
		if uuid, err = s.provision(ctx, claims, username, email); err != nil {
			return nil, err
		}
	}
	p, err := s.v.Dir.ByUUID(ctx, authn.KindUser, uuid)
	if err != nil {
		return nil, err
	}
	if p == nil {
		return nil, &authn.Error{Reason: authn.ReasonWrongUsername}
	}
	return p, nil
}

// provision creates an enabled user in the configured group, with a random password it never
// learns (it signs in through the provider).
func (s *Service) provision(ctx context.Context, claims map[string]any, username, email string) (string, error) {
	if username == "" {
		username = email
	}
	if username == "" {
		return "", &authn.Error{Reason: authn.ReasonWrongUsername}
	}
	first, last := claimString(claims, "given_name"), claimString(claims, "family_name")
	if first == "" {
		first = username
	}
	var emailp *string
	if email != "" {
		emailp = &email
	}
	var uid string
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		id, u, err := store.CreateUser(ctx, tx, store.NewUser{Username: username, Password: "Aa1!" + randomToken(), Firstname: first,
			Lastname: last, Email: emailp, Enabled: true})
		if err != nil {
			return err
		}
		uid = u
		_, err = tx.Exec(ctx, `INSERT INTO core.t_users_users_groups (id_user, id_user_group) VALUES ($1, $2)`, id, s.oidc.o.ProvisionGroup)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("provision oidc user: %w", err)
	}
	s.log.Info("oidc user provisioned", "user_uuid", uid, "group", s.oidc.o.ProvisionGroup)
	return uid, nil
}

func randomToken() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
