package servicekit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// TokenSource obtains the service's token from login (OAuth2 client credentials) and hands out
// the cached one until it nears its expiry; safe for concurrent use.
type TokenSource struct {
	http        *http.Client
	endpoint    string
	key, secret string
	now         func() time.Time
	mu          sync.Mutex
	token       string
	refreshAt   time.Time
	ServiceUUID string
}

// NewTokenSource asks baseURL's login target (POST /api/service/token) for tokens.
func NewTokenSource(hc *http.Client, baseURL, key, secret string) *TokenSource {
	return &TokenSource{http: hc, endpoint: strings.TrimSuffix(baseURL, "/") + "/api/service/token", key: key, secret: secret, now: time.Now}
}

// TokenError is login's refusal of the credentials (RFC 6749 §5.2).
type TokenError struct {
	Status      int
	Code        string `json:"error"`
	Description string `json:"error_description"`
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("service token refused (%d %s): %s", e.Status, e.Code, e.Description)
}

// Token returns a valid token, asking login for a new one when the cached one has lived three
// quarters of its lifetime.
func (s *TokenSource) Token(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.token != "" && s.now().Before(s.refreshAt) {
		return s.token, nil
	}
	return s.fetchLocked(ctx)
}

// Invalidate drops the cached token (after a 401: the service may have been re-enabled with a
// new secret, or the key rotated).
func (s *TokenSource) Invalidate() {
	s.mu.Lock()
	s.token = ""
	s.mu.Unlock()
}

func (s *TokenSource) fetchLocked(ctx context.Context) (string, error) {
	form := url.Values{"grant_type": {"client_credentials"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(s.key), url.QueryEscape(s.secret))
	start := s.now()
	resp, err := s.http.Do(req)
	if err != nil {
		return "", fmt.Errorf("service token: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return "", fmt.Errorf("service token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		te := &TokenError{Status: resp.StatusCode}
		_ = json.Unmarshal(b, te)
		return "", te
	}
	var ok struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int64  `json:"expires_in"`
		ServiceUUID string `json:"service_uuid"`
	}
	if err := json.Unmarshal(b, &ok); err != nil || ok.AccessToken == "" || ok.ExpiresIn <= 0 {
		return "", fmt.Errorf("service token: unexpected answer %q", b)
	}
	s.token, s.ServiceUUID = ok.AccessToken, ok.ServiceUUID
	s.refreshAt = start.Add(time.Duration(ok.ExpiresIn) * time.Second * 3 / 4)
	return s.token, nil
}
