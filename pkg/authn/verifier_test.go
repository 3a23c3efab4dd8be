package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// Every token kind yields the caller OpenTera's roles need, by every header form.
func TestTokenKindsAndHeaderForms(t *testing.T) {
	f := newFixture(t)
	sa := map[string][]string{"LoggingService": {"admin"}}
	user, _ := f.signer.UserToken(1, userUUID, "Super Admin", true, sa, time.Hour)
	part, _ := f.signer.ParticipantToken(2, participantUUID, "P1", time.Hour)
	svc, _ := f.signer.ServiceToken(serviceUUID)
	cases := []struct {
		name   string
		token  string
		kind   Kind
		id     int64
		method Method
		full   bool
		exp    bool
	}{
		{"user", user, KindUser, 1, MethodToken, false, true},
		{"participant dynamic (full)", part, KindParticipant, 2, MethodToken, true, true},
		{"service", svc, KindService, 4, MethodToken, false, true},
		{"device static", f.staticToken(deviceUUID), KindDevice, 3, MethodStaticToken, false, false},
		{"participant static (limited)", f.staticToken(staticPartUUID), KindParticipant, 5, MethodStaticToken, false, false},
	}
	for _, c := range cases {
		forms := map[string]Credentials{
			"OpenTera": {Authorization: "OpenTera " + c.token},
			"Bearer":   {Authorization: "Bearer " + c.token},
			"opentera": {Authorization: "opentera  " + c.token + " "},
			"?token=":  {Token: c.token},
		}
		for form, cr := range forms {
			got, p, err := f.v.Verify(context.Background(), cr, false)
			if err != nil {
				t.Fatalf("%s, %s: %v", c.name, form, err)
			}
			if got.Kind != c.kind || got.ID != c.id || got.Method != c.method || got.Full != c.full || p.Kind != c.kind ||
				got.TokenID == "" || got.TokenExpires.IsZero() == c.exp {
				t.Fatalf("%s, %s: caller %+v", c.name, form, got)
			}
		}
	}
	c, _, _ := f.v.Verify(context.Background(), Credentials{Authorization: "OpenTera " + user}, false)
	if !c.Superadmin || c.ServiceAccess["LoggingService"][0] != "admin" || c.Name != "admin" {
		t.Fatalf("user caller %+v", c)
	}

	// The gateway forwards the header and ?token= as metadata; a plain HTTP route reads the request.
	for name, md := range map[string]metadata.MD{"authorization": metadata.Pairs("authorization", "Bearer "+svc), "tera-token": metadata.Pairs("tera-token", svc)} {
		c, err := f.v.Authenticate(metadata.NewIncomingContext(context.Background(), md))
		if err != nil || c.Kind != KindService {
			t.Fatalf("metadata %s: %+v %v", name, c, err)
		}
	}
	r := httptest.NewRequest("GET", "/api/user/sites?token="+user, nil)
	if c, _, err := f.v.Verify(context.Background(), CredentialsFromRequest(r), false); err != nil || c.Kind != KindUser {
		t.Fatalf("?token= on a request: %+v %v", c, err)
	}

	// No credentials: anonymous, not a failure. An unknown scheme is a failure.
	if c, p, err := f.v.Verify(context.Background(), Credentials{}, false); c != nil || p != nil || err != nil {
		t.Fatalf("no credentials: %v %v %v", c, p, err)
	}
	if _, _, err := f.v.Verify(context.Background(), Credentials{Authorization: "Digest " + user}, false); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatal("unknown scheme accepted")
	}
}

