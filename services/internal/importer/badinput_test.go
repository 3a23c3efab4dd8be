package importer_test

import (
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

// The revision before 6b9c4707d8ef, made by applying that revision's alembic downgrade (it
// drops t_tests_invitations) to the v1.3.0 dump: a site one OpenTera release behind.
func TestImportRefusesThePreviousSchemaVersion(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	if _, err := src.Exec(ctx, "DROP TABLE public.t_tests_invitations; DROP SEQUENCE IF EXISTS public.id_test_invitation_sequence; UPDATE public.alembic_version SET version_num = '818356b801fd'"); err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	for _, dry := range []bool{true, false} {
		_, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, DryRun: dry})
		if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), `"818356b801fd"`) || !strings.Contains(err.Error(), "supported: 6b9c4707d8ef (OpenTera v1.3.0)") {
			t.Fatalf("dry run %v: err = %v, want a refusal naming the version and the supported ones", dry, err)
		}
	}
	assertEmpty(t, dst)
}

// A source at the right revision with a table missing was created or restored in part.
func TestImportRefusesASourceMissingATable(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	if _, err := src.Exec(ctx, "DROP TABLE public.t_tests_invitations, public.t_sessions_events"); err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	_, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst})
	if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "lacks t_sessions_events, t_tests_invitations") ||
		!strings.Contains(err.Error(), "OpenTera v1.3.0") {
		t.Fatalf("err = %v, want a refusal naming the missing tables", err)
	}
	assertEmpty(t, dst)
}

// A dump cut in the middle of a table's rows loads without an error (psql ends the COPY at the
// end of the file), leaving every table, some rows and no keys.
func TestImportRefusesADumpCutMidTable(t *testing.T) {
	ctx := context.Background()
	dump, err := os.ReadFile(importertest.Dumps + "opentera.sql")
	if err != nil {
		t.Fatal(err)
	}
	at := strings.Index(string(dump), "COPY public.t_sessions (")
	if at < 0 {
		t.Fatal("no t_sessions data in the dump")
	}
	cut := at
	for range 6 { // the COPY line and five rows
		cut += strings.IndexByte(string(dump[cut:]), '\n') + 1
	}
	path := filepath.Join(t.TempDir(), "cut.sql")
	if err := os.WriteFile(path, dump[:cut], 0o600); err != nil {
		t.Fatal(err)
	}
	_, src := importertest.Load(t, path)
	if n := count(t, src, "SELECT count(*) FROM public.t_sessions"); n != 5 {
		t.Fatalf("the cut dump loaded %d sessions, want 5", n)
	}
	dst := testenv.DB(t)
	for _, dry := range []bool{true, false} {
		_, err = importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, DryRun: dry})
		if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "no primary key") || !strings.Contains(err.Error(), "restored only in part") {
			t.Fatalf("dry run %v: err = %v, want a refusal naming the missing keys", dry, err)
		}
	}
	assertEmpty(t, dst)
}

// Rows pointing at rows the source does not have (its constraint dropped, as a partial restore
// or a hand repair leaves it) are listed by the dry run; the import refuses them.
func TestImportRefusesRowsReferencingAbsentRows(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	var fk string
	if err := src.QueryRow(ctx, `SELECT conname FROM pg_constraint WHERE conrelid = 'public.t_sessions_participants'::regclass
		AND contype = 'f' AND confrelid = 'public.t_sessions'::regclass`).Scan(&fk); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Exec(ctx, `ALTER TABLE public.t_sessions_participants DROP CONSTRAINT `+fk+`;
		INSERT INTO public.t_sessions_participants (version_id, id_session_participant, id_session, id_participant) VALUES (1, 9001, 4242, 1)`); err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refusals) != 1 || rep.Refusals[0].Table != "t_sessions_participants" || rep.Refusals[0].Row != "9001" ||
		!strings.Contains(rep.Refusals[0].Reason, "id_session = 4242 points at no row of t_sessions") {
		t.Fatalf("refusals = %+v", rep.Refusals)
	}
	if _, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst}); !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "1 source rows") {
		t.Fatalf("err = %v, want a refusal", err)
	}
	assertEmpty(t, dst)
}
