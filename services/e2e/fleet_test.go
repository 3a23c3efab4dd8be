// Package e2e runs the fleet as production does: each target its own `tera serve` process,
// replicas where it matters, behind a router that matches the ingress, on a real PostgreSQL and
// NATS, driven over HTTP as a client would.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tera-health/tera/services/internal/fleet"
	"github.com/tera-health/tera/services/internal/outbox"
	"github.com/tera-health/tera/services/internal/router"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

func teraBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tera-e2e-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "tera")
		out, err := exec.Command("go", "build", "-o", binPath, "../cmd/tera").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("build tera: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// replica is one `tera serve` process.
type replica struct {
	target string
	http   string
	cmd    *exec.Cmd
	done   chan error
	log    *testenv.Buffer
}

// Fleet is a set of processes behind a router.
type Fleet struct {
	URL      string
	replicas []*replica
}

// env is what every process of the fleet is configured with.
type env struct {
	databaseURL, natsURL string
	extra                []string
	// args are added to every `tera serve` command line.
	args []string
	// services route a path prefix to an external service's base URL, as the operator's
	// Ingress routes a service_clientendpoint.
	services map[string]string
	// front, when set, is the router's listener, opened before the fleet starts so that its
	// address can be the site's public_url (links the browser follows: websocket_url, session
	// URLs).
	front net.Listener
}

func startReplica(t *testing.T, e env, target string) *replica {
	t.Helper()
	r := launchReplica(t, e, target)
	r.waitReady(t, 30*time.Second)
	return r
}

// launchReplica starts the process without waiting for it to be ready.
func launchReplica(t *testing.T, e env, target string) *replica {
	t.Helper()
	r := &replica{target: target, http: freeAddr(t), done: make(chan error, 1), log: &testenv.Buffer{}}
	r.cmd = exec.Command(teraBinary(t), "serve", "--target="+target, "--http-listen="+r.http, "--grpc-listen="+freeAddr(t), "--log-format=text")
	r.cmd.Args = append(r.cmd.Args, e.args...)
	r.cmd.Env = append(os.Environ(), "TERA_DATABASE_URL="+e.databaseURL, "TERA_NATS_URL="+e.natsURL)
	r.cmd.Env = append(r.cmd.Env, e.extra...)
	r.cmd.Stdout, r.cmd.Stderr = r.log, r.log
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.done <- r.cmd.Wait() }()
	t.Cleanup(func() {
		r.stop(t)
		if t.Failed() {
			t.Logf("--- log of %s replica %s:\n%s", r.target, r.http, r.log.String())
		}
	})
	return r
}

// waitReady waits for /readyz to answer 200.
func (r *replica) waitReady(t *testing.T, within time.Duration) {
	t.Helper()
	r.waitStatus(t, "/readyz", 200, within)
}

// waitStatus waits for path to answer code, failing if the process exits first.
func (r *replica) waitStatus(t *testing.T, path string, code int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		resp, err := http.Get("http://" + r.http + path)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == code {
				return
			}
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("%s replica exited: %v\n%s", r.target, err, r.log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s replica: %s did not answer %d within %v:\n%s", r.target, path, code, within, r.log.String())
		}
	}
}

// stop sends SIGTERM and waits for the graceful drain.
func (r *replica) stop(t *testing.T) error {
	if r.cmd.ProcessState != nil {
		return nil
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = r.cmd.Process.Kill()
		t.Errorf("%s replica did not stop within 30s of SIGTERM", r.target)
		return nil
	}
}

// startFleet runs replicas[target] processes of each target behind a router.
func startFleet(t *testing.T, e env, replicas map[string]int) *Fleet {
	t.Helper()
	f := &Fleet{}
	backends := map[string][]string{}
	for target, n := range replicas {
		for i := 0; i < n; i++ {
			r := startReplica(t, e, target)
			f.replicas = append(f.replicas, r)
			backends[target] = append(backends[target], "http://"+r.http)
		}
	}
	var routes []router.Route
	for _, rt := range fleet.Routes() {
		if len(backends[rt.Target]) > 0 {
			routes = append(routes, rt)
		}
	}
	for prefix, base := range e.services {
		backends["service:"+prefix] = []string{base}
		routes = append(routes, router.Route{Prefix: prefix, Target: "service:" + prefix})
	}
	rt, err := router.New(routes, backends)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go rt.Watch(ctx, 100*time.Millisecond)
	srv := httptest.NewUnstartedServer(rt)
	if e.front != nil {
		_ = srv.Listener.Close()
		srv.Listener = e.front
	}
	srv.Start()
	t.Cleanup(func() { srv.Close(); cancel() })
	f.URL = srv.URL
	return f
}

func seededEnv(t *testing.T) (env, *pgxpool.Pool) {
	t.Helper()
	url := testenv.FixtureURL(t)
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	ns := testenv.NewNATS(t)
	return env{databaseURL: url, natsURL: ns.ClientURL()}, pool
}

// Two core replicas each run an outbox relay: a write reaches JetStream exactly once, and when
// one replica is stopped the other carries on.
func TestTwoCoreReplicasRelayEachEventOnce(t *testing.T) {
	e, pool := seededEnv(t)
	f := startFleet(t, e, map[string]int{"core": 2})
	ctx := context.Background()

	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	waitStream(t, js)
	before := streamMsgs(t, js)

	for i := 0; i < 20; i++ {
		if _, err := pool.Exec(ctx, `UPDATE core.t_sites SET site_name = $1 WHERE id_site = 1`, fmt.Sprintf("Site v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "20 site events relayed", func() bool { return streamMsgs(t, js)-before == 20 })

	if err := f.replicas[0].stop(t); err != nil {
		t.Fatalf("graceful stop of a core replica: %v", err)
	}
	if _, err := pool.Exec(ctx, `UPDATE core.t_sites SET site_name = 'after failover' WHERE id_site = 1`); err != nil {
		t.Fatal(err)
	}
	eventually(t, "event relayed by the surviving replica", func() bool { return streamMsgs(t, js)-before == 21 })
	time.Sleep(500 * time.Millisecond)
	if n := streamMsgs(t, js) - before; n != 21 {
		t.Fatalf("want exactly 21 events, stream grew by %d", n)
	}
	var pending int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM core.outbox WHERE published_at IS NULL`).Scan(&pending); err != nil || pending != 0 {
		t.Fatalf("unpublished outbox rows: %d (%v)", pending, err)
	}
	// The router, like the ingress, no longer sends to the stopped replica.
	time.Sleep(300 * time.Millisecond)
	resp, err := http.Get(f.URL + "/api/user/nothing-here")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 && resp.StatusCode != 401 {
		t.Fatalf("core through the router: %d", resp.StatusCode)
	}
}

func waitStream(t *testing.T, js jetstream.JetStream) {
	eventually(t, "stream "+outbox.StreamName, func() bool {
		_, err := js.Stream(context.Background(), outbox.StreamName)
		return err == nil
	})
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	s, err := js.Stream(context.Background(), outbox.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
