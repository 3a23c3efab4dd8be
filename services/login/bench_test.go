package login_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/pkg/authn"
)

// The verifier's own benchmarks (tokens, static tokens, Basic) are in services/internal/verifier.

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
