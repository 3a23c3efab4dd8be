package login_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/tera-health/tera/pkg/authn"
)

// Forged, expired, tampered and revoked tokens are all refused with OpenTera's 401, by the
// login target and by every other target through pkg/server (core's REST API here).
func TestTokenSecurity(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	adminUUID := e.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`)
	user4UUID := e.scalar(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user4'`)
	kid := strings.TrimSuffix(strings.TrimPrefix(func() string {
		b := string(e.keys.JWKS())
		i := strings.Index(b, `"kid":"`)
		return b[i+7:]
	}(), ""), "")
	kid = kid[:strings.Index(kid, `"`)]
	valid := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}}).str("user_token", t)
	wantCode(t, "valid token on core", do(t, req{url: core + "/api/user/sites", token: valid}), 200)

	now := time.Now()
	claims := func() *authn.Claims {
		f := false
		return &authn.Claims{RegisteredClaims: jwt.RegisteredClaims{Issuer: authn.Issuer, ID: "x-" + authn.RandomHex(4), IssuedAt: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour))}, UserUUID: adminUUID, IDUser: 1, UserFullname: "Super Admin", UserSuperadmin: &f}
	}
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	wk := jwt.NewWithClaims(jwt.SigningMethodES256, claims())
	wk.Header["kid"] = kid
	wrongKey, _ := wk.SignedString(other)
	hs := jwt.NewWithClaims(jwt.SigningMethodHS256, claims())
	hs.Header["kid"] = kid
	hsToken, _ := hs.SignedString(e.keys.JWKS()) // alg confusion: the public JWKS as an HMAC secret
	expired, _ := (&authn.Signer{Keys: e.keys, Now: func() time.Time { return now.Add(-2 * time.Hour) }}).UserToken(1, adminUUID, "Super Admin", true, nil, time.Hour)
	// Tampered: user4's valid token turned into admin's, signature kept.
	parts := strings.Split(valid, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	forged := strings.ReplaceAll(string(payload), user4UUID, adminUUID)
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(forged)) + "." + parts[2]
	// A "static" device token signed with the right key but not stored for any device.
	unstored, _ := (&authn.Signer{Keys: e.keys}).DeviceStaticToken(1, "b707e0b2-e649-47e7-a938-2b949c423f73")
	// A token for a principal kind mix.
	mixed := claims()
	mixed.DeviceUUID = "b707e0b2-e649-47e7-a938-2b949c423f73"
	mixedTok, _ := (&authn.Signer{Keys: e.keys}).Sign(*mixed, time.Hour)

	for name, tok := range map[string]string{"alg none": none, "wrong key": wrongKey, "HS256 with the public key": hsToken, "expired": expired,
		"tampered": tampered, "garbage": "abc.def.ghi", "unstored static token": unstored, "two principals": mixedTok} {
		wantUnauthorized(t, name+" on login", do(t, req{url: a + "/api/user/refresh_token", token: tok}))
		wantUnauthorized(t, name+" on core", do(t, req{url: core + "/api/user/sites", token: tok}))
		wantUnauthorized(t, name+" on core ?token=", do(t, req{url: core + "/api/user/sites?token=" + tok}))
	}
	wantUnauthorized(t, "unstored static device token", do(t, req{url: a + "/api/device/login", token: unstored}))

	// Revoked on the login target, refused by core within authn.RevocationBound (core answers
	// from its local revocation set); Bearer works as OpenTera does.
	wantCode(t, "bearer", do(t, req{url: core + "/api/user/sites", header: map[string]string{"Authorization": "Bearer " + valid}}), 200)
	wantCode(t, "logout", do(t, req{url: a + "/api/user/logout", token: valid}), 200)
	wantUnauthorizedWithin(t, "revoked on core", authn.RevocationBound, func() response { return do(t, req{url: core + "/api/user/sites", token: valid}) })
	wantUnauthorized(t, "revoked on login", do(t, req{url: a + "/api/user/refresh_token", token: valid}))

	// Disabled principals are refused though their token is valid: by core once its principal
	// cache hears the DatabaseEvent (PrincipalCacheTTL at the latest), by login at once.
	t2 := do(t, req{url: a + "/api/user/login", basic: [2]string{"user4", "user4"}}).str("user_token", t)
	wantCode(t, "user4's new token on core", do(t, req{url: core + "/api/user/sites", token: t2}), 200)
	e.exec(`UPDATE core.t_users SET user_enabled = false WHERE user_username = 'user4'`)
	wantUnauthorized(t, "disabled user's token on login", do(t, req{url: a + "/api/user/refresh_token", token: t2}))
	wantUnauthorizedWithin(t, "disabled user's token", authn.PrincipalCacheTTL, func() response { return do(t, req{url: core + "/api/user/sites", token: t2}) })
	e.exec(`UPDATE core.t_users SET user_enabled = true, deleted_at = now() WHERE user_username = 'user4'`)
	wantUnauthorizedWithin(t, "deleted user's token", authn.PrincipalCacheTTL, func() response { return do(t, req{url: core + "/api/user/sites", token: t2}) })

	// Basic works on other targets, but not for users who must pass 2FA or change password.
	wantCode(t, "basic on core", do(t, req{url: core + "/api/user/sites", basic: [2]string{"admin", "admin"}}), 200)
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = true WHERE id_user = 1`)
	wantUnauthorized(t, "basic for a 2FA user on core", do(t, req{url: core + "/api/user/sites", basic: [2]string{"admin", "admin"}}))
	e.exec(`UPDATE core.t_users SET user_2fa_enabled = false, user_force_password_change = true WHERE id_user = 1`)
	wantUnauthorized(t, "basic for a forced password change on core", do(t, req{url: core + "/api/user/sites", basic: [2]string{"admin", "admin"}}))
	_ = context.Background()
}

// Nothing secret reaches the logs: passwords, OTP secrets, tokens (REFERENCE: tokens are
// bearer credentials).
func TestNoSecretsInLogs(t *testing.T) {
	e := newEnv(t)
	a := e.replica()
	core := e.process("core")
	token := do(t, req{url: a + "/api/user/login?with_websocket=true", basic: [2]string{"admin", "admin"}}).str("user_token", t)
	do(t, req{url: a + "/api/user/login", basic: [2]string{"admin", "S3cret-wrong-pw"}})
	do(t, req{url: core + "/api/user/sites?token=" + token})
	do(t, req{url: core + "/api/user/sites", basic: [2]string{"admin", "S3cret-wrong-pw"}})
	part := do(t, req{url: a + "/api/participant/login", basic: [2]string{"participant1", "opentera"}})
	do(t, req{url: a + "/api/participant/login?token=" + part.str("participant_token", t)})
	dev := e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)
	do(t, req{url: a + "/api/device/login?token=" + dev})
	do(t, req{url: a + "/api/user/logout", token: token})
	do(t, req{url: core + "/api/user/sites", token: token})
	logs := e.logs.String()
	if logs == "" {
		t.Fatal("no logs captured")
	}
	for name, secret := range map[string]string{"user token": token, "wrong password": "S3cret-wrong-pw", "participant password": "opentera",
		"participant token": part.str("participant_token", t), "static token": part.str("base_token", t), "device token": dev} {
		if secret != "" && strings.Contains(logs, secret) {
			t.Errorf("%s found in the logs", name)
		}
	}
}
