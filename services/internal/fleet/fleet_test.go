package fleet

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tera-health/tera/services/internal/pgcluster"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestUnknownTargetListsKnownOnes(t *testing.T) {
	_, err := Resolve("core,bogus")
	if err == nil || !strings.Contains(err.Error(), `unknown target "bogus"`) || !strings.Contains(err.Error(), "core") {
		t.Fatalf("got %v", err)
	}
	if _, err := Resolve(""); err == nil {
		t.Fatal("empty target accepted")
	}
	ts, err := Resolve("all")
	if err != nil || len(ts) != len(Known()) {
		t.Fatalf("all: %v %v", ts, err)
	}
}

func TestInvalidConfigNamesEveryProblem(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTP.Listen = "nonsense"
	cfg.Log.Level = "loud"
	ts, _ := Resolve("core")
	_, err := Start(context.Background(), cfg, ts, Options{Log: testenv.Quiet()})
	for _, want := range []string{"http.listen", "log.level", "database.url", "nats.url"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// The dependency blinks: readiness follows it, liveness never does, and the process recovers
// without a restart.
func TestReadinessFollowsPostgresLivenessDoesNot(t *testing.T) {
	ctx := context.Background()
	pg, err := pgcluster.Start(ctx, pgcluster.Options{DataDir: filepath.Join(testenvDir(t), "pg"), Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Stop(ctx)

	cfg := DefaultConfig()
	cfg.HTTP.Listen, cfg.GRPC.Listen = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Database.URL = pg.URL("postgres")
	cfg.NATS.URL = testenv.NATS(t)
	cfg.ReadinessTimeout = 1e9
	ts, _ := Resolve("core")
	p, err := Start(ctx, cfg, ts, Options{Log: testenv.Quiet()})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- p.Run(runCtx) }()
	defer func() { cancel(); <-done }()
	base := "http://" + p.Server.HTTPAddr()

	eventually(t, "ready", func() bool { return status(t, base+"/readyz") == 200 })
	if err := pg.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unready while postgres is down", func() bool { return status(t, base+"/readyz") == 503 })
	if s := status(t, base+"/livez"); s != 200 {
		t.Fatalf("livez while postgres is down: %d", s)
	}
	if err := pg.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ready again after postgres returns", func() bool { return status(t, base+"/readyz") == 200 })
}

// testenvDir is a directory the unprivileged PostgreSQL user can enter when tests run as root.
func testenvDir(t *testing.T) string {
	dir := t.TempDir()
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
