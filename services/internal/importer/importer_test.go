package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/importer/importertest"
	"github.com/tera-health/tera/services/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func coreOnly(src *pgxpool.Pool) []importer.Source {
	return []importer.Source{{DB: importer.Core, Pool: src}}
}

// LoadDump loads the OpenTera core dump into a throwaway database.
func LoadDump(t testing.TB) *pgxpool.Pool { return LoadDumpFile(t, "opentera.sql") }

func LoadDumpFile(t testing.TB, file string) *pgxpool.Pool {
	_, pool := importertest.Load(t, file)
	return pool
}

func count(t *testing.T, db *pgxpool.Pool, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func TestImportOpenTeraDump(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dst := testenv.DB(t)
	start := time.Now()
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst})
	t.Logf("imported in %s", time.Since(start))
	var out bytes.Buffer
	rep.Write(&out)
	t.Log(out.String())
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if !rep.Committed || len(rep.Mismatches()) > 0 || len(rep.Refusals) > 0 {
		t.Fatalf("committed=%v mismatches=%v refusals=%v", rep.Committed, rep.Mismatches(), rep.Refusals)
	}
	if len(rep.Versions) != 1 || rep.Versions[0] != "core: OpenTera v1.3.0" {
		t.Errorf("versions %q", rep.Versions)
	}
	for _, tbl := range importer.Core.Tables {
		s := count(t, src, "SELECT count(*) FROM public."+tbl)
		d := count(t, dst, "SELECT count(*) FROM core."+tbl)
		if s != d {
			t.Errorf("%s: source %d rows, target %d", tbl, s, d)
		}
	}
	if n := count(t, dst, "SELECT count(*) FROM core.t_participants"); n != 4 {
		t.Errorf("participants: %d, want the fixture's 4", n)
	}
	// Secrets, uuids, tokens, soft deletes and version ids survive byte for byte.
	for _, q := range []string{
		"SELECT md5(string_agg(concat_ws('|', id_user, user_uuid, user_username, user_password, user_2fa_otp_secret, deleted_at::text, version_id), ',' ORDER BY id_user)) FROM %s.t_users",
		"SELECT md5(string_agg(concat_ws('|', id_participant, participant_uuid, participant_password, participant_token, deleted_at::text, version_id), ',' ORDER BY id_participant)) FROM %s.t_participants",
		"SELECT md5(string_agg(concat_ws('|', id_device, device_uuid, device_token, version_id), ',' ORDER BY id_device)) FROM %s.t_devices",
		"SELECT md5(string_agg(concat_ws('|', id_session, session_uuid, version_id), ',' ORDER BY id_session)) FROM %s.t_sessions",
		"SELECT md5(string_agg(concat_ws('|', id_service_role, id_service, id_site, id_project, service_role_name), ',' ORDER BY id_service_role)) FROM %s.t_services_roles",
	} {
		var a, b string
		if err := src.QueryRow(ctx, strings.Replace(q, "%s", "public", 1)).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := dst.QueryRow(ctx, strings.Replace(q, "%s", "core", 1)).Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Errorf("differs: %s", q)
		}
	}
	// No side effects: no outbox events, no auto-created roles (counted above), triggers back on.
	if n := count(t, dst, "SELECT count(*) FROM core.outbox"); n != 0 {
		t.Errorf("outbox holds %d events for imported rows", n)
	}
	if n := count(t, dst, "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'core.t_sites'::regclass AND NOT tgisinternal AND tgenabled = 'D'"); n != 0 {
		t.Errorf("%d triggers left disabled on t_sites", n)
	}
	// New rows get ids above the imported ones, and the triggers fire for them again.
	maxID := count(t, dst, "SELECT max(id_participant) FROM core.t_participants")
	var id int64
	err = dst.QueryRow(ctx, `INSERT INTO core.t_participants (participant_uuid, participant_name, id_project, participant_enabled)
		VALUES (gen_random_uuid()::text, 'new', 1, true) RETURNING id_participant`).Scan(&id)
	if err != nil {
		t.Fatal(err)
	}
	if id <= maxID {
		t.Errorf("new participant got id %d, imported max %d", id, maxID)
	}
	if n := count(t, dst, "SELECT count(*) FROM core.outbox WHERE model = 'participant'"); n != 1 {
		t.Errorf("outbox events for the new participant: %d, want 1", n)
	}
	roles := count(t, dst, "SELECT count(*) FROM core.t_services_roles")
	if _, err := dst.Exec(ctx, "INSERT INTO core.t_sites (site_name) VALUES ('After import')"); err != nil {
		t.Fatal(err)
	}
	if n := count(t, dst, "SELECT count(*) FROM core.t_services_roles"); n != roles+2 {
		t.Errorf("a site created after the import made %d roles, want 2", n-roles)
	}
}

