// Package importertest loads the real OpenTera v1.3.0 dumps into throwaway databases of the
// test cluster, for the tests of `tera import opentera`.
package importertest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/testenv"
)

// Dumps holds the four databases of a real OpenTera v1.3.0 server, as pg_dump wrote them.
const Dumps = "/work/shared/opentera/dumps/"

// Load loads one dump (opentera.sql, openteralogs.sql, openteraemails.sql, openterafiles.sql,
// or a file at an absolute path) into a fresh database with psql; it returns the database's
// URL and a pool on it, both gone after the test.
func Load(t testing.TB, file string) (string, *pgxpool.Pool) {
	t.Helper()
	if !filepath.IsAbs(file) {
		file = Dumps + file
	}
	psql := findPsql(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "ot_" + hex.EncodeToString(b)
	admin := testenv.AdminURL(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	url := testenv.Cluster(t).URL(name)
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), admin)
		if err == nil {
			_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
			_ = c.Close(context.Background())
		}
	})
	out, err := exec.Command(psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", file).CombinedOutput()
	if err != nil {
		t.Fatalf("load %s: %v\n%s", file, err, out)
	}
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return url, pool
}

// findPsql looks on PATH, then where Debian keeps the client (off PATH).
func findPsql(t testing.TB) string {
	if p, err := exec.LookPath("psql"); err == nil {
		return p
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/psql")
	if len(dirs) == 0 {
		t.Fatal("psql not found on PATH or in /usr/lib/postgresql/*/bin")
	}
	return dirs[len(dirs)-1]
}
