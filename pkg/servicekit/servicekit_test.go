package servicekit

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	eventsv1 "github.com/tera-health/tera/pkg/api/tera/events/v1"
	"github.com/tera-health/tera/pkg/authn"
)

func startNATS(t *testing.T) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, NoLog: true, JetStreamMaxMemory: 64 << 20, JetStreamMaxStore: 256 << 20})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats did not start")
	}
	t.Cleanup(s.Shutdown)
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func keySet(t *testing.T, kid string) *authn.KeySet {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return authn.NewKeySet(map[string]*ecdsa.PrivateKey{kid: k})
}

// site is a stand-in for a site's login target: JWKS, the client credentials grant, and one
// service endpoint that wants a service token.
type site struct {
	*httptest.Server
	mu       sync.Mutex
	keys     *authn.KeySet
	grants   atomic.Int32
	jwks     atomic.Int32
	lifetime time.Duration
	refuse   atomic.Bool // the next service call answers 401 (token revoked in flight)
}

const testSecret = "0123456789abcdef0123456789abcdef"

func newSite(t *testing.T) *site {
	s := &site{keys: keySet(t, "k1"), lifetime: time.Hour}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, _ *http.Request) {
		s.jwks.Add(1)
		s.mu.Lock()
		defer s.mu.Unlock()
		_, _ = w.Write(s.keys.JWKS())
	})
	mux.HandleFunc("POST /api/service/token", func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if r.PostFormValue("grant_type") != "client_credentials" || id != "Quiz" || secret != testSecret {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error": "invalid_client", "error_description": "unknown client or wrong secret"}`))
			return
		}
		s.grants.Add(1)
		s.mu.Lock()
		tok, _ := (&authn.Signer{Keys: s.keys}).Sign(authn.Claims{ServiceUUID: "svc-uuid"}, s.lifetime)
		s.mu.Unlock()
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": tok, "token_type": "Bearer", "expires_in": int(s.lifetime / time.Second),
			"service_uuid": "svc-uuid"})
	})
	mux.HandleFunc("GET /api/service/participants", func(w http.ResponseWriter, r *http.Request) {
		if s.refuse.CompareAndSwap(true, false) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		if TokenOf(r) == "" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte(`[{"id_participant": 1, "participant_name": "` + r.URL.Query().Get("id_project") + `"}]`))
	})
	s.Server = httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s
}

func (s *site) sign(t *testing.T, c authn.Claims, lifetime time.Duration) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, err := (&authn.Signer{Keys: s.keys}).Sign(c, lifetime)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("TERA_SERVICE_KEY", "Quiz")
	t.Setenv("TERA_SERVICE_CLIENT_SECRET", testSecret)
	t.Setenv("TERA_PUBLIC_URL", "https://tera.example.org")
	c, err := LoadConfig("")
	if err != nil || c.ServiceKey != "Quiz" || c.Listen != ":8080" {
		t.Fatalf("%+v %v", c, err)
	}
	t.Setenv("TERA_PUBLIC_URL", "tera.example.org")
	t.Setenv("TERA_SERVICE_KEY", "9lives")
	if _, err := LoadConfig(""); err == nil {
		t.Fatal("bad key and URL accepted")
	}
}