func assertEmpty(t *testing.T, dst *pgxpool.Pool) {
	t.Helper()
	for _, db := range []importer.Database{importer.Core, importer.Logs, importer.Emails, importer.Files} {
		for _, tbl := range db.Tables {
			if n := count(t, dst, "SELECT count(*) FROM "+db.Schema+"."+tbl); n != 0 {
				t.Errorf("%s.%s holds %d rows after a refused import", db.Schema, tbl, n)
			}
		}
	}
}

func TestImportRefusesUnknownVersion(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	if _, err := src.Exec(ctx, "UPDATE public.alembic_version SET version_num = 'ffffffffffff'"); err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	_, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst})
	if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "ffffffffffff") || !strings.Contains(err.Error(), "6b9c4707d8ef (OpenTera v1.3.0)") {
		t.Fatalf("err = %v, want a refusal naming the version and the supported ones", err)
	}
	assertEmpty(t, dst)
	if _, err := src.Exec(ctx, "DROP TABLE public.alembic_version"); err != nil {
		t.Fatal(err)
	}
	if _, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst}); !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "alembic_version") {
		t.Fatalf("no alembic_version: err = %v", err)
	}
}

func TestImportRefusesNonEmptyTarget(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dst := testenv.FixtureDB(t)
	before := count(t, dst, "SELECT count(*) FROM core.t_participants")
	_, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst})
	if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "t_users") {
		t.Fatalf("err = %v, want a non-empty refusal", err)
	}
	if n := count(t, dst, "SELECT count(*) FROM core.t_participants"); n != before {
		t.Errorf("participants %d -> %d", before, n)
	}
}

func TestImportDryRunReportsAndWritesNothing(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dst := testenv.DB(t)
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Committed || len(rep.Refusals) != 0 || len(rep.Mismatches()) != 0 {
		t.Fatalf("committed=%v refusals=%v mismatches=%v", rep.Committed, rep.Refusals, rep.Mismatches())
	}
	for _, tr := range rep.Tables {
		if want := count(t, src, "SELECT count(*) FROM public."+tr.Table); tr.SourceRows != want || tr.TargetRows != want {
			t.Errorf("%s: report %d/%d, source %d", tr.Table, tr.SourceRows, tr.TargetRows, want)
		}
	}
	assertEmpty(t, dst)
	// A second, real run after the dry run works: the dry run left no trace (triggers, locks).
	if _, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst}); err != nil {
		t.Fatalf("import after dry run: %v", err)
	}
}

// Tera forbids two live participants with one username; OpenTera does not check it in the
// database. The dry run lists the colliding rows; the import refuses and writes nothing.
func TestImportRefusesCollidingRows(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	if _, err := src.Exec(ctx, "UPDATE public.t_participants SET participant_username = 'participant1' WHERE id_participant = 2"); err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Refusals) != 1 || rep.Refusals[0].Table != "t_participants" || rep.Refusals[0].Row != "1 and 2" ||
		!strings.Contains(rep.Refusals[0].Reason, "participant1") {
		t.Fatalf("refusals = %+v", rep.Refusals)
	}
	_, err = importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst})
	if !errors.Is(err, importer.ErrRefused) {
		t.Fatalf("err = %v, want a refusal", err)
	}
	assertEmpty(t, dst)
}

