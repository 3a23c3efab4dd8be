package verifier_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/outbox"
	"github.com/tera-health/tera/services/internal/testenv"
	"github.com/tera-health/tera/services/internal/verifier"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// site is one database (OpenTera's fixture) and one NATS server shared by several verifiers,
// as replicas of a fleet share them, with core's outbox relay publishing DatabaseEvents.
type site struct {
	t       testing.TB
	db      *pgxpool.Pool
	natsURL string
	keysDir string
	signer  *authn.Signer
}

func newSite(t testing.TB, relay bool) *site {
	t.Helper()
	s := &site{t: t, db: testenv.FixtureDB(t), natsURL: testenv.NewNATS(t).ClientURL(), keysDir: t.TempDir()}
	if _, err := authn.GenerateKeyFile(s.keysDir); err != nil {
		t.Fatal(err)
	}
	keys, err := authn.LoadKeySet(s.keysDir)
	if err != nil {
		t.Fatal(err)
	}
	s.signer = &authn.Signer{Keys: keys}
	if relay {
		_, js := s.connect()
		if err := outbox.EnsureStreams(context.Background(), js); err != nil {
			t.Fatal(err)
		}
		s.run(outbox.NewRelay(s.db, js, testenv.Quiet()).Run)
	}
	return s
}

func (s *site) connect() (*nats.Conn, jetstream.JetStream) {
	nc, err := nats.Connect(s.natsURL)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		s.t.Fatal(err)
	}
	return nc, js
}

func (s *site) run(fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	s.t.Cleanup(func() { cancel(); <-done })
}

// replica is a verifier as a target builds it, with its background loops running, on its own
// NATS connection. mod may replace its cache before the loops start.
func (s *site) replica(mod ...func(*authn.Verifier)) (*authn.Verifier, *nats.Conn) {
	s.t.Helper()
	nc, js := s.connect()
	v, err := verifier.New(context.Background(), verifier.Config{SigningKeysDir: s.keysDir}, s.db, js)
	if err != nil {
		s.t.Fatal(err)
	}
	for _, m := range mod {
		m(v)
	}
	for _, svc := range verifier.Services(v, js, testenv.Quiet()) {
		s.run(svc.(interface{ Run(context.Context) error }).Run)
	}
	waitFor(s.t, 10*time.Second, "verifier in sync", func() bool { return v.Revocations.Synced() && v.Principals.Live() })
	return v, nc
}

func (s *site) exec(sql string, args ...any) {
	s.t.Helper()
	if _, err := s.db.Exec(context.Background(), sql, args...); err != nil {
		s.t.Fatal(err)
	}
}

func (s *site) scalar(sql string, args ...any) string {
	s.t.Helper()
	var v string
	if err := s.db.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		s.t.Fatal(err)
	}
	return v
}

