package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/natsserver"
	"github.com/tera-health/tera/services/internal/presence"
)

// wsClient is a websocket client whose frames are read in the background.
type wsClient struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan string
}

// loginWS logs a user in through the ingress and opens its websocket at base (the ingress or one
// replica).
func loginWS(t *testing.T, ingress, base, user, pass string) *wsClient {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ingress+"/api/user/login?with_websocket=true", nil)
	req.SetBasicAuth(user, pass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		URL string `json:"websocket_url"`
	}
	err = json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	u, perr := url.Parse(login.URL)
	if resp.StatusCode != 200 || err != nil || perr != nil {
		t.Fatalf("login %s: %d %v", user, resp.StatusCode, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+u.Path+"?"+u.RawQuery, nil)
	if err != nil {
		t.Fatalf("websocket of %s at %s: %v", user, base, err)
	}
	w := &wsClient{t: t, c: c, frames: make(chan string, 100)}
	go func() {
		defer close(w.frames)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			w.frames <- string(b)
		}
	}()
	t.Cleanup(func() { c.CloseNow() })
	return w
}

// waitFor reads frames until one contains every part, failing after within.
func (w *wsClient) waitFor(within time.Duration, parts ...string) {
	w.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				w.t.Fatalf("socket closed while waiting for %v", parts)
			}
			all := true
			for _, p := range parts {
				all = all && strings.Contains(f, p)
			}
			if all {
				return
			}
		case <-deadline:
			w.t.Fatalf("no frame with %v within %v", parts, within)
		}
	}
}

func onlineUsers(t *testing.T, ingress string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, ingress+"/api/user/users/online", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var users []struct {
		Username string `json:"user_firstname"`
		UUID     string `json:"user_uuid"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&users); err != nil || resp.StatusCode != 200 {
		t.Fatalf("users online: %d %v", resp.StatusCode, err)
	}
	var out []string
	for _, u := range users {
		out = append(out, u.UUID)
	}
	return out
}

// Two websocket and two usermanager replicas: an event reaches a client whichever replica holds
// its socket; a replica killed with SIGKILL has its clients reported offline by the heartbeat
// TTL, and they reconnect through the ingress to the survivor; a NATS restart leaves sockets up
// and events flow again.
func TestPresenceAcrossReplicasAndFaults(t *testing.T) {
	e, pool := seededEnv(t)
	// Our own NATS on a fixed port and store, to restart it.
	port := freePort(t)
	store := t.TempDir()
	ns, err := natsserver.Start(natsserver.Options{StoreDir: store, Port: port})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Shutdown() })
	e.natsURL = ns.ClientURL()
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys)
	f := startFleet(t, e, map[string]int{"login": 1, "core": 1, "usermanager": 2, "websocket": 2})
	var ws []*replica
	for _, r := range f.replicas {
		if r.target == "websocket" {
			ws = append(ws, r)
		}
	}
	a, b := "http://"+ws[0].http, "http://"+ws[1].http
	var userUUID string
	if err := pool.QueryRow(context.Background(), `SELECT user_uuid FROM core.t_users WHERE user_username = 'user'`).Scan(&userUUID); err != nil {
		t.Fatal(err)
	}

	// admin on replica A sees "user" connect on replica B.
	admin := loginWS(t, f.URL, a, "admin", "admin")
	admin.waitFor(10*time.Second, "USER_CONNECTED", `"userFullname": "Super Admin"`)
	loginWS(t, f.URL, b, "user", "user")
	admin.waitFor(10*time.Second, "USER_CONNECTED", userUUID)

	// NATS restarts: the sockets stay up and events flow again.
	ns.Shutdown()
	ns.WaitForShutdown()
	if ns, err = natsserver.Start(natsserver.Options{StoreDir: store, Port: port}); err != nil {
		t.Fatal(err)
	}
	for _, r := range f.replicas {
		r.waitReady(t, 30*time.Second)
	}
	// The ingress polls readiness on its own clock: until it has seen login ready again it
	// answers 503, as a Kubernetes Service without ready endpoints would.
	eventually(t, "the ingress routes to login again", func() bool {
		resp, err := http.Get(f.URL + "/api/user/login")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode != http.StatusServiceUnavailable
	})
	user3 := loginWS(t, f.URL, b, "user3", "user3")
	admin.waitFor(20*time.Second, "USER_CONNECTED", `"userFullname": "Project Admin"`)
	user3.c.CloseNow()
	admin.waitFor(20*time.Second, "USER_DISCONNECTED", `"userFullname": "Project Admin"`)

	// Replica B is killed: its client goes offline within the heartbeat TTL (plus one sweep),
	// without anyone reporting the close.
	killed := time.Now()
	if err := ws[1].cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	admin.waitFor(presence.ReplicaTTL*2+10*time.Second, "USER_DISCONNECTED", userUUID)
	t.Logf("client of the killed replica reported offline %v after SIGKILL (replica TTL %v, sweep every %v)",
		time.Since(killed).Round(100*time.Millisecond), presence.ReplicaTTL, presence.HeartbeatInterval)
	for _, u := range onlineUsers(t, f.URL) {
		if u == userUUID {
			t.Fatal("the killed replica's client is still listed online")
		}
	}
	// It reconnects through the ingress, which routes to the survivor.
	eventually(t, "the router drops the killed replica", func() bool {
		for range 4 {
			resp, err := http.Get(f.URL + "/wss/user")
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUpgradeRequired {
				return false
			}
		}
		return true
	})
	loginWS(t, f.URL, f.URL, "user", "user")
	admin.waitFor(10*time.Second, "USER_CONNECTED", userUUID)
}

func freePort(t *testing.T) int {
	t.Helper()
	addr := freeAddr(t)
	_, p, _ := strings.Cut(addr, ":")
	var n int
	for _, c := range p {
		n = n*10 + int(c-'0')
	}
	return n
}