// Forged, expired, early and malformed tokens are refused, whether or not the verifier has
// seen a valid token before (the verified-token cache must not change the answer).
func TestRefusedTokens(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	base := func() Claims {
		sa := false
		return Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: Issuer, ID: RandomHex(8), IssuedAt: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, UserUUID: userUUID, IDUser: 1, UserSuperadmin: &sa}
	}
	signWith := func(c Claims, m jwt.SigningMethod, kid string, key any) string {
		tk := jwt.NewWithClaims(m, &c)
		tk.Header["kid"] = kid
		s, err := tk.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := signWith(base(), jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv)
	if _, err := f.authenticate("OpenTera " + good); err != nil {
		t.Fatal(err)
	}
	expired := base()
	expired.ExpiresAt = jwt.NewNumericDate(now.Add(-10 * time.Second))
	withinLeeway := base()
	withinLeeway.ExpiresAt = jwt.NewNumericDate(now.Add(-2 * time.Second))
	early := base()
	early.NotBefore = jwt.NewNumericDate(now.Add(time.Minute))
	noJTI := base()
	noJTI.ID = ""
	noExp := base()
	noExp.ExpiresAt = nil
	wrongIss := base()
	wrongIss.Issuer = "someone else"
	two := base()
	two.DeviceUUID = deviceUUID
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, &Claims{RegisteredClaims: base().RegisteredClaims, UserUUID: userUUID}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	parts := strings.Split(good, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(payload), `"user_superadmin":false`, `"user_superadmin":true`, 1))) + "." + parts[2]
	unstoredStatic, _ := f.signer.DeviceStaticToken(3, deviceUUID+"x")

	if _, err := f.authenticate("OpenTera " + signWith(withinLeeway, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv)); err != nil {
		t.Fatalf("expired within the 5 s leeway: %v", err)
	}
	cases := map[string]struct {
		token string
		want  Reason
	}{
		"expired":                    {signWith(expired, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv), ReasonExpiredToken},
		"not yet valid":              {signWith(early, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv), ReasonInvalidToken},
		"wrong key, known kid":       {signWith(base(), jwt.SigningMethodES256, "k1", other), ReasonInvalidToken},
		"unknown kid":                {signWith(base(), jwt.SigningMethodES256, "k2", other), ReasonInvalidToken},
		"alg none":                   {none, ReasonInvalidToken},
		"HS256 with the public JWKS": {signWith(base(), jwt.SigningMethodHS256, "k1", f.v.Keys.JWKS()), ReasonInvalidToken},
		"tampered payload":           {tampered, ReasonInvalidToken},
		"no jti":                     {signWith(noJTI, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv), ReasonInvalidToken},
		"user token without exp":     {signWith(noExp, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv), ReasonInvalidToken},
		"wrong issuer":               {signWith(wrongIss, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv), ReasonInvalidToken},
		"two principals":             {signWith(two, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv), ReasonInvalidToken},
		"unstored static token":      {unstoredStatic, ReasonInvalidToken},
		"garbage":                    {"abc.def.ghi", ReasonInvalidToken},
	}
	for name, c := range cases {
		for range 2 { // the second time, after any caching
			if _, err := f.authenticate("OpenTera " + c.token); reasonOf(t, err) != c.want {
				t.Fatalf("%s: %v, want reason %d", name, err, c.want)
			}
			if _, _, err := f.v.Verify(context.Background(), Credentials{Token: c.token}, false); reasonOf(t, err) != c.want {
				t.Fatalf("%s (?token=): %v, want reason %d", name, err, c.want)
			}
		}
	}

	// A token verified (and cached) while valid is refused once it expires.
	clock := now
	f.v.Now = func() time.Time { return clock }
	short := base()
	short.ExpiresAt = jwt.NewNumericDate(now.Add(time.Minute))
	tok := signWith(short, jwt.SigningMethodES256, "k1", f.v.Keys.keys["k1"].priv)
	if _, err := f.authenticate("OpenTera " + tok); err != nil {
		t.Fatal(err)
	}
	clock = now.Add(time.Minute + 6*time.Second)
	if _, err := f.authenticate("OpenTera " + tok); reasonOf(t, err) != ReasonExpiredToken {
		t.Fatalf("cached token past its expiry: %v", err)
	}
}

// Disabled, deleted and login-disabled principals are refused, static tokens included.
func TestPrincipalState(t *testing.T) {
	f := newFixture(t)
	user, _ := f.signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	dev := f.staticToken(deviceUUID)
	f.dir.set(userUUID, func(p *Principal) { p.Enabled = false })
	if _, _, err := f.v.VerifyToken(context.Background(), user); reasonOf(t, err) != ReasonDisabledAccount {
		t.Fatalf("disabled user: %v", err)
	}
	f.dir.remove(userUUID)
	if _, _, err := f.v.VerifyToken(context.Background(), user); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatalf("deleted user: %v", err)
	}
	f.dir.set(deviceUUID, func(p *Principal) { p.Enabled = false })
	if _, _, err := f.v.VerifyToken(context.Background(), dev); reasonOf(t, err) != ReasonDisabledAccount {
		t.Fatalf("disabled device: %v", err)
	}
	f.dir.set(deviceUUID, func(p *Principal) { p.Enabled = true; p.StaticToken = "rotated" })
	if _, _, err := f.v.VerifyToken(context.Background(), dev); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatalf("replaced static token: %v", err)
	}
	f.dir.set(participantUUID, func(p *Principal) { p.LoginEnabled = false })
	if _, _, err := f.v.VerifyPassword(context.Background(), KindParticipant, "participant1", "opentera"); reasonOf(t, err) != ReasonWrongUsername {
		t.Fatalf("participant without login: %v", err)
	}
}

