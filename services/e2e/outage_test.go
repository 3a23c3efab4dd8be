package e2e

import (
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tera-health/tera/pkg/authn"
	"github.com/tera-health/tera/services/internal/natsserver"
)

// NATS is not there when the fleet starts (a common ordering on a fresh cluster): the targets
// start anyway, stay alive and unready, and become ready and serve logins once NATS appears —
// no restart, so no crash loop.
func TestStartsUnreadyWithoutNATSAndRecoversWhenItAppears(t *testing.T) {
	e, _ := seededEnv(t)
	addr := freeAddr(t)
	_, portText, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(portText)
	e.natsURL = "nats://" + addr
	keys := filepath.Join(t.TempDir(), "keys")
	if _, err := authn.GenerateKeyFile(keys); err != nil {
		t.Fatal(err)
	}
	e.extra = append(e.extra, "TERA_SIGNING_KEYS_DIR="+keys)

	login := launchReplica(t, e, "login")
	login.waitStatus(t, "/livez", 200, 20*time.Second)
	login.waitStatus(t, "/readyz", 503, 5*time.Second)

	ns, err := natsserver.Start(natsserver.Options{StoreDir: t.TempDir(), Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	login.waitReady(t, 30*time.Second)

	req, _ := http.NewRequest(http.MethodGet, "http://"+login.http+"/api/user/login", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("login after NATS appeared: %d", resp.StatusCode)
	}
}
