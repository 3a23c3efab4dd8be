package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/importer/importertest"
	"github.com/tera-health/tera/services/internal/testenv"
)

func runImport(args ...string) (string, string, error) {
	var out, errOut bytes.Buffer
	root := newRoot()
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"import", "opentera", "--log-level", "error"}, args...))
	err := root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func TestImportOpenTeraCommand(t *testing.T) {
	from, src := importertest.Load(t, "opentera.sql")
	logs, _ := importertest.Load(t, "openteralogs.sql")
	target := testenv.DatabaseURL(t)

	out, _, err := runImport("--from", from, "--logs-from", logs, "--database-url", target, "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: imported and verified") || !strings.Contains(out, "core.t_participants") ||
		!strings.Contains(out, "logs.t_logins") {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	out, progress, err := runImport("--from", from, "--logs-from", logs, "--database-url", target)
	if err != nil || !strings.Contains(out, "imported and verified") || !strings.Contains(progress, "copied core.t_sessions: 28 rows") ||
		!strings.Contains(progress, "copied logging.t_logins: ") {
		t.Fatalf("import: %v\n%s\n%s", err, out, progress)
	}
	// Each phase's time, as it ends and in the report.
	for _, phase := range []string{"plan: check Tera's foreign keys on the source: ", "copy the core tables: ", "copy the logs tables: ",
		"derive: SELECT core.recount_project_counts(): ", "verify: count and checksum the target: ", "commit: "} {
		if !strings.Contains(progress, phase) {
			t.Errorf("progress lacks %q:\n%s", phase, progress)
		}
	}
	if !strings.Contains(out, "time per phase:\n") || !strings.Contains(out, "  copy the core tables  ") {
		t.Errorf("the report lacks the phases:\n%s", out)
	}
	// A second run finds a non-empty target and says so (the process exits non-zero on it).
	if _, _, err := runImport("--from", from, "--database-url", target); !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("second import: %v", err)
	}
	// With --merge, every imported row collides with itself: listed by the dry run, refused.
	out, _, err = runImport("--from", from, "--database-url", target, "--merge", "--dry-run")
	if err != nil || !strings.Contains(out, `collides: core.t_users row 1: id_user = "1" is held by core.t_users row 1 (t_users_pkey)`) ||
		!strings.Contains(out, "collide with rows already in the Tera database; nothing written") {
		t.Fatalf("--merge --dry-run: %v\n%s", err, out)
	}
	if _, _, err := runImport("--from", from, "--database-url", target, "--merge"); !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "collide") {
		t.Fatalf("--merge: %v", err)
	}
	if _, err := src.Exec(context.Background(), "UPDATE public.alembic_version SET version_num = '0123456789ab'"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runImport("--from", from, "--database-url", testenv.DatabaseURL(t)); err == nil || !strings.Contains(err.Error(), "6b9c4707d8ef") {
		t.Fatalf("unknown version: %v", err)
	}
	if _, _, err := runImport("--database-url", target); err == nil || !strings.Contains(err.Error(), "--from") {
		t.Fatalf("no source: %v", err)
	}
}

// The files database and directory come along into the site's blob store (here TERA_BLOB_DIR);
// a missing file is refused with the file named and nothing written.
func TestImportOpenTeraCommandFiles(t *testing.T) {
	ctx := context.Background()
	from, _ := importertest.Load(t, "opentera.sql")
	filesFrom, files := importertest.Load(t, "openterafiles.sql")
	dir, blobs := t.TempDir(), t.TempDir()
	t.Setenv("TERA_BLOB_DIR", blobs)
	const uuid = "8a562a14-71ed-44be-a3d5-2ddc21186fb0" // the dump's asset 1
	if _, err := files.Exec(ctx, `INSERT INTO public.t_asset_file_data VALUES (1, 1, $1, 'a.bin', 5)`, uuid); err != nil {
		t.Fatal(err)
	}
	if _, _, err := runImport("--from", from, "--files-from", filesFrom, "--database-url", testenv.DatabaseURL(t)); err == nil || !strings.Contains(err.Error(), "--files-dir") {
		t.Fatalf("--files-from alone: %v", err)
	}
	target := testenv.DatabaseURL(t)
	out, _, err := runImport("--from", from, "--files-from", filesFrom, "--files-dir", dir, "--database-url", target)
	if !errors.Is(err, importer.ErrRefused) || !strings.Contains(out, "its file "+uuid+" is missing from the files directory") {
		t.Fatalf("missing file: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(blobs, uuid)); !os.IsNotExist(err) {
		t.Fatalf("a refused import left a blob: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, uuid), []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	out, progress, err := runImport("--from", from, "--files-from", filesFrom, "--files-dir", dir, "--database-url", target)
	if err != nil || !strings.Contains(out, "1 copied to the blob store and verified") || !strings.Contains(progress, "copied files: 1 (5 B)") {
		t.Fatalf("import: %v\n%s\n%s", err, out, progress)
	}
	if b, err := os.ReadFile(filepath.Join(blobs, uuid)); err != nil || string(b) != "hello" {
		t.Fatalf("blob: %q %v", b, err)
	}
}