func waitFor(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// verify authenticates a request carrying token as every API request is (the gRPC metadata
// the gateway fills from the Authorization header).
func verify(v *authn.Verifier, token string) error {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", "OpenTera "+token))
	_, err := v.Authenticate(ctx)
	return err
}

func reason(err error) authn.Reason {
	var ae *authn.Error
	if errors.As(err, &ae) {
		return ae.Reason
	}
	return -1
}

// refusedWithin revokes-or-disables with act, then polls v until it refuses token, and fails
// if v still accepted it at or after bound; it returns how long the refusal took.
func refusedWithin(t *testing.T, v *authn.Verifier, token string, bound time.Duration, act func()) time.Duration {
	t.Helper()
	act()
	start := time.Now()
	for {
		at := time.Since(start)
		err := verify(v, token)
		if err != nil {
			var ae *authn.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want an authentication failure, got %v", err)
			}
			return at
		}
		if at >= bound {
			t.Fatalf("token still accepted %s after the change (bound %s)", at, bound)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// A logout on replica A is refused on replica B within authn.RevocationBound, and B answers
// from its local set (no KV round trip) before and after.
func TestRevocationPropagatesAcrossVerifiers(t *testing.T) {
	s := newSite(t, false)
	a, _ := s.replica()
	b, _ := s.replica()
	uuid := s.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`)
	var worst time.Duration
	for i := range 5 {
		tok, _ := s.signer.UserToken(1, uuid, "Super Admin", true, nil, time.Hour)
		if err := verify(b, tok); err != nil {
			t.Fatalf("fresh token on B: %v", err)
		}
		c, _, _ := a.VerifyToken(context.Background(), tok)
		took := refusedWithin(t, b, tok, authn.RevocationBound, func() {
			if err := a.State.Revoke(context.Background(), c.TokenID, c.TokenExpires); err != nil {
				t.Fatal(err)
			}
		})
		if r := reason(verify(b, tok)); r != authn.ReasonInvalidToken {
			t.Fatalf("revoked token on B: reason %d", r)
		}
		worst = max(worst, took)
		t.Logf("revocation %d refused on B after %s", i, took)
	}
	if !b.Revocations.Synced() {
		t.Fatal("B's revocation set fell out of sync")
	}
	t.Logf("worst propagation %s (bound %s)", worst, authn.RevocationBound)
}

// A replica cut off from NATS neither accepts nor refuses on stale revocation data: it
// answers 503 (the client retries), and its principal cache is off.
func TestVerifierWithoutNATSFailsClosed(t *testing.T) {
	s := newSite(t, false)
	b, nc := s.replica()
	uuid := s.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 1`)
	tok, _ := s.signer.UserToken(1, uuid, "Super Admin", true, nil, time.Hour)
	if err := verify(b, tok); err != nil {
		t.Fatal(err)
	}
	nc.Close()
	waitFor(t, 5*time.Second, "cache off after the NATS connection closed", func() bool { return !b.Principals.Live() && !b.Revocations.Synced() })
	if err := verify(b, tok); status.Code(err) != codes.Unavailable {
		t.Fatalf("token on a verifier without NATS: %v (want 503)", err)
	}
}

// Disabling or deleting a user, a participant or a participant's project is refused by a
// replica whose cached principal was fresh: the DatabaseEvent invalidates it. The cache TTL is
// an hour here, so only the event can make the refusal happen.
func TestPrincipalChangesInvalidateTheCache(t *testing.T) {
	s := newSite(t, true)
	b, _ := s.replica(func(v *authn.Verifier) { v.Principals = authn.NewPrincipalCache(time.Hour, 1000) })
	const bound = 10 * time.Second // the event path is milliseconds; this only stops a broken test
	userToken := func(id int) string {
		uuid := s.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = $1`, id)
		tok, _ := s.signer.UserToken(int64(id), uuid, "", false, nil, time.Hour)
		if err := verify(b, tok); err != nil {
			t.Fatalf("user %d token: %v", id, err)
		}
		if err := verify(b, tok); err != nil { // second time from the cache
			t.Fatalf("user %d token, cached: %v", id, err)
		}
		return tok
	}
	participantToken := func(id int) string {
		uuid := s.scalar(`SELECT participant_uuid FROM core.t_participants WHERE id_participant = $1`, id)
		tok, _ := s.signer.ParticipantToken(int64(id), uuid, "", time.Hour)
		if err := verify(b, tok); err != nil {
			t.Fatalf("participant %d token: %v", id, err)
		}
		return tok
	}
	// A user the integrity triggers let us delete (no sessions, assets or tests).
	free, _ := strconv.Atoi(s.scalar(`SELECT min(id_user) FROM core.t_users u WHERE id_user NOT IN (1, 2, 4) AND
		NOT EXISTS (SELECT 1 FROM core.t_sessions_users x WHERE x.id_user = u.id_user) AND
		NOT EXISTS (SELECT 1 FROM core.t_sessions x WHERE x.id_creator_user = u.id_user) AND
		NOT EXISTS (SELECT 1 FROM core.t_assets x WHERE x.id_user = u.id_user) AND
		NOT EXISTS (SELECT 1 FROM core.t_tests x WHERE x.id_user = u.id_user)`))
	other, _ := strconv.Atoi(s.scalar(`SELECT max(id_user) FROM core.t_users WHERE id_user NOT IN (1, 2, 4, $1)`, free))
	enabledParticipant, _ := strconv.Atoi(s.scalar(`SELECT min(p.id_participant) FROM core.t_participants p JOIN core.t_projects pr USING (id_project)
		WHERE p.id_participant <> 1 AND p.participant_enabled AND pr.project_enabled AND p.deleted_at IS NULL`))
	cases := []struct {
		name  string
		token func() string
		act   string
		want  authn.Reason
	}{
		{"disabled user", func() string { return userToken(2) }, `UPDATE core.t_users SET user_enabled = false WHERE id_user = 2`, authn.ReasonDisabledAccount},
		{"deleted user", func() string { return userToken(free) }, `UPDATE core.t_users SET deleted_at = now() WHERE id_user = ` + strconv.Itoa(free), authn.ReasonInvalidToken},
		{"disabled participant", func() string { return participantToken(1) }, `UPDATE core.t_participants SET participant_enabled = false WHERE id_participant = 1`, authn.ReasonDisabledAccount},
		{"participant of a disabled project", func() string { return participantToken(enabledParticipant) },
			`UPDATE core.t_projects SET project_enabled = false WHERE id_project = (SELECT id_project FROM core.t_participants WHERE id_participant = ` +
				strconv.Itoa(enabledParticipant) + `)`, authn.ReasonDisabledAccount},
	}
	for _, c := range cases {
		tok := c.token()
		if b.Principals.Len() == 0 {
			t.Fatalf("%s: nothing cached", c.name)
		}
		took := refusedWithin(t, b, tok, bound, func() { s.exec(c.act) })
		if r := reason(verify(b, tok)); r != c.want {
			t.Fatalf("%s: reason %d, want %d", c.name, r, c.want)
		}
		t.Logf("%s: refused after %s", c.name, took)
	}
	// An unrelated principal stays cached through those events.
	tok := userToken(4)
	n := b.Principals.Len()
	s.exec(`UPDATE core.t_users SET user_enabled = false WHERE id_user = $1`, other)
	waitFor(t, bound, "the other user's event", func() bool {
		return verify(b, tok) == nil && s.scalar(`SELECT count(*) FROM core.outbox WHERE published_at IS NULL`) == "0"
	})
	if b.Principals.Len() == 0 || n == 0 {
		t.Fatalf("cache emptied by an unrelated event (%d before)", n)
	}
}

// Without events (no relay), a change is still refused once the cache TTL has passed.
func TestPrincipalCacheTTLBoundsStaleness(t *testing.T) {
	s := newSite(t, false)
	const ttl = 300 * time.Millisecond
	b, _ := s.replica(func(v *authn.Verifier) { v.Principals = authn.NewPrincipalCache(ttl, 1000) })
	uuid := s.scalar(`SELECT user_uuid FROM core.t_users WHERE id_user = 2`)
	tok, _ := s.signer.UserToken(2, uuid, "", false, nil, time.Hour)
	if err := verify(b, tok); err != nil {
		t.Fatal(err)
	}
	took := refusedWithin(t, b, tok, ttl+RelayLessSlack, func() { s.exec(`UPDATE core.t_users SET user_enabled = false WHERE id_user = 2`) })
	t.Logf("refused after %s without events (TTL %s)", took, ttl)
}

// RelayLessSlack covers one verification's own duration past the TTL.
const RelayLessSlack = 200 * time.Millisecond
