package authn

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"sync"
	"time"
)

// basicCache remembers, for a short while, that a username/password pair matched a given
// bcrypt hash, so repeated HTTP Basic requests skip bcrypt. Entries are keyed by an HMAC of
// kind, username and password under a per-process random key (the password is never stored,
// and the key cannot be used offline). An entry only counts while the principal's current hash
// equals the one it matched, so a password change anywhere invalidates it at once.
type basicCache struct {
	key []byte
	ttl time.Duration
	max int

	mu      sync.Mutex
	entries map[[32]byte]basicEntry
}

type basicEntry struct {
	hash    string
	expires time.Time
}

func newBasicCache(ttl time.Duration, max int) *basicCache {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return &basicCache{key: k, ttl: ttl, max: max, entries: map[[32]byte]basicEntry{}}
}

func (c *basicCache) id(kind Kind, username, password string) [32]byte {
	m := hmac.New(sha256.New, c.key)
	m.Write([]byte{byte(kind), 0})
	m.Write([]byte(username))
	m.Write([]byte{0})
	m.Write([]byte(password))
	var out [32]byte
	copy(out[:], m.Sum(nil))
	return out
}

func (c *basicCache) ok(id [32]byte, currentHash string, now time.Time) bool {
	if c == nil || c.ttl <= 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, found := c.entries[id]
	if !found {
		return false
	}
	if now.After(e.expires) || e.hash != currentHash {
		delete(c.entries, id)
		return false
	}
	return true
}

func (c *basicCache) put(id [32]byte, hash string, now time.Time) {
	if c == nil || c.ttl <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		for k, e := range c.entries { // drop expired, then arbitrary entries
			if now.After(e.expires) || len(c.entries) >= c.max {
				delete(c.entries, k)
			}
			if len(c.entries) < c.max*3/4 {
				break
			}
		}
	}
	c.entries[id] = basicEntry{hash: hash, expires: now.Add(c.ttl)}
}