// The token is asked once, reused, asked again after three quarters of its life; a wrong
// secret is login's OAuth2 error.
func TestTokenSource(t *testing.T) {
	s := newSite(t)
	ts := NewTokenSource(s.Client(), s.URL, "Quiz", testSecret)
	now := time.Now()
	ts.now = func() time.Time { return now }
	a, err := ts.Token(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := ts.Token(context.Background())
	if a != b || s.grants.Load() != 1 || ts.ServiceUUID != "svc-uuid" {
		t.Fatalf("token not reused: %d grants", s.grants.Load())
	}
	now = now.Add(46 * time.Minute)
	if _, err := ts.Token(context.Background()); err != nil || s.grants.Load() != 2 {
		t.Fatalf("token not refreshed: %d grants, %v", s.grants.Load(), err)
	}
	_, err = NewTokenSource(s.Client(), s.URL, "Quiz", "wrong").Token(context.Background())
	var te *TokenError
	if !errors.As(err, &te) || te.Status != 401 || te.Code != "invalid_client" {
		t.Fatalf("wrong secret: %v", err)
	}
}

// A 401 (token revoked or expired in flight) drops the token and retries once.
func TestClientRetriesOnceWithAFreshToken(t *testing.T) {
	s := newSite(t)
	c := &Client{HTTP: s.Client(), BaseURL: s.URL, Tokens: NewTokenSource(s.Client(), s.URL, "Quiz", testSecret)}
	var out []map[string]any
	if err := c.Get(context.Background(), "/api/service/participants", url.Values{"id_project": {"p1"}}, &out); err != nil ||
		len(out) != 1 || out[0]["participant_name"] != "p1" {
		t.Fatalf("%v %v", out, err)
	}
	s.refuse.Store(true)
	if err := c.Get(context.Background(), "/api/service/participants", nil, &out); err != nil || s.grants.Load() != 2 {
		t.Fatalf("retry: %v, %d grants", err, s.grants.Load())
	}
	var ae *APIError
	if err := c.Get(context.Background(), "/api/service/nothing", nil, nil); !errors.As(err, &ae) || ae.Status != 404 {
		t.Fatalf("404: %v", err)
	}
}

func TestVerifier(t *testing.T) {
	s := newSite(t)
	_, js := startNATS(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v, err := NewVerifier(ctx, s.Client(), s.URL, js, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = v.Run(ctx) }()
	f := false
	user := s.sign(t, authn.Claims{UserUUID: "u-1", IDUser: 7, UserFullname: "Ada L", UserSuperadmin: &f,
		ServiceAccess: map[string][]string{"Quiz": {"admin"}}}, time.Hour)
	id, err := v.Verify(ctx, user)
	if err != nil || id.Kind != authn.KindUser || id.ID != 7 || id.UUID != "u-1" || !id.HasRole("Quiz", "admin") ||
		id.HasRole("Quiz", "editor") || id.HasRole("Other", "admin") {
		t.Fatalf("user: %+v %v", id, err)
	}
	tr := true
	admin, _ := v.Verify(ctx, s.sign(t, authn.Claims{UserUUID: "u-2", UserSuperadmin: &tr}, time.Hour))
	if !admin.HasRole("Quiz", "anything") {
		t.Fatal("superadmin lacks a role")
	}
	part, err := v.Verify(ctx, s.sign(t, authn.Claims{ParticipantUUID: "p-1", IDParticipant: 3}, time.Hour))
	if err != nil || part.Kind != authn.KindParticipant || part.HasRole("Quiz", "admin") {
		t.Fatalf("participant: %+v %v", part, err)
	}
	static, _ := authn.StaticToken("k", authn.Claims{DeviceUUID: "d-1", IDDevice: 1})
	if _, err := v.Verify(ctx, static); !errors.Is(err, ErrStaticToken) {
		t.Fatalf("static: %v", err)
	}
	if _, err := v.Verify(ctx, s.sign(t, authn.Claims{UserUUID: "u-1"}, -time.Minute)); err == nil {
		t.Fatal("expired token accepted")
	}
	forged, _ := (&authn.Signer{Keys: keySet(t, "k1")}).Sign(authn.Claims{UserUUID: "u-1"}, time.Hour)
	if _, err := v.Verify(ctx, forged); err == nil {
		t.Fatal("token of another key accepted")
	}

	// A logout anywhere revokes the token for the service too.
	st, err := authn.OpenState(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Revoke(ctx, id.TokenID, id.Expires); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(authn.RevocationBound + time.Second)
	for {
		if _, err := v.Verify(ctx, user); errors.Is(err, ErrRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("revoked token still accepted")
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A rotated key set is fetched when a token names a key not seen yet (at most every 10 s).
	s.mu.Lock()
	s.keys = keySet(t, "k2")
	s.mu.Unlock()
	v.mu.Lock()
	v.fetchedAt = time.Now().Add(-time.Minute)
	v.mu.Unlock()
	if _, err := v.Verify(ctx, s.sign(t, authn.Claims{UserUUID: "u-1"}, time.Hour)); err != nil {
		t.Fatalf("token of a rotated key: %v", err)
	}
	n := s.jwks.Load()
	for range 5 {
		_, _ = v.Verify(ctx, forged)
	}
	if s.jwks.Load() != n {
		t.Fatal("unknown key ids refetch the key set every time")
	}

	// Require: 401 without a token or with one of another kind.
	h := v.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(IdentityFrom(r.Context()).UUID))
	}), authn.KindParticipant)
	ptok := s.sign(t, authn.Claims{ParticipantUUID: "p-9"}, time.Hour)
	for tok, want := range map[string]int{"": 401, ptok: 200, s.sign(t, authn.Claims{UserUUID: "u-3"}, time.Hour): 401} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/page?token="+tok, nil)
		h.ServeHTTP(rec, req)
		if rec.Code != want {
			t.Errorf("Require with %q: %d, want %d", tok, rec.Code, want)
		}
	}
}

