package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/seed"
	"github.com/tera-health/tera/services/internal/testenv"
	"github.com/tera-health/tera/services/internal/verifier"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// admin runs `tera admin <args>` in process with stdin, as an operator would.
func admin(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(append([]string{"admin"}, args...))
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&out)
	t.Setenv("TERA_LOG_LEVEL", "warn")
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

// passwordVerifier is what every login replica uses to check a password, over the same database and
// NATS the admin commands write to.
func passwordVerifier(t *testing.T, db *pgxpool.Pool, natsURL string) *authn.Verifier {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	state, err := authn.OpenState(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return authn.NewVerifier(nil, state, &verifier.Directory{DB: db}, authn.VerifierOptions{BasicCacheTTL: -1})
}

func reason(err error) authn.Reason {
	var ae *authn.Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return -1
}

func TestAdminCreateUserRefusesWeakPasswordsAndCreatesASuperadmin(t *testing.T) {
	dbURL := testenv.DatabaseURL(t)
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := seed.Defaults(context.Background(), db); err != nil {
		t.Fatal(err)
	}
	v := passwordVerifier(t, db, testenv.NewNATS(t).ClientURL())

	for pw, want := range map[string]string{
		"Short1!":      "Password not long enough",
		"nodigits-Abc": "Password must contain a digit",
		"NoSpecial123": "Password must contain a special character",
	} {
		out, err := admin(t, pw+"\n", "create-user", "--database-url", dbURL, "--username", "rescue", "--superadmin")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("password %q: err %v (out %q), want %q", pw, err, out, want)
		}
	}
	var n int
	if err := db.QueryRow(context.Background(), `SELECT count(*) FROM core.t_users WHERE user_username = 'rescue'`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("a refused password wrote %d users (%v)", n, err)
	}

	out, err := admin(t, "Rescue-Passw0rd\n", "create-user", "--database-url", dbURL, "--username", "rescue", "--superadmin", "--lastname", "Team")
	if err != nil || !strings.Contains(out, `created superadmin "rescue"`) {
		t.Fatalf("create-user: %v\n%s", err, out)
	}
	c, _, err := v.VerifyPassword(context.Background(), authn.KindUser, "rescue", "Rescue-Passw0rd")
	if err != nil || !c.Superadmin {
		t.Fatalf("new superadmin cannot log in: %+v %v", c, err)
	}
	if _, err := admin(t, "Rescue-Passw0rd\n", "create-user", "--database-url", dbURL, "--username", "rescue"); err == nil || !strings.Contains(err.Error(), "taken") {
		t.Errorf("second rescue user: %v", err)
	}

	out, err = admin(t, "", "list-superadmins", "--database-url", dbURL)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID") || !strings.Contains(lines[2], "rescue") {
		t.Errorf("list-superadmins (default admin + rescue):\n%s", out)
	}
	if !strings.Contains(lines[1], "admin") || !strings.Contains(lines[1], "yes") {
		t.Errorf("seeded admin row: %q", lines[1])
	}
}

func TestAdminResetPasswordFollowsThePolicy(t *testing.T) {
	dbURL := testenv.FixtureURL(t)
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	v := passwordVerifier(t, db, testenv.NewNATS(t).ClientURL())
	ctx := context.Background()

	if _, err := admin(t, "weak\n", "reset-password", "--database-url", dbURL, "--username", "admin"); err == nil || !strings.Contains(err.Error(), "Password not long enough") {
		t.Errorf("weak password: %v", err)
	}
	if _, err := admin(t, "Str0ng-Password\n", "reset-password", "--database-url", dbURL, "--username", "nobody"); err == nil || !strings.Contains(err.Error(), `no user named "nobody"`) {
		t.Errorf("unknown user: %v", err)
	}
	if _, _, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "admin"); err != nil {
		t.Fatalf("a refused reset changed the password: %v", err)
	}
	out, err := admin(t, "Str0ng-Password\n", "reset-password", "--database-url", dbURL, "--username", "admin", "--must-change-password")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if _, _, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "admin"); reason(err) != authn.ReasonWrongPassword {
		t.Errorf("old password still accepted: %v", err)
	}
	_, p, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "Str0ng-Password")
	if err != nil || !p.ForcePasswordChange {
		t.Errorf("new password: %v, forced change %v", err, p != nil && p.ForcePasswordChange)
	}
	if _, err := admin(t, "Str0ng-Password\n", "reset-password", "--database-url", dbURL, "--username", "admin"); err == nil || !strings.Contains(err.Error(), "New password same as old password") {
		t.Errorf("same password again: %v", err)
	}
}

