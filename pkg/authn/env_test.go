package authn

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/metadata"
)

// startNATS runs an embedded NATS server with JetStream (real KV buckets, as in the fleet).
func startNATS(t testing.TB) string {
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
	return s.ClientURL()
}

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
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

func openState(t testing.TB, js jetstream.JetStream) *State {
	t.Helper()
	s, err := OpenState(context.Background(), js)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// memDir is a Directory in memory that counts its lookups.
type memDir struct {
	mu      sync.Mutex
	byUUID  map[string]*Principal
	lookups atomic.Int32
}

func newMemDir(ps ...*Principal) *memDir {
	d := &memDir{byUUID: map[string]*Principal{}}
	for _, p := range ps {
		d.byUUID[p.UUID] = p
	}
	return d
}

func (d *memDir) set(uuid string, f func(p *Principal)) {
	d.mu.Lock()
	defer d.mu.Unlock()
	f(d.byUUID[uuid])
}

func (d *memDir) remove(uuid string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.byUUID, uuid)
}

func (d *memDir) find(f func(p *Principal) bool) *Principal {
	d.lookups.Add(1)
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.byUUID {
		if f(p) {
			cp := *p
			return &cp
		}
	}
	return nil
}

func (d *memDir) ByUsername(_ context.Context, kind Kind, username string) (*Principal, error) {
	return d.find(func(p *Principal) bool { return p.Kind == kind && p.Name == username }), nil
}

func (d *memDir) ByUUID(_ context.Context, kind Kind, uuid string) (*Principal, error) {
	return d.find(func(p *Principal) bool { return p.Kind == kind && p.UUID == uuid }), nil
}

func (d *memDir) ByStaticToken(_ context.Context, kind Kind, token string) (*Principal, error) {
	return d.find(func(p *Principal) bool { return p.Kind == kind && p.StaticToken != "" && p.StaticToken == token }), nil
}

const (
	userUUID        = "00000000-0000-0000-0000-00000000000a"
	participantUUID = "00000000-0000-0000-0000-00000000000b"
	deviceUUID      = "00000000-0000-0000-0000-00000000000c"
	serviceUUID     = "00000000-0000-0000-0000-00000000000d"
	staticPartUUID  = "00000000-0000-0000-0000-00000000000e"
)

// fixture is a verifier over an in-memory directory, real KV state and one signing key.
type fixture struct {
	v      *Verifier
	dir    *memDir
	signer *Signer
	js     jetstream.JetStream
	nc     *nats.Conn
	url    string
}

func hash(t testing.TB, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	url := startNATS(t)
	nc, js := connect(t, url)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	keys := NewKeySet(map[string]*ecdsa.PrivateKey{"k1": key})
	signer := &Signer{Keys: keys}
	devTok, _ := signer.DeviceStaticToken(3, deviceUUID)
	partTok, _ := signer.Sign(Claims{ParticipantUUID: staticPartUUID, IDParticipant: 5}, 0)
	dir := newMemDir(
		&Principal{Kind: KindUser, ID: 1, UUID: userUUID, Name: "admin", Enabled: true, Superadmin: true, PasswordHash: hash(t, "secret")},
		&Principal{Kind: KindParticipant, ID: 2, UUID: participantUUID, Name: "participant1", Enabled: true, LoginEnabled: true, PasswordHash: hash(t, "opentera")},
		&Principal{Kind: KindDevice, ID: 3, UUID: deviceUUID, Name: "device1", Enabled: true, StaticToken: devTok},
		&Principal{Kind: KindService, ID: 4, UUID: serviceUUID, Name: "LoggingService", Enabled: true},
		&Principal{Kind: KindParticipant, ID: 5, UUID: staticPartUUID, Name: "participant2", Enabled: true, StaticToken: partTok},
	)
	v := NewVerifier(keys, openState(t, js), dir, VerifierOptions{})
	return &fixture{v: v, dir: dir, signer: signer, js: js, nc: nc, url: url}
}

// authenticate runs the per-request path (Authenticate) with an Authorization header.
func (f *fixture) authenticate(auth string) (*Caller, error) {
	ctx := metadata.NewIncomingContext(context.Background(), metadata.Pairs("authorization", auth))
	return f.v.Authenticate(ctx)
}

func (f *fixture) staticToken(uuid string) string {
	f.dir.mu.Lock()
	defer f.dir.mu.Unlock()
	return f.dir.byUUID[uuid].StaticToken
}

func reasonOf(t testing.TB, err error) Reason {
	t.Helper()
	ae, ok := err.(*Error)
	if !ok {
		t.Fatalf("want an authentication failure, got %T %v", err, err)
	}
	return ae.Reason
}

// eventually polls ok every millisecond until it holds or limit passes.
func eventually(t testing.TB, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, limit)
		}
		time.Sleep(time.Millisecond)
	}
}

func runInBackground(t testing.TB, fn func(context.Context) error) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = fn(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func removeKey(dir, kid string) error {
	return os.Remove(filepath.Join(dir, keyFilePrefix+kid+keyFileSuffix))
}

func bcryptCompare(h, p []byte) error { return bcrypt.CompareHashAndPassword(h, p) }