func TestRPC(t *testing.T) {
	nc, _ := startNATS(t)
	svc, err := ServeRPC(nc, "Quiz", "1.0.0", map[string]RPCHandler{
		MethodSessionTypeConfig: func(_ context.Context, req json.RawMessage) (any, error) {
			var r struct {
				ID int `json:"id_session_type"`
			}
			if err := json.Unmarshal(req, &r); err != nil || r.ID == 0 {
				return nil, &RPCError{Code: 400, Description: "id_session_type is required"}
			}
			return map[string]any{"id_session_type": r.ID, "questions": 3}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = svc.Stop() }()
	ctx := context.Background()
	var out map[string]any
	if err := Call(ctx, nc, "Quiz", MethodSessionTypeConfig, map[string]int{"id_session_type": 5}, &out); err != nil || out["questions"] != float64(3) {
		t.Fatalf("%v %v", out, err)
	}
	var re *RPCError
	if err := Call(ctx, nc, "Quiz", MethodSessionTypeConfig, map[string]int{}, &out); !errors.As(err, &re) || re.Code != 400 {
		t.Fatalf("bad request: %v", err)
	}
	if err := Call(ctx, nc, "Quiz", MethodSessionManage, map[string]int{}, &out); !errors.Is(err, nats.ErrNoResponders) {
		t.Fatalf("unserved method: %v", err)
	}
}

func TestDatabaseEventsDurable(t *testing.T) {
	_, js := startNATS(t)
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: DatabaseStream, Subjects: []string{"tera.db.>"}}); err != nil {
		t.Fatal(err)
	}
	publish := func(model, verb, id string, obj string) {
		b, _ := proto.Marshal(&eventsv1.DatabaseEvent{Type: eventsv1.DatabaseEvent_DB_UPDATE, ObjectType: model, ObjectValue: obj})
		if _, err := js.Publish(ctx, DatabaseSubject(model, verb), b, jetstream.WithMsgID(id)); err != nil {
			t.Fatal(err)
		}
	}
	got := make(chan Event, 10)
	failOnce := atomic.Bool{}
	failOnce.Store(true)
	run := func() (stop func()) {
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- ConsumeDatabaseEvents(cctx, js, ConsumerName("Quiz.v2"), []string{"participant"}, func(_ context.Context, e Event) error {
				if failOnce.CompareAndSwap(true, false) {
					return errors.New("not yet")
				}
				got <- e
				return nil
			})
		}()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	stop := run()
	waitConsumer(t, js, "service-Quiz_v2")
	publish("participant", "updated", "1", `{"id_participant": 1}`)
	publish("site", "updated", "2", `{"id_site": 1}`)
	e := recv(t, got)
	if e.Model != "participant" || e.Verb != "updated" || e.MsgID != "1" || e.Delivered != 2 || string(e.Object) != `{"id_participant": 1}` {
		t.Fatalf("event %+v", e)
	}
	stop()
	// Published while the service is down: delivered when it comes back.
	publish("participant", "deleted", "3", `{"id_participant": 2}`)
	stop = run()
	defer stop()
	if e := recv(t, got); e.MsgID != "3" || e.Verb != "deleted" {
		t.Fatalf("after restart: %+v", e)
	}
	select {
	case e := <-got:
		t.Fatalf("unexpected event %+v", e)
	case <-time.After(200 * time.Millisecond):
	}
}

func waitConsumer(t *testing.T, js jetstream.JetStream, name string) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := js.Consumer(context.Background(), DatabaseStream, name); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("consumer %s not created", name)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func recv(t *testing.T, ch chan Event) Event {
	t.Helper()
	select {
	case e := <-ch:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	return Event{}
}
