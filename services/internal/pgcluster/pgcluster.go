// Package pgcluster runs a private PostgreSQL cluster from the PostgreSQL binaries installed on
// the machine. `tera dev` and the test environment use it so that nobody has to install, start or
// configure a database by hand. PostgreSQL refuses to run as root, so when we are root the
// server runs as an unprivileged system user (postgres, else nobody).
package pgcluster

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries means no PostgreSQL server binaries were found.
var ErrNoBinaries = errors.New("PostgreSQL server binaries (initdb, postgres) not found in PATH or /usr/lib/postgresql/*/bin; " +
	"install them (Debian/Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; macOS: brew install postgresql@15) " +
	"or pass --database-url to use an existing server")

// Options describe the cluster to run.
type Options struct {
	// DataDir holds the cluster (created and initialised when empty) and its socket.
	DataDir string
	// Port to listen on at 127.0.0.1; 0 picks a free one.
	Port int
	// Password of the `postgres` superuser for TCP connections; empty means trust (tests only).
	Password string
	// Ephemeral trades durability for speed: fsync and synchronous commit off. For tests.
	Ephemeral bool
	// Settings are extra `-c name=value` server settings.
	Settings map[string]string
}

// Cluster is a running PostgreSQL server owned by this process.
type Cluster struct {
	opts    Options
	binDir  string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
	stopMu  sync.Once
	cred    *syscall.Credential
}

// FindBinaries returns the directory holding initdb and postgres: PATH first, then the newest
// /usr/lib/postgresql/<version>/bin (Debian keeps them off PATH).
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Start initialises DataDir if needed and starts the server, returning once it accepts
// connections. The caller must Stop it.
func Start(ctx context.Context, opts Options) (*Cluster, error) {
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts, binDir: binDir, exited: make(chan struct{})}
	if err := c.dropPrivileges(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	if err := c.chown(opts.DataDir); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(c.pgdata(), "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if err := c.initdb(ctx); err != nil {
			return nil, err
		}
	}
	c.port = opts.Port
	if c.port == 0 {
		if c.port, err = freePort(); err != nil {
			return nil, err
		}
	}
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *Cluster) pgdata() string  { return filepath.Join(c.opts.DataDir, "pgdata") }
func (c *Cluster) sockDir() string { return c.opts.DataDir }

// dropPrivileges picks the account the server runs as when we are root.
func (c *Cluster) dropPrivileges() error {
	if os.Geteuid() != 0 {
		return nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		return nil
	}
	return errors.New("running as root, but neither a 'postgres' nor a 'nobody' system user exists to run PostgreSQL as; create one (useradd --system postgres)")
}

func (c *Cluster) chown(path string) error {
	if c.cred == nil {
		return nil
	}
	if err := os.Chown(path, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
		return fmt.Errorf("hand %s to uid %d: %w", path, c.cred.Uid, err)
	}
	return nil
}

func (c *Cluster) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, filepath.Join(c.binDir, name), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "TZ=UTC")
	// Own process group: a Ctrl-C in the terminal reaches us, and we stop the server in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred, Pdeathsig: syscall.SIGTERM}
	return cmd
}

func (c *Cluster) initdb(ctx context.Context) error {
	args := []string{"-D", c.pgdata(), "-U", "postgres", "-E", "UTF8", "--locale=C", "--auth-local=trust"}
	if c.opts.Password != "" {
		pwfile := filepath.Join(c.opts.DataDir, ".pwfile")
		if err := os.WriteFile(pwfile, []byte(c.opts.Password+"\n"), 0o600); err != nil {
			return fmt.Errorf("write password file: %w", err)
		}
		defer os.Remove(pwfile)
		if err := c.chown(pwfile); err != nil {
			return err
		}
		args = append(args, "--auth-host=scram-sha-256", "--pwfile="+pwfile)
	} else {
		args = append(args, "--auth-host=trust")
	}
	if c.opts.Ephemeral {
		args = append(args, "--no-sync")
	}
	out, err := c.command(ctx, "initdb", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", c.pgdata(), err, accessHint(string(out), c.opts.DataDir))
	}
	return nil
}

func accessHint(out, dir string) string {
	if strings.Contains(out, "ermission denied") {
		return out + fmt.Sprintf("\nhint: the PostgreSQL server runs as an unprivileged user that must be able to reach %s; choose a data dir outside /root (e.g. --data-dir=/var/lib/tera)", dir)
	}
	return out
}

func (c *Cluster) start(ctx context.Context) error {
	args := []string{"-D", c.pgdata(), "-p", strconv.Itoa(c.port), "-k", c.sockDir(),
		"-c", "listen_addresses=127.0.0.1", "-c", "max_connections=300", "-c", "log_min_messages=warning",
		"-c", "logging_collector=off"}
	settings := map[string]string{}
	if c.opts.Ephemeral {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range c.opts.Settings {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+settings[k])
	}
	// Not tied to ctx: the server must outlive a cancelled start-up context and stop in order.
	cmd := c.command(context.Background(), "postgres", args...)
	logFile, err := os.OpenFile(filepath.Join(c.opts.DataDir, "postgres.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open server log: %w", err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start postgres: %w", err)
	}
	c.cmd = cmd
	go func() {
		c.waitErr = cmd.Wait()
		logFile.Close()
		close(c.exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Accepting TCP is not accepting queries ("the database system is starting up"): only a
		// successful query says the server is ready.
		if err := c.ping(ctx); err == nil {
			return nil
		}
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start-up (%v); see %s", c.waitErr, filepath.Join(c.opts.DataDir, "postgres.log"))
		case <-ctx.Done():
			c.Stop(context.Background())
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.Stop(context.Background())
			return fmt.Errorf("postgres did not accept connections within 30s; see %s", filepath.Join(c.opts.DataDir, "postgres.log"))
		}
	}
}

func (c *Cluster) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, c.URL("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, "SELECT 1")
	return err
}

// Addr is host:port of the server.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// URL of database db as the superuser.
func (c *Cluster) URL(db string) string {
	u := url.URL{Scheme: "postgres", Host: c.Addr(), Path: "/" + db, RawQuery: "sslmode=disable"}
	if c.opts.Password != "" {
		u.User = url.UserPassword("postgres", c.opts.Password)
	} else {
		u.User = url.User("postgres")
	}
	return u.String()
}

// Stop shuts the server down (fast shutdown: clients disconnected, no data lost), killing it if
// it has not exited when ctx ends or after 15 s.
func (c *Cluster) Stop(ctx context.Context) error {
	var err error
	c.stopMu.Do(func() {
		if c.cmd == nil || c.cmd.Process == nil {
			return
		}
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		t := time.NewTimer(15 * time.Second)
		defer t.Stop()
		select {
		case <-c.exited:
		case <-ctx.Done():
			err = c.kill()
		case <-t.C:
			err = c.kill()
		}
	})
	return err
}

func (c *Cluster) kill() error {
	// The whole group: postmaster and its backends.
	_ = syscall.Kill(-c.cmd.Process.Pid, syscall.SIGKILL)
	<-c.exited
	return errors.New("postgres did not stop in time and was killed")
}

// Restart starts a stopped server again on the same port with the same data, so tests can
// simulate an outage and a recovery.
func (c *Cluster) Restart(ctx context.Context) error {
	c.exited = make(chan struct{})
	c.stopMu = sync.Once{}
	return c.start(ctx)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RandomPassword returns a password for a private cluster.
func RandomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