// The lockout is what login really stores: counters in NATS KV that every replica reads.
func TestAdminUnlockClearsTheLockoutLoginEnforces(t *testing.T) {
	dbURL := testenv.FixtureURL(t)
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	natsURL := testenv.NewNATS(t).ClientURL()
	v := passwordVerifier(t, db, natsURL)
	ctx := context.Background()

	for range authn.MaxLoginAttempts {
		if _, _, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "wrong"); reason(err) != authn.ReasonWrongPassword {
			t.Fatalf("wrong password: %v", err)
		}
	}
	if _, _, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "admin"); reason(err) != authn.ReasonTooManyAttempts {
		t.Fatalf("not locked out after %d failures: %v", authn.MaxLoginAttempts, err)
	}
	var uid string
	if err := db.QueryRow(ctx, `SELECT user_uuid FROM core.t_users WHERE user_username = 'admin'`).Scan(&uid); err != nil {
		t.Fatal(err)
	}
	// A lost authenticator tried too often: the 2FA counter (login's checkOTP key) too.
	for range authn.Max2FAAttempts {
		if _, err := authn.AddAttempt(ctx, v.State.TwoFAAttempts, authn.AttemptsKey(authn.KindUser, uid)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(ctx, `UPDATE core.t_users SET user_enabled = false WHERE user_username = 'admin'`); err != nil {
		t.Fatal(err)
	}

	if _, err := admin(t, "", "unlock", "--database-url", dbURL, "--username", "admin"); err == nil || !strings.Contains(err.Error(), "nats.url is required") {
		t.Errorf("unlock without NATS: %v", err)
	}
	out, err := admin(t, "", "unlock", "--database-url", dbURL, "--nats-url", natsURL, "--username", "admin")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{`failed logins of "admin": 5 cleared`, `failed 2FA codes of "admin": 5 cleared`, "add --enable"} {
		if !strings.Contains(out, want) {
			t.Errorf("unlock output lacks %q:\n%s", want, out)
		}
	}
	if n, err := authn.Attempts(ctx, v.State.TwoFAAttempts, authn.AttemptsKey(authn.KindUser, uid)); err != nil || n != 0 {
		t.Errorf("2FA counter after unlock: %d %v", n, err)
	}
	if _, _, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "admin"); reason(err) != authn.ReasonDisabledAccount {
		t.Errorf("unlocked but disabled account: %v", err)
	}
	if out, err := admin(t, "", "unlock", "--database-url", dbURL, "--nats-url", natsURL, "--username", "admin", "--enable"); err != nil || !strings.Contains(out, `"admin" enabled`) {
		t.Fatalf("unlock --enable: %v\n%s", err, out)
	}
	if _, _, err := v.VerifyPassword(ctx, authn.KindUser, "admin", "admin"); err != nil {
		t.Errorf("after unlock --enable: %v", err)
	}
}

func TestAdminDisable2FA(t *testing.T) {
	dbURL := testenv.FixtureURL(t)
	db, err := pgxpool.New(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	if _, err := db.Exec(ctx, `UPDATE core.t_users SET user_2fa_enabled = true, user_2fa_otp_enabled = true,
		user_2fa_otp_secret = 'JBSWY3DPEHPK3PXP' WHERE user_username IN ('admin', 'user')`); err != nil {
		t.Fatal(err)
	}
	state := func(name string) (on, otp bool, secret *string) {
		t.Helper()
		if err := db.QueryRow(ctx, `SELECT user_2fa_enabled, user_2fa_otp_enabled, user_2fa_otp_secret FROM core.t_users
			WHERE user_username = $1`, name).Scan(&on, &otp, &secret); err != nil {
			t.Fatal(err)
		}
		return
	}

	out, err := admin(t, "", "disable-2fa", "--database-url", dbURL, "--username", "user")
	if err != nil || !strings.Contains(out, `2FA disabled for "user"`) {
		t.Fatalf("%v\n%s", err, out)
	}
	if on, otp, secret := state("user"); on || otp || secret != nil {
		t.Errorf("user after disable-2fa: enabled %v otp %v secret %v", on, otp, secret)
	}
	if on, _, _ := state("admin"); !on {
		t.Error("disable-2fa of user touched admin")
	}

	// A site requiring 2FA keeps it required for every superadmin: the secret goes, so the next
	// login sets up a new authenticator rather than asking the lost one for a code.
	if _, err := db.Exec(ctx, `UPDATE core.t_sites SET site_2fa_required = true WHERE id_site = 1`); err != nil {
		t.Fatal(err)
	}
	out, err = admin(t, "", "disable-2fa", "--database-url", dbURL, "--username", "admin")
	if err != nil || !strings.Contains(out, "next login sets up a new authenticator") {
		t.Fatalf("%v\n%s", err, out)
	}
	if on, otp, secret := state("admin"); !on || otp || secret != nil {
		t.Errorf("admin after disable-2fa on a 2FA site: enabled %v otp %v secret %v", on, otp, secret)
	}
	if _, err := admin(t, "", "disable-2fa", "--database-url", dbURL, "--username", "ghost"); err == nil {
		t.Error("unknown user accepted")
	}
}