// A revoked token is refused: by Verify at once (it reads the bucket), and by Authenticate,
// which answers from the local set once that is in sync, within RevocationBound.
func TestRevocation(t *testing.T) {
	f := newFixture(t)
	f.v.Revocations = NewRevocationSet(f.v.State, nil)
	var skew atomic.Int64
	f.v.Revocations.now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	if _, known := f.v.Revocations.Revoked("x"); known {
		t.Fatal("a set that never synced answered")
	}
	runInBackground(t, f.v.Revocations.Run)
	eventually(t, 10*time.Second, "revocation set in sync", f.v.Revocations.Synced)
	// Freshness must be proven again and again: with no proof for RevocationBound (here the
	// clock jumps), the set stops answering until a new probe proves it current.
	skew.Store(int64(2 * RevocationBound))
	if _, known := f.v.Revocations.Revoked("x"); known {
		t.Fatal("a set without a recent proof of freshness answered")
	}
	eventually(t, 5*time.Second, "freshness proven again", f.v.Revocations.Synced)
	tok, _ := f.signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	other, _ := f.signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	c, err := f.authenticate("OpenTera " + tok)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.v.State.Revoke(context.Background(), c.TokenID, c.TokenExpires); err != nil {
		t.Fatal(err)
	}
	if err := f.v.State.Revoke(context.Background(), c.TokenID, c.TokenExpires); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, _, err := f.v.VerifyToken(context.Background(), tok); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatalf("revoked token on Verify: %v", err)
	}
	start := time.Now()
	for {
		_, err := f.authenticate("OpenTera " + tok)
		if err != nil {
			if reasonOf(t, err) != ReasonInvalidToken {
				t.Fatal(err)
			}
			break
		}
		if time.Since(start) > RevocationBound {
			t.Fatalf("revoked token accepted after %s", time.Since(start))
		}
	}
	if _, err := f.authenticate("OpenTera " + other); err != nil {
		t.Fatalf("another token of the same user: %v", err)
	}
	if r, known := f.v.Revocations.Revoked(c.TokenID); !r || !known {
		t.Fatalf("local set: revoked %v known %v", r, known)
	}
	// An expired token needs no entry; revoking it is a no-op, not an error.
	if err := f.v.State.Revoke(context.Background(), "old", time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}

	// Cut off from NATS, the set stops answering and Authenticate answers 503, never a stale yes.
	f.nc.Close()
	eventually(t, 5*time.Second, "set out of sync", func() bool { return !f.v.Revocations.Synced() })
	if _, err := f.authenticate("OpenTera " + other); status.Code(err) != codes.Unavailable {
		t.Fatalf("without NATS: %v", err)
	}
}

// Rotation: a new key verifies at once and signs after SignDelay; tokens of a removed key are
// refused at once, even those the verifier already cached.
func TestKeyRotation(t *testing.T) {
	f := newFixture(t)
	dir := t.TempDir()
	kid1, err := GenerateKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := LoadKeySet(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := time.Now()
	ks.now = func() time.Time { return clock }
	f.v.Keys = ks
	signer := &Signer{Keys: ks}
	old, _ := signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	if kidOf(t, old) != kid1 {
		t.Fatal("first key does not sign")
	}
	if _, err := f.authenticate("OpenTera " + old); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Millisecond) // kids are creation times
	kid2, err := GenerateKeyFile(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := ks.Reload(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ks.JWKS()), kid2) {
		t.Fatal("new key not published")
	}
	tok, _ := signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	if kidOf(t, tok) != kid1 {
		t.Fatal("a new key signs before SignDelay")
	}
	clock = clock.Add(SignDelay)
	tok, _ = signer.UserToken(1, userUUID, "", true, nil, time.Hour)
	if kidOf(t, tok) != kid2 {
		t.Fatal("the new key does not sign after SignDelay")
	}
	for _, tk := range []string{old, tok} {
		if _, err := f.authenticate("OpenTera " + tk); err != nil {
			t.Fatalf("both keys verify: %v", err)
		}
	}
	if err := removeKey(dir, kid1); err != nil {
		t.Fatal(err)
	}
	if err := ks.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.authenticate("OpenTera " + old); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatalf("token of a removed key: %v", err)
	}
	if _, err := f.authenticate("OpenTera " + tok); err != nil {
		t.Fatal(err)
	}
	// Static tokens are checked against the database, not a key: removing the key that signed
	// them does not log devices out.
	if _, _, err := f.v.VerifyToken(context.Background(), f.staticToken(deviceUUID)); err != nil {
		t.Fatalf("static token after rotation: %v", err)
	}
	// A directory left empty keeps the current keys.
	if err := removeKey(dir, kid2); err != nil {
		t.Fatal(err)
	}
	if err := ks.Reload(); err == nil {
		t.Fatal("reload of an empty directory succeeded")
	}
	if _, err := f.authenticate("OpenTera " + tok); err != nil {
		t.Fatalf("keys dropped by a failed reload: %v", err)
	}
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, &Claims{})
	if err != nil {
		t.Fatal(err)
	}
	kid, _ := tk.Header["kid"].(string)
	return kid
}

