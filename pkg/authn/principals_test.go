package authn

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Authenticate answers token requests from the principal cache while it is live; Verify (login's
// decisions) reads the directory and refreshes the entry; invalidations and the TTL bound what
// a cached answer can miss.
func TestPrincipalCache(t *testing.T) {
	f := newFixture(t)
	c := NewPrincipalCache(time.Hour, 100)
	f.v.Principals = c
	tok, _ := f.signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	dev := f.staticToken(deviceUUID)
	auth := func(tk string) error { _, err := f.authenticate("OpenTera " + tk); return err }

	// Not live: every request asks the directory.
	before := f.dir.lookups.Load()
	_ = auth(tok)
	_ = auth(tok)
	if got := f.dir.lookups.Load() - before; got != 2 || c.Len() != 0 {
		t.Fatalf("cache off: %d lookups, %d cached", got, c.Len())
	}
	c.SetLive(true)
	before = f.dir.lookups.Load()
	for range 3 {
		if err := auth(tok); err != nil {
			t.Fatal(err)
		}
		if err := auth(dev); err != nil {
			t.Fatal(err)
		}
	}
	if got := f.dir.lookups.Load() - before; got != 2 || c.Len() != 2 {
		t.Fatalf("cache live: %d lookups, %d cached (want 2, 2)", got, c.Len())
	}

	// A change the cache has not heard of is still served from it; Verify sees it at once.
	f.dir.set(userUUID, func(p *Principal) { p.Enabled = false })
	if err := auth(tok); err != nil {
		t.Fatalf("stale entry before its invalidation: %v", err)
	}
	if _, _, err := f.v.VerifyToken(context.Background(), tok); reasonOf(t, err) != ReasonDisabledAccount {
		t.Fatalf("Verify reads the directory: %v", err)
	}
	// ... and that refreshed the entry for Authenticate.
	if err := auth(tok); reasonOf(t, err) != ReasonDisabledAccount {
		t.Fatalf("entry refreshed by Verify: %v", err)
	}
	f.dir.set(userUUID, func(p *Principal) { p.Enabled = true })
	c.Invalidate(KindUser, 1)
	if err := auth(tok); err != nil {
		t.Fatalf("after invalidation: %v", err)
	}
	f.dir.set(deviceUUID, func(p *Principal) { p.Enabled = false })
	c.Invalidate(KindUser, 3) // another kind's id 3 leaves the device alone
	if err := auth(dev); err != nil {
		t.Fatal(err)
	}
	c.InvalidateKind(KindDevice)
	if err := auth(dev); reasonOf(t, err) != ReasonDisabledAccount {
		t.Fatalf("device after InvalidateKind: %v", err)
	}

	// A lookup that raced an invalidation does not store its result.
	gen := c.generation()
	c.Invalidate(KindUser, 1)
	c.put(uuidKey(KindUser, "racer"), &Principal{Kind: KindUser, ID: 9, UUID: "racer"}, gen)
	if _, ok := c.get(uuidKey(KindUser, "racer")); ok {
		t.Fatal("a result older than an invalidation was cached")
	}

	// Entries expire after the TTL.
	clock := time.Now()
	c.now = func() time.Time { return clock }
	c.Flush()
	f.dir.set(userUUID, func(p *Principal) { p.Enabled = true })
	_ = auth(tok)
	f.dir.set(userUUID, func(p *Principal) { p.Enabled = false })
	clock = clock.Add(time.Hour + time.Second)
	if err := auth(tok); reasonOf(t, err) != ReasonDisabledAccount {
		t.Fatalf("after the TTL: %v", err)
	}

	// Turning the cache off (its feed may have missed events) empties it.
	if c.Len() == 0 {
		t.Fatal("nothing cached")
	}
	c.SetLive(false)
	if c.Len() != 0 || c.Live() {
		t.Fatal("cache not emptied when turned off")
	}

	// The cache stays within its bound.
	c.SetLive(true)
	for i := range 250 {
		c.put(uuidKey(KindUser, RandomHex(4)), &Principal{Kind: KindUser, ID: int64(100 + i)}, c.generation())
	}
	if n := c.Len(); n > 100 {
		t.Fatalf("%d entries over a bound of 100", n)
	}
}

// Static tokens are minted as OpenTera does (HS256 under a server key, no exp) and verified by
// equality with the stored token alone.
func TestStaticTokenMinting(t *testing.T) {
	f := newFixture(t)
	tok, err := StaticToken("participant-key", Claims{ParticipantUUID: staticPartUUID, IDParticipant: 5})
	if err != nil {
		t.Fatal(err)
	}
	var c Claims
	tk, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"})).ParseWithClaims(tok, &c,
		func(*jwt.Token) (any, error) { return []byte("participant-key"), nil })
	if err != nil || !tk.Valid || c.Issuer != Issuer || c.ID == "" || c.ExpiresAt != nil || c.IssuedAt != nil || c.IDParticipant != 5 {
		t.Fatalf("static token %v: %+v", err, c)
	}
	if other, _ := StaticToken("participant-key", Claims{ParticipantUUID: staticPartUUID, IDParticipant: 5}); other == tok {
		t.Fatal("two static tokens alike (no random jti)")
	}
	if _, _, err := f.v.VerifyToken(context.Background(), tok); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatalf("a static token nobody stores: %v", err)
	}
	f.dir.set(staticPartUUID, func(p *Principal) { p.StaticToken = tok })
	if c, _, err := f.v.VerifyToken(context.Background(), tok); err != nil || c.Method != MethodStaticToken || c.Full {
		t.Fatalf("stored static token: %+v %v", c, err)
	}
	for _, bad := range []Claims{{UserUUID: userUUID}, {ServiceUUID: serviceUUID}, {}} {
		if _, err := StaticToken("k", bad); err == nil {
			t.Fatalf("static token for %+v", bad)
		}
	}
	if _, err := StaticToken("", Claims{DeviceUUID: deviceUUID}); err == nil {
		t.Fatal("static token with an empty key")
	}
}
