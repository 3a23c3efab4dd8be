package login_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/testenv"
	"github.com/tera-health/tera/services/login"
)

// benchVerifier is a verifier as every target builds it: keys from a directory, state in NATS
// KV, principals in PostgreSQL (the fixture).
func benchVerifier(b *testing.B, cacheTTL time.Duration) (*authn.Verifier, *env) {
	e := newEnv(b)
	nc, err := nats.Connect(testenv.NATS(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	v, err := login.NewVerifier(context.Background(), login.VerifierConfig{SigningKeysDir: e.keysDir}, e.db, js)
	if err != nil {
		b.Fatal(err)
	}
	if cacheTTL != 0 {
		v = authn.NewVerifier(v.Keys, v.State, v.Dir, authn.VerifierOptions{BasicCacheTTL: cacheTTL})
	}
	return v, e
}

// BenchmarkVerifyToken is the per-request cost of a user token on any target: signature,
// claims, revocation lookup (NATS KV) and principal check (PostgreSQL).
func BenchmarkVerifyToken(b *testing.B) {
	v, e := benchVerifier(b, 0)
	uuid := e.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`)
	tok, _ := (&authn.Signer{Keys: v.Keys}).UserToken(1, uuid, "Super Admin", true, nil, time.Hour)
	cr := authn.Credentials{Authorization: "OpenTera " + tok}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if c, _, err := v.Verify(ctx, cr, false); err != nil || c == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyStaticDeviceToken: a device's static token, checked against t_devices.
func BenchmarkVerifyStaticDeviceToken(b *testing.B) {
	v, e := benchVerifier(b, 0)
	cr := authn.Credentials{Token: e.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if c, _, err := v.Verify(ctx, cr, false); err != nil || c == nil {
			b.Fatal(err)
		}
	}
}

func benchBasic(b *testing.B, ttl time.Duration) {
	v, _ := benchVerifier(b, ttl)
	cr := authn.Credentials{Authorization: "Basic " + b64("user4:user4")}
	ctx := context.Background()
	if _, _, err := v.Verify(ctx, cr, false); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, _, err := v.Verify(ctx, cr, false); err != nil || c == nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBasicWarm: HTTP Basic with the keyed-hash cache warm (no bcrypt).
func BenchmarkBasicWarm(b *testing.B) { benchBasic(b, time.Minute) }

// BenchmarkBasicCold: HTTP Basic paying bcrypt (cost 10) on every request.
func BenchmarkBasicCold(b *testing.B) { benchBasic(b, -1) }

var _ = strings.Contains

// BenchmarkFailedPasswordLogin: the three failures a username-enumeration attack compares,
// through GET /api/user/login on a login replica. They should cost the same (one bcrypt each);
// compare the ns/op of the sub-benchmarks.
func BenchmarkFailedPasswordLogin(b *testing.B) {
	e := newEnv(b)
	a := e.replica()
	st := benchState(b, e)
	uuid3 := e.scalar(`SELECT user_uuid FROM core.t_users WHERE user_username = 'user3'`)
	login := func(b *testing.B, user string) {
		r, _ := http.NewRequest(http.MethodGet, a+"/api/user/login", nil)
		r.SetBasicAuth(user, "not-the-password")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			b.Fatalf("%s: %d", user, resp.StatusCode)
		}
	}
	b.Run("unknown_user", func(b *testing.B) {
		for b.Loop() {
			login(b, "nobody")
		}
	})
	b.Run("wrong_password", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if i%(authn.MaxLoginAttempts-1) == 0 { // stay under the lock
				b.StopTimer()
				_ = authn.ResetAttempts(context.Background(), st.Attempts, authn.AttemptsKey(authn.KindUser, uuid3))
				b.StartTimer()
			}
			login(b, "user3")
		}
	})
	b.Run("locked_account", func(b *testing.B) {
		for range authn.MaxLoginAttempts {
			login(b, "user4")
		}
		for b.Loop() {
			login(b, "user4")
		}
	})
}

func benchState(b *testing.B, e *env) *authn.State {
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	s, err := authn.OpenState(context.Background(), js)
	if err != nil {
		b.Fatal(err)
	}
	return s
}