// HTTP Basic: bcrypt once, then the keyed-hash cache; a password change (a new stored hash)
// invalidates the cached pair at once; the cache expires; failures lock the account.
func TestBasicCacheAndLockout(t *testing.T) {
	f := newFixture(t)
	var compared int
	f.v.CompareHash = func(h, p []byte) error { compared++; return bcryptCompare(h, p) }
	basic := func(user, pw string) (*Caller, error) {
		c, _, err := f.v.Verify(context.Background(), Credentials{Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))}, false)
		return c, err
	}
	if c, err := basic("admin", "secret"); err != nil || c.Method != MethodPassword || c.Kind != KindUser {
		t.Fatalf("basic: %+v %v", c, err)
	}
	if _, err := basic("admin", "secret"); err != nil || compared != 1 {
		t.Fatalf("second basic: %v, %d bcrypt comparisons", err, compared)
	}
	f.dir.set(userUUID, func(p *Principal) { p.PasswordHash = hash(t, "changed") })
	if _, err := basic("admin", "secret"); reasonOf(t, err) != ReasonWrongPassword {
		t.Fatalf("old password after a change: %v", err)
	}
	if _, err := basic("admin", "changed"); err != nil || compared != 3 {
		t.Fatalf("new password: %v (%d comparisons)", err, compared)
	}
	clock := time.Now()
	f.v.Now = func() time.Time { return clock }
	if _, err := basic("admin", "changed"); err != nil || compared != 3 {
		t.Fatalf("cached: %v (%d comparisons)", err, compared)
	}
	clock = clock.Add(time.Minute + time.Second)
	if _, err := basic("admin", "changed"); err != nil || compared != 4 {
		t.Fatalf("after the cache TTL: %v (%d comparisons)", err, compared)
	}
	// Participants log in with Basic too (users first, then participants).
	if c, err := basic("participant1", "opentera"); err != nil || c.Kind != KindParticipant || !c.Full {
		t.Fatalf("participant basic: %+v %v", c, err)
	}
	if _, err := basic("nobody", "x"); reasonOf(t, err) != ReasonWrongUsername {
		t.Fatalf("unknown user: %v", err)
	}
	for i := range MaxLoginAttempts {
		if _, err := basic("participant1", "wrong"); reasonOf(t, err) != ReasonWrongPassword {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	if _, err := basic("participant1", "opentera"); reasonOf(t, err) != ReasonTooManyAttempts {
		t.Fatalf("after %d failures: %v", MaxLoginAttempts, err)
	}
	// Users who must pass 2FA or change their password may use Basic only on login endpoints.
	f.dir.set(userUUID, func(p *Principal) { p.TwoFA = true })
	if _, err := basic("admin", "changed"); reasonOf(t, err) != reasonBasicNotAllowed {
		t.Fatalf("basic for a 2FA user: %v", err)
	}
	if _, _, err := f.v.Verify(context.Background(), Credentials{Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("admin:changed"))}, true); err != nil {
		t.Fatalf("basic for a 2FA user on a login endpoint: %v", err)
	}
	if _, err := basic("admin", ""); reasonOf(t, err) != ReasonWrongPassword {
		t.Fatalf("empty password: %v", err)
	}
	if _, _, err := f.v.Verify(context.Background(), Credentials{Authorization: "Basic !!!"}, false); reasonOf(t, err) != ReasonInvalidToken {
		t.Fatalf("malformed basic: %v", err)
	}
}
