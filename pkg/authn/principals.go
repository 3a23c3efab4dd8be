package authn

import (
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"
)

// PrincipalCacheTTL is the longest a cached principal is used: the bound on how late a
// disabled or deleted principal is refused when no invalidation reaches the cache (database
// events stopped, relay down). With events flowing it is refused as soon as the event arrives.
const PrincipalCacheTTL = 5 * time.Second

// PrincipalCache remembers the principals token requests look up (by uuid, or by static
// token), so a token request does not query the directory each time. Whoever sees the
// database change calls Invalidate (the fleet does on every DatabaseEvent of a user,
// participant, project, device or service); entries also expire after the TTL. The cache only
// answers while its feed says it is live (SetLive): a feed that may have missed events turns it
// off, which empties it.
type PrincipalCache struct {
	ttl time.Duration
	max int
	now func() time.Time

	live atomic.Bool
	mu   sync.RWMutex
	// gen counts invalidations: a lookup started before one must not store its (possibly
	// stale) result after it.
	gen   uint64
	byKey map[principalKey]cachedPrincipal
	byID  map[principalID]map[principalKey]struct{}
}

type principalKey struct {
	kind Kind
	// static says uuid holds the sha256 of a static token rather than a uuid.
	static bool
	id     string
}

type principalID struct {
	kind Kind
	id   int64
}

type cachedPrincipal struct {
	p       *Principal
	expires time.Time
}

// NewPrincipalCache returns a cache holding up to max principals for ttl each (ttl <= 0:
// PrincipalCacheTTL). It starts not live.
func NewPrincipalCache(ttl time.Duration, max int) *PrincipalCache {
	if ttl <= 0 {
		ttl = PrincipalCacheTTL
	}
	return &PrincipalCache{ttl: ttl, max: max, now: time.Now, byKey: map[principalKey]cachedPrincipal{},
		byID: map[principalID]map[principalKey]struct{}{}}
}

func uuidKey(kind Kind, uuid string) principalKey { return principalKey{kind: kind, id: uuid} }

func staticKey(kind Kind, token string) principalKey {
	h := sha256.Sum256([]byte(token))
	return principalKey{kind: kind, static: true, id: string(h[:])}
}

// SetLive turns the cache on or off; turning it off (or on again) empties it, since
// invalidations may have been missed in between.
func (c *PrincipalCache) SetLive(live bool) {
	c.mu.Lock()
	c.flushLocked()
	c.live.Store(live)
	c.mu.Unlock()
}

// Live reports whether the cache answers.
func (c *PrincipalCache) Live() bool { return c != nil && c.live.Load() }

// get returns a copy of a cached principal.
func (c *PrincipalCache) get(k principalKey) (*Principal, bool) {
	if !c.Live() {
		return nil, false
	}
	c.mu.RLock()
	e, ok := c.byKey[k]
	c.mu.RUnlock()
	if !ok || c.now().After(e.expires) {
		return nil, false
	}
	p := *e.p
	return &p, true
}

// generation is read before a directory lookup whose result put will store.
func (c *PrincipalCache) generation() uint64 {
	if c == nil {
		return 0
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.gen
}

func (c *PrincipalCache) put(k principalKey, p *Principal, gen uint64) {
	if !c.Live() || p == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen || !c.live.Load() {
		return
	}
	now := c.now()
	if len(c.byKey) >= c.max {
		for key, e := range c.byKey { // expired first, then arbitrary ones
			if now.After(e.expires) || len(c.byKey) >= c.max {
				c.removeLocked(key, e.p)
			}
			if len(c.byKey) < c.max*3/4 {
				break
			}
		}
	}
	cp := *p
	if old, ok := c.byKey[k]; ok {
		c.removeLocked(k, old.p)
	}
	c.byKey[k] = cachedPrincipal{p: &cp, expires: now.Add(c.ttl)}
	id := principalID{p.Kind, p.ID}
	if c.byID[id] == nil {
		c.byID[id] = map[principalKey]struct{}{}
	}
	c.byID[id][k] = struct{}{}
}

func (c *PrincipalCache) removeLocked(k principalKey, p *Principal) {
	delete(c.byKey, k)
	id := principalID{p.Kind, p.ID}
	if keys := c.byID[id]; keys != nil {
		delete(keys, k)
		if len(keys) == 0 {
			delete(c.byID, id)
		}
	}
}

// forget drops one entry (its principal is gone).
func (c *PrincipalCache) forget(k principalKey) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if e, ok := c.byKey[k]; ok {
		c.removeLocked(k, e.p)
	}
}

// Invalidate drops every entry of one principal.
func (c *PrincipalCache) Invalidate(kind Kind, id int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	pid := principalID{kind, id}
	for k := range c.byID[pid] {
		delete(c.byKey, k)
	}
	delete(c.byID, pid)
}

// InvalidateKind drops every entry of one kind (e.g. participants when a project is disabled).
func (c *PrincipalCache) InvalidateKind(kind Kind) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for k, e := range c.byKey {
		if k.kind == kind {
			c.removeLocked(k, e.p)
		}
	}
}

// Flush empties the cache.
func (c *PrincipalCache) Flush() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.flushLocked()
}

func (c *PrincipalCache) flushLocked() {
	c.gen++
	clear(c.byKey)
	clear(c.byID)
}

// Len is the number of cached principals.
func (c *PrincipalCache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.byKey)
}
