package authn

import (
	"crypto"
	"sync"
	"time"
)

// tokenCache remembers tokens whose signature and claims verified, so a client reusing its
// token (every request of a session) costs a map lookup instead of an ES256 verification.
// An entry is used only while the key that verified it is still the key set's key of that
// kid (a removed or replaced key stops its tokens at once), and the expiry is checked on every
// use. Revocation and the principal are checked on every request, cached or not.
type tokenCache struct {
	max int

	mu      sync.RWMutex
	entries map[string]*verifiedToken
}

type verifiedToken struct {
	kind   Kind
	claims Claims
	kid    string
	key    crypto.PublicKey
}

func newTokenCache(max int) *tokenCache {
	return &tokenCache{max: max, entries: map[string]*verifiedToken{}}
}

func (c *tokenCache) get(token string) (*verifiedToken, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.entries[token]
	c.mu.RUnlock()
	return e, ok
}

func (c *tokenCache) put(token string, e *verifiedToken, now time.Time) {
	if c == nil || c.max <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for t, old := range c.entries { // expired first, then arbitrary ones
			if now.After(old.claims.ExpiresAt.Time) || len(c.entries) >= c.max {
				delete(c.entries, t)
			}
			if len(c.entries) < c.max*3/4 {
				break
			}
		}
	}
	c.entries[token] = e
}

func (c *tokenCache) drop(token string) {
	c.mu.Lock()
	delete(c.entries, token)
	c.mu.Unlock()
}
