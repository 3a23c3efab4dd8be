package core_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/pkg/telemetry"
	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/testenv"
	"github.com/tera-health/tera/services/internal/verifier"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// env is a core target serving the test fixture (REFERENCE §8) over HTTP and gRPC.
type env struct {
	t      testing.TB
	base   string
	grpc   string
	db     *pgxpool.Pool
	signer *authn.Signer
	tokens *tokenCache
	// lastReason is the X-Tera-Error-Reason of the last answer.
	lastReason string
}

type tokenCache struct {
	mu sync.Mutex
	m  map[string]string
}

// withT is the same env reporting to another test (fuzz targets get their own *testing.T).
func (e *env) withT(t testing.TB) *env {
	c := *e
	c.t = t
	return &c
}

var fixtureUsers = map[string]string{"admin": "admin", "siteadmin": "siteadmin", "user": "user", "user2": "user2", "user3": "user3", "user4": "user4",
	"participant1": "opentera"}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newTracedEnv(t, nil)
}

// newTracedEnv is newEnv with tracing (nil: off, as in newEnv).
func newTracedEnv(t testing.TB, tracing *telemetry.Tracing) *env {
	t.Helper()
	ctx := context.Background()
	url := testenv.FixtureURL(t)
	db, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	// Its own NATS: the fixture's uuids repeat across tests, so KV state (login attempt
	// counters) must not carry over.
	natsURL := testenv.NewNATS(t).ClientURL()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	state, err := authn.OpenState(ctx, js)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := authn.NewKeySet(map[string]*ecdsa.PrivateKey{"test": key})
	v := authn.NewVerifier(keys, state, &verifier.Directory{DB: db}, authn.VerifierOptions{})

	cfg := fleet.DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Database.URL = url
	cfg.NATS.URL = natsURL
	cfg.PublicURL = "https://tera.test"
	ts, err := fleet.Resolve("core")
	if err != nil {
		t.Fatal(err)
	}
	log := testenv.Quiet()
	if os.Getenv("CORE_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	p, err := fleet.Start(ctx, cfg, ts, fleet.Options{Log: log, Authenticator: v, Tracing: tracing})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &env{t: t, base: "http://" + p.Server.HTTPAddr(), grpc: p.Server.GRPCAddr(), db: db,
		signer: &authn.Signer{Keys: keys}, tokens: &tokenCache{m: map[string]string{}}}
}

// auth returns the Authorization header of a fixture user or participant: "name" is HTTP Basic,
// "name/token" a dynamic user token, "token:<raw>" that token, "" nothing.
func (e *env) auth(who string) string {
	if who == "" {
		return ""
	}
	if raw, ok := strings.CutPrefix(who, "token:"); ok {
		return "OpenTera " + raw
	}
	if name, ok := strings.CutSuffix(who, "/token"); ok {
		e.tokens.mu.Lock()
		defer e.tokens.mu.Unlock()
		if tok, ok := e.tokens.m[name]; ok {
			return "OpenTera " + tok
		}
		p, err := (&verifier.Directory{DB: e.db}).ByUsername(context.Background(), authn.KindUser, name)
		if err != nil || p == nil {
			e.t.Fatalf("token for %s: %v", name, err)
		}
		tok, err := e.signer.UserToken(p.ID, p.UUID, p.Name, p.Superadmin, nil, time.Hour)
		if err != nil {
			e.t.Fatal(err)
		}
		e.tokens.m[name] = tok
		return "OpenTera " + tok
	}
	pw, ok := fixtureUsers[who]
	if !ok {
		pw = "wrong"
	}
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(who+":"+pw))
}

// do sends a request as who and returns the status and the raw body.
func (e *env) do(who, method, path string, body any) (int, []byte) {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, _ := json.Marshal(b)
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, e.base+path, rd)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	if a := e.auth(who); a != "" {
		req.Header.Set("Authorization", a)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	e.lastReason = resp.Header.Get("X-Tera-Error-Reason")
	return resp.StatusCode, out
}

// list GETs path expecting 200 and a JSON array (nil for a null body).
func (e *env) list(who, path string) []map[string]any {
	e.t.Helper()
	st, body := e.do(who, "GET", path, nil)
	if st != 200 {
		e.t.Fatalf("GET %s as %s: %d %s", path, who, st, body)
	}
	var out []map[string]any
	if err := json.Unmarshal(body, &out); err != nil {
		e.t.Fatalf("GET %s as %s: %v in %s", path, who, err, body)
	}
	return out
}

// expect checks a status and returns the body.
func (e *env) expect(want int, who, method, path string, body any) []byte {
	e.t.Helper()
	st, out := e.do(who, method, path, body)
	if st != want {
		e.t.Fatalf("%s %s as %s: status %d, want %d: %s", method, path, who, st, want, out)
	}
	return out
}

