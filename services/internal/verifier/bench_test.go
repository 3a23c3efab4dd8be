package verifier_test

import (
	"context"
	"encoding/base64"
	"testing"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/verifier"
)

// benchVerifier is a verifier as every target builds it. live runs its background loops (local
// revocation set, principal cache); without them every request asks NATS KV and PostgreSQL.
func benchVerifier(b *testing.B, live bool) (*authn.Verifier, *site) {
	s := newSite(b, false)
	if live {
		v, _ := s.replica()
		return v, s
	}
	_, js := s.connect()
	v, err := verifier.New(context.Background(), verifier.Config{SigningKeysDir: s.keysDir}, s.db, js)
	if err != nil {
		b.Fatal(err)
	}
	return v, s
}

// benchVerify authenticates as every API request does (Authenticate, from gRPC metadata).
func benchVerify(b *testing.B, v *authn.Verifier, cr authn.Credentials) {
	md := metadata.Pairs()
	if cr.Authorization != "" {
		md.Set("authorization", cr.Authorization)
	}
	if cr.Token != "" {
		md.Set("tera-token", cr.Token)
	}
	ctx := metadata.NewIncomingContext(context.Background(), md)
	if _, err := v.Authenticate(ctx); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if c, err := v.Authenticate(ctx); err != nil || c == nil {
			b.Fatal(err)
		}
	}
}

func userToken(b *testing.B, v *authn.Verifier, s *site) authn.Credentials {
	uuid := s.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`)
	tok, _ := (&authn.Signer{Keys: v.Keys}).UserToken(1, uuid, "Super Admin", true, nil, time.Hour)
	return authn.Credentials{Authorization: "OpenTera " + tok}
}

// BenchmarkVerifyToken is the per-request cost of a user token on any target: signature,
// claims, revocation and principal check. Uncached: a NATS KV get and a PostgreSQL query;
// Cached: the local revocation set and the principal cache.
func BenchmarkVerifyToken(b *testing.B) {
	b.Run("Uncached", func(b *testing.B) {
		v, s := benchVerifier(b, false)
		benchVerify(b, v, userToken(b, v, s))
	})
	b.Run("Cached", func(b *testing.B) {
		v, s := benchVerifier(b, true)
		benchVerify(b, v, userToken(b, v, s))
	})
}

// BenchmarkVerifyStaticDeviceToken: a device's static token, checked against t_devices.
func BenchmarkVerifyStaticDeviceToken(b *testing.B) {
	for _, live := range []bool{false, true} {
		name := map[bool]string{false: "Uncached", true: "Cached"}[live]
		b.Run(name, func(b *testing.B) {
			v, s := benchVerifier(b, live)
			benchVerify(b, v, authn.Credentials{Token: s.scalar(`SELECT device_token FROM core.t_devices WHERE id_device = 1`)})
		})
	}
}

func benchBasic(b *testing.B, ttl time.Duration) {
	v, _ := benchVerifier(b, false)
	v = authn.NewVerifier(v.Keys, v.State, v.Dir, authn.VerifierOptions{BasicCacheTTL: ttl})
	benchVerify(b, v, authn.Credentials{Authorization: "Basic " + base64.StdEncoding.EncodeToString([]byte("user4:user4"))})
}

// BenchmarkBasicWarm: HTTP Basic with the keyed-hash cache warm (no bcrypt).
func BenchmarkBasicWarm(b *testing.B) { benchBasic(b, time.Minute) }

// BenchmarkBasicCold: HTTP Basic paying bcrypt (cost 10) on every request.
func BenchmarkBasicCold(b *testing.B) { benchBasic(b, -1) }