func connectTarget(t testing.TB, url string) *pgxpool.Pool {
	t.Helper()
	pool, err := pgxpool.New(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// The three databases of one site land in one transaction, ids and all; a bad one stops all.
func TestImportLogsAndEmailsWithCore(t *testing.T) {
	ctx := context.Background()
	core, logs, emails := LoadDump(t), LoadDumpFile(t, "openteralogs.sql"), LoadDumpFile(t, "openteraemails.sql")
	sources := []importer.Source{{DB: importer.Core, Pool: core}, {DB: importer.Logs, Pool: logs}, {DB: importer.Emails, Pool: emails}}

	// An emails database of an unknown revision refuses the whole import, core and logs too.
	if _, err := emails.Exec(ctx, "INSERT INTO public.alembic_version VALUES ('abcdef012345')"); err != nil {
		t.Fatal(err)
	}
	dst := testenv.DB(t)
	if _, err := importer.Run(ctx, importer.Options{Sources: sources, Target: dst}); !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "emails") {
		t.Fatalf("err = %v, want the emails source refused", err)
	}
	assertEmpty(t, dst)
	if _, err := emails.Exec(ctx, "DELETE FROM public.alembic_version"); err != nil {
		t.Fatal(err)
	}

	var progress bytes.Buffer
	rep, err := importer.Run(ctx, importer.Options{Sources: sources, Target: dst, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	logins := count(t, logs, "SELECT count(*) FROM public.t_logins")
	if logins < 500 || !strings.Contains(progress.String(), fmt.Sprintf("copied logging.t_logins: %d rows", logins)) {
		t.Errorf("progress: %s", progress.String())
	}
	if !rep.Committed || len(rep.Mismatches()) > 0 {
		t.Fatalf("committed=%v mismatches=%v", rep.Committed, rep.Mismatches())
	}
	for _, c := range []struct {
		src                   *pgxpool.Pool
		table, schema, idCols string
	}{
		{logs, "t_log_entry", "logging", "id_log_entry, log_level, sender, message, timestamp"},
		{logs, "t_logins", "logging", "id_login_event, login_timestamp, login_user_uuid, login_participant_uuid, login_status, login_type, login_client_ip"},
		{emails, "t_email_templates", "email", "id_email_template, id_site, id_project, email_template_key, email_template, email_template_language"},
	} {
		q := "SELECT count(*) || md5(coalesce(string_agg(ROW(" + c.idCols + ")::text, ',' ORDER BY 1), '')) FROM %s." + c.table
		var a, b string
		if err := c.src.QueryRow(ctx, strings.Replace(q, "%s", "public", 1)).Scan(&a); err != nil {
			t.Fatal(err)
		}
		if err := dst.QueryRow(ctx, strings.Replace(q, "%s", c.schema, 1)).Scan(&b); err != nil {
			t.Fatal(err)
		}
		if a != b || strings.HasPrefix(a, "0") {
			t.Errorf("%s: source %s, target %s", c.table, a, b)
		}
	}
	if n := count(t, dst, "SELECT count(*) FROM logging.t_logins"); n != logins {
		t.Errorf("logins: %d, want the source's %d", n, logins)
	}
	maxID := count(t, dst, "SELECT max(id_login_event) FROM logging.t_logins")
	var id int64
	if err := dst.QueryRow(ctx, `INSERT INTO logging.t_logins (login_timestamp, login_log_level, login_sender, login_status, login_type, login_client_ip)
		VALUES (now(), 1, 'test', 1, 1, '127.0.0.1') RETURNING id_login_event`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if id <= maxID {
		t.Errorf("new login event id %d, imported max %d", id, maxID)
	}
}
