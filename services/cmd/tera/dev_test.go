package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tera-health/tera/services/internal/testenv"
)

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func buildTera(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "tera")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	return bin
}

// `tera dev` from nothing: private PostgreSQL, embedded NATS, ready banner, /readyz and /doc,
// then Ctrl-C leaves nothing running.
func TestDevStartsServesAndStopsCleanly(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildTera(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	os.Chmod(filepath.Dir(dataDir), 0o711)
	os.Chmod(filepath.Dir(filepath.Dir(dataDir)), 0o711)
	listen := freeAddr(t)
	cmd := exec.Command(bin, "dev", "--listen", listen, "--grpc-listen", freeAddr(t), "--data-dir", dataDir, "--log-level", "warn", "--test-data")
	cmd.Env = append(os.Environ(), "TERA_DATABASE_URL=")
	stdout, _ := cmd.StdoutPipe()
	stderr := &testenv.Buffer{}
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	banner := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if strings.HasPrefix(sc.Text(), "Press Ctrl-C") {
				banner <- b.String()
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	var text string
	select {
	case text = <-banner:
	case <-time.After(60 * time.Second):
		t.Fatalf("no banner within 60s; stderr:\n%s", stderr.String())
	}
	t.Logf("ready after %v:\n%s", time.Since(start), text)
	base := "http://" + listen
	for _, want := range []string{base, base + "/doc"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %s", want)
		}
	}
	for path, want := range map[string]int{"/readyz": 200, "/livez": 200, "/doc": 200, "/doc/openapi.json": 200} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("%s: %d", path, resp.StatusCode)
		}
	}

	// The whole fleet answers on the one listener: login, then core with the token.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/user/login", nil)
	req.SetBasicAuth("admin", "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var login struct {
		UserToken string `json:"user_token"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 || login.UserToken == "" {
		t.Fatalf("login as admin/admin: %d", resp.StatusCode)
	}
	req, _ = http.NewRequest(http.MethodGet, base+"/api/user/participants?id_project=1", nil)
	req.Header.Set("Authorization", "OpenTera "+login.UserToken)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var participants []map[string]any
	json.NewDecoder(resp.Body).Decode(&participants)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(participants) != 3 {
		t.Fatalf("participants of project 1 with the token: %d, %d rows", resp.StatusCode, len(participants))
	}

	// The metrics the charts' dashboards and alerts name are all exported by the fleet.
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if line := sc.Text(); line != "" && line[0] != '#' {
			exposed[strings.FieldsFunc(line, func(r rune) bool { return r == '{' || r == ' ' })[0]] = true
		}
	}
	resp.Body.Close()
	list, err := os.ReadFile("../../../operator/internal/charttest/testdata/metrics.txt")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Split(string(list), "\n") {
		if name = strings.TrimSpace(name); name != "" && name[0] != '#' && !exposed[name] {
			t.Errorf("metric %s (named by the charts) is not on /metrics of tera dev", name)
		}
	}

	stopAt := time.Now()
	cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("exit: %v\n%s", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("did not stop within 10s")
	}
	took := time.Since(stopAt)
	t.Logf("stopped in %v", took)
	if took > 5*time.Second {
		t.Errorf("Ctrl-C took %v, want under 5s", took)
	}
	if pids := processesMentioning(dataDir); len(pids) > 0 {
		t.Fatalf("left running: %v", pids)
	}
}

// processesMentioning lists processes whose command line contains s.
func processesMentioning(s string) []string {
	entries, _ := os.ReadDir("/proc")
	var out []string
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		if strings.Contains(string(b), s) {
			out = append(out, fmt.Sprintf("%s: %s", e.Name(), strings.ReplaceAll(string(b), "\x00", " ")))
		}
	}
	return out
}

func TestServeRefusesUnknownTarget(t *testing.T) {
	root := newRoot()
	root.SetArgs([]string{"serve", "--target=nope"})
	root.SetOut(io.Discard)
	err := root.Execute()
	if err == nil || !strings.Contains(err.Error(), "known targets") {
		t.Fatalf("got %v", err)
	}
}
