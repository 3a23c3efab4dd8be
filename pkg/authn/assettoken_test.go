package authn

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"
	"time"
)

// An asset token verifies with the key set alone, names its assets and requester, expires after
// 30 minutes, and never passes for a principal token (nor a principal token for it).
func TestAssetToken(t *testing.T) {
	f := newFixture(t)
	now := time.Now()
	f.signer.Now = func() time.Time { return now }
	tok, err := f.signer.AssetToken(userUUID, []string{"a1", "a2"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := f.v.VerifyAssetToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Allows("a1") || !c.Allows("a2") || c.Allows("a") || c.RequesterUUID != userUUID || c.Issuer != Issuer ||
		c.ExpiresAt.Sub(c.IssuedAt.Time) != AssetTokenLifetime {
		t.Errorf("claims %+v", c)
	}
	if _, err := f.authenticate("OpenTera " + tok); err == nil {
		t.Error("an asset token authenticated a request")
	}
	user, _ := f.signer.UserToken(1, userUUID, "Super Admin", true, nil, time.Hour)
	if _, err := f.v.VerifyAssetToken(user); err == nil {
		t.Error("a user token passed for an asset token")
	}
	f.v.Now = func() time.Time { return now.Add(AssetTokenLifetime + time.Minute) }
	if _, err := f.v.VerifyAssetToken(tok); err == nil {
		t.Error("an expired asset token verified")
	}
	f.v.Now = nil
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged, _ := (&Signer{Keys: NewKeySet(map[string]*ecdsa.PrivateKey{"k1": other})}).AssetToken(userUUID, []string{"a1"})
	if _, err := f.v.VerifyAssetToken(forged); err == nil {
		t.Error("a token signed by another key verified")
	}
	if _, err := f.signer.AssetToken(userUUID, nil); err == nil {
		t.Error("a token naming no asset was signed")
	}
	tt, _ := f.signer.TestTypeToken(userUUID, []string{"t1"}, true)
	if c, err := f.v.VerifyAssetToken(tt); err != nil || !c.AllowsTestType("t1") || c.Allows("t1") || c.CanEdit == nil || !*c.CanEdit {
		t.Errorf("test type token: %+v %v", c, err)
	}
	test, _ := f.signer.TestToken(userUUID, []string{"x"})
	if c, err := f.v.VerifyAssetToken(test); err != nil || !c.AllowsTest("x") || c.CanEdit != nil {
		t.Errorf("test token: %+v %v", c, err)
	}
}