// post POSTs a body expecting 200 and returns the single written object.
func (e *env) post(who, path string, body any) map[string]any {
	e.t.Helper()
	out := e.expect(200, who, "POST", path, body)
	var arr []map[string]any
	if err := json.Unmarshal(out, &arr); err != nil || len(arr) != 1 {
		e.t.Fatalf("POST %s: want [obj], got %s (%v)", path, out, err)
	}
	return arr[0]
}

// ids extracts an integer key from each object.
func ids(objs []map[string]any, key string) []int {
	out := []int{}
	for _, o := range objs {
		f, ok := o[key].(float64)
		if !ok {
			panic(fmt.Sprintf("%s is %T in %v", key, o[key], o))
		}
		out = append(out, int(f))
	}
	return out
}

func eqInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// outboxCount counts the DatabaseEvents written for a model and event type (1 create,
// 2 update, 3 delete).
func (e *env) outboxCount(model string, kind int) int {
	e.t.Helper()
	return scalar[int](e, "SELECT count(*) FROM core.outbox WHERE model = $1 AND event_type = $2", model, kind)
}

// grpcConn dials the gRPC listener with a caller's credentials.
func (e *env) grpcConn(who string) (*grpc.ClientConn, context.Context) {
	e.t.Helper()
	conn, err := grpc.NewClient(e.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { conn.Close() })
	return conn, metadata.AppendToOutgoingContext(context.Background(), "authorization", e.auth(who))
}

// scalar is the one value a query selects; the test stops when the query fails or selects no row.
func scalar[T any](e *env, sql string, args ...any) T {
	e.t.Helper()
	var v T
	if err := e.db.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		e.t.Fatalf("%s %v: %v", sql, args, err)
	}
	return v
}

// field is a column of a fixture row by id: field("participant", 1, "uuid") is the
// participant_uuid of core.t_participants' id_participant 1.
func (e *env) field(kind string, id int, col string) string {
	e.t.Helper()
	return scalar[string](e, fmt.Sprintf("SELECT %[1]s_%[2]s FROM core.t_%[1]ss WHERE id_%[1]s = $1", kind, col), id)
}

// uuid is the uuid of a fixture row by id ("participant", "user", "service", "session", "device").
func (e *env) uuid(kind string, id int) string {
	e.t.Helper()
	return e.field(kind, id, "uuid")
}

// one GETs path expecting 200 and a list of exactly one object, and returns it.
func (e *env) one(who, path string) map[string]any {
	e.t.Helper()
	got := e.list(who, path)
	if len(got) != 1 {
		e.t.Fatalf("GET %s as %s: %d objects, want 1: %v", path, who, len(got), got)
	}
	return got[0]
}

// nth GETs path expecting 200 and a list of more than i objects, and returns the i-th.
func (e *env) nth(who, path string, i int) map[string]any {
	e.t.Helper()
	got := e.list(who, path)
	if len(got) <= i {
		e.t.Fatalf("GET %s as %s: %d objects, want more than %d: %v", path, who, len(got), i, got)
	}
	return got[i]
}

// form GETs path and checks the sorted keys of its i-th object (a full or list form), and
// returns the object for the test's other checks.
func (e *env) form(who, path string, i int, want string) map[string]any {
	e.t.Helper()
	o := e.nth(who, path, i)
	if k := keys(o); k != want {
		e.t.Errorf("GET %s as %s: keys of [%d]\n got %s\nwant %s", path, who, i, k, want)
	}
	return o
}

// deleteOK DELETEs path expecting 200 and OpenTera's empty answer "".
func (e *env) deleteOK(who, path string) {
	e.t.Helper()
	if b := e.expect(200, who, "DELETE", path, nil); string(b) != `""` {
		e.t.Errorf("DELETE %s as %s: body %s, want \"\"", path, who, b)
	}
}

// events starts counting the DatabaseEvents of a model and kind (1 create, 2 update, 3 delete):
// the check it returns fails the test unless exactly n were written since.
func (e *env) events(model string, kind int) func(n int) {
	e.t.Helper()
	before := e.outboxCount(model, kind)
	return func(n int) {
		e.t.Helper()
		if got := e.outboxCount(model, kind) - before; got != n {
			e.t.Errorf("%d DatabaseEvents of %s (kind %d), want %d", got, model, kind, n)
		}
	}
}

// fields is an object of key, value pairs.
func fields(kv ...any) map[string]any {
	b := map[string]any{}
	for i := 0; i+1 < len(kv); i += 2 {
		b[kv[i].(string)] = kv[i+1]
	}
	return b
}

// wrap is a request body: the object of key, value pairs under name ({"device": {…}}).
func wrap(name string, kv ...any) map[string]any {
	return map[string]any{name: fields(kv...)}
}

// refs is a list of {key: id} objects, as link lists are posted.
func refs(key string, ids ...int) []map[string]any {
	out := []map[string]any{}
	for _, id := range ids {
		out = append(out, map[string]any{key: id})
	}
	return out
}
