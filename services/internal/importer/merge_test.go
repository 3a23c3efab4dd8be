package importer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/crypto/bcrypt"

	"github.com/tera-health/tera/services/internal/fleettest"
	"github.com/tera-health/tera/services/internal/importer"
	"github.com/tera-health/tera/services/internal/testenv"
)

// mergeTarget is a migrated Tera database that holds rows of its own: its ids start at 1000
// (as a site readies itself for a merge, with ALTER SEQUENCE), and it has a site, a project,
// a participant and a user, written with the triggers on as the API writes them.
func mergeTarget(t *testing.T) (string, *pgxpool.Pool) {
	t.Helper()
	ctx := context.Background()
	url := testenv.DatabaseURL(t)
	dst := connectTarget(t, url)
	hash, err := bcrypt.GenerateFromPassword([]byte("tera-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	_, err = dst.Exec(ctx, `
SELECT setval(pg_get_serial_sequence(format('%I.%I', n.nspname, c.relname), a.attname), 1000, false)
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'core' AND c.relkind = 'r' AND a.attidentity <> '';
INSERT INTO core.t_sites (site_name) VALUES ('Tera site');
INSERT INTO core.t_projects (id_site, project_name) VALUES (1000, 'Tera project');`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec(ctx, `
INSERT INTO core.t_participants (participant_uuid, participant_name, participant_username, id_project, participant_enabled)
  VALUES (gen_random_uuid()::text, 'Tera participant', 'tera-participant', 1000, true)`); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec(ctx, `
INSERT INTO core.t_users (user_username, user_uuid, user_firstname, user_lastname, user_password, user_enabled)
  VALUES ('tera-user', gen_random_uuid()::text, 'Tera', 'User', $1, true)`, string(hash)); err != nil {
		t.Fatal(err)
	}
	return url, dst
}

// fingerprint is every imported table's count and an md5 of its rows, the outbox's count and
// the sequences' positions: what "nothing written" compares.
func fingerprint(t *testing.T, db *pgxpool.Pool) string {
	t.Helper()
	var b strings.Builder
	for _, tbl := range importer.Core.Tables {
		var s string
		if err := db.QueryRow(context.Background(), fmt.Sprintf("SELECT count(*) || ':' || coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '') FROM core.%s t", tbl)).Scan(&s); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&b, "%s=%s ", tbl, s)
	}
	fmt.Fprintf(&b, "outbox=%d ", count(t, db, "SELECT count(*) FROM core.outbox"))
	var seqs string
	if err := db.QueryRow(context.Background(), `SELECT string_agg(sequencename || '=' || coalesce(last_value::text, '-'), ',' ORDER BY sequencename)
		FROM pg_sequences WHERE schemaname = 'core'`).Scan(&seqs); err != nil {
		t.Fatal(err)
	}
	b.WriteString(seqs)
	return b.String()
}

// A merge into a Tera site with rows of its own keeps both sets, ids and all, and the API
// serves both: the imported accounts and the site's own log in, each one's rows are served by
// their ids, and new rows get ids above both sets (and above the site's sequences).
func TestImportMergesAlongsideUnrelatedRows(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dbURL, dst := mergeTarget(t)
	// The site had handed out site ids up to 5000 (rows deleted since): none is handed out again.
	if _, err := dst.Exec(ctx, "SELECT setval(pg_get_serial_sequence('core.t_sites', 'id_site'), 5000)"); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, dst)

	// Without --merge, refused.
	_, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst})
	if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "not empty") || !strings.Contains(err.Error(), "--merge") {
		t.Fatalf("err = %v, want a non-empty refusal naming --merge", err)
	}
	// The dry run finds no collision, imports, verifies and rolls back.
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, Merge: true, DryRun: true})
	if err != nil || len(rep.Collisions) != 0 || len(rep.Refusals) != 0 || len(rep.Mismatches()) != 0 || rep.Committed {
		t.Fatalf("dry run: err %v, collisions %v, refusals %v, mismatches %v", err, rep.Collisions, rep.Refusals, rep.Mismatches())
	}
	if got := fingerprint(t, dst); got != before {
		t.Fatalf("the dry run wrote:\n%s\n%s", before, got)
	}

	existing := map[string]int64{}
	for _, tbl := range importer.Core.Tables {
		existing[tbl] = count(t, dst, "SELECT count(*) FROM core."+tbl)
	}
	outbox := count(t, dst, "SELECT count(*) FROM core.outbox")
	rep, err = importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, Merge: true})
	var out bytes.Buffer
	rep.Write(&out)
	t.Log(out.String())
	if err != nil || !rep.Committed || len(rep.Mismatches()) != 0 {
		t.Fatalf("merge: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "already there") || !strings.Contains(out.String(), "copy the core tables (merge: into tables with their keys and indexes)") {
		t.Errorf("report:\n%s", out.String())
	}
	for _, tr := range rep.Tables {
		want := count(t, src, "SELECT count(*) FROM public."+tr.Table)
		if tr.Existing != existing[tr.Table] || tr.SourceRows != want || tr.TargetRows != want {
			t.Errorf("%s: report %d already there, %d/%d rows; want %d, %d", tr.Table, tr.Existing, tr.SourceRows, tr.TargetRows, existing[tr.Table], want)
		}
		if n := count(t, dst, "SELECT count(*) FROM core."+tr.Table); n != existing[tr.Table]+want {
			t.Errorf("%s: %d rows, want %d already there and %d imported", tr.Table, n, existing[tr.Table], want)
		}
	}
	if existing["t_participants"] != 1 || existing["t_users"] != 1 {
		t.Fatalf("the target held %v", existing)
	}
	if n := count(t, dst, "SELECT count(*) FROM core.outbox"); n != outbox {
		t.Errorf("the merge wrote %d outbox events", n-outbox)
	}

	base, _ := fleettest.NewSiteOn(t, dbURL).Start("core,login")
	admin := fleettest.Login(t, base, "user", "admin", "admin")
	fleettest.Login(t, base, "user", "user3", "user3")
	fleettest.Login(t, base, "user", "tera-user", "tera-pass")
	fleettest.Login(t, base, "participant", "participant1", "opentera")
	for _, p := range []struct {
		id   int
		name string
	}{{1, "Participant #1"}, {3, "Participant #3"}, {1000, "Tera participant"}} {
		var got []map[string]any
		get(t, "GET", base+fmt.Sprintf("/api/user/participants?id_participant=%d", p.id), auth("OpenTera", admin), nil, &got)
		if len(got) != 1 || got[0]["participant_name"] != p.name {
			t.Errorf("participant %d: %v, want %q", p.id, got, p.name)
		}
	}
	var projects []map[string]any
	get(t, "GET", base+"/api/user/projects?id_site=1000", auth("OpenTera", admin), nil, &projects)
	if len(projects) != 1 || projects[0]["project_name"] != "Tera project" {
		t.Errorf("the site's own projects: %v", projects)
	}
	var static string
	if err := src.QueryRow(ctx, "SELECT participant_token FROM public.t_participants WHERE id_participant = 1").Scan(&static); err != nil {
		t.Fatal(err)
	}
	if a := fleettest.Do(t, "GET", base+"/api/participant/login", auth("OpenTera", static), nil); a.Status != http.StatusOK {
		t.Errorf("imported static token: %d %s", a.Status, a.Body)
	}

	var created []map[string]any
	get(t, "POST", base+"/api/user/participants", auth("OpenTera", admin),
		map[string]any{"participant": map[string]any{"id_participant": 0, "participant_name": "After the merge", "id_project": 1}}, &created)
	if len(created) != 1 {
		t.Fatalf("new participant: %v", created)
	}
	if id, _ := created[0]["id_participant"].(float64); id <= 1000 {
		t.Errorf("new participant id %v, want above the site's 1000 and the imported ones", id)
	}
	var site int64
	if err := dst.QueryRow(ctx, "INSERT INTO core.t_sites (site_name) VALUES ('After the merge') RETURNING id_site").Scan(&site); err != nil {
		t.Fatal(err)
	}
	if site <= 5000 {
		t.Errorf("new site id %d: the merge moved the site's sequence back below 5000", site)
	}
}

// The rows of the target each collision test plants, and the collision each must cause.
var collisions = []struct {
	name, plant string
	want        importer.Collision
}{
	{"id", `INSERT INTO core.t_participants (id_participant, participant_uuid, participant_name, id_project) VALUES (2, gen_random_uuid()::text, 'Tera two', 1000)`,
		importer.Collision{Table: "t_participants", Row: "2", Column: "id_participant", Value: "2", In: "core.t_participants", Existing: "2", Key: "t_participants_pkey"}},
	{"uuid", `INSERT INTO core.t_participants (id_participant, participant_uuid, participant_name, id_project) VALUES (1001, '1895a822-fec6-4afe-b5a1-2c8fbfabffd1', 'Tera same uuid', 1000)`,
		importer.Collision{Table: "t_participants", Row: "3", Column: "participant_uuid", Value: "1895a822-fec6-4afe-b5a1-2c8fbfabffd1", In: "core.t_participants", Existing: "1001", Key: "t_participants_participant_uuid_key"}},
	{"username", `INSERT INTO core.t_users (id_user, user_username, user_uuid, user_firstname, user_lastname, user_password, user_enabled) VALUES (1002, 'user3', gen_random_uuid()::text, 'Other', 'User3', 'x', true)`,
		importer.Collision{Table: "t_users", Row: "5", Column: "user_username", Value: "user3", In: "core.t_users", Existing: "1002", Key: "t_users_user_username_key"}},
	// Tera's index counts live participants only; a merge counts the soft-deleted too.
	{"soft-deleted username", `INSERT INTO core.t_participants (id_participant, participant_uuid, participant_name, participant_username, id_project, deleted_at) VALUES (1003, gen_random_uuid()::text, 'Gone', 'participant1', 1000, now())`,
		importer.Collision{Table: "t_participants", Row: "1", Column: "participant_username", Value: "participant1", In: "core.t_participants", Existing: "1003", Deleted: true, Key: "t_participants_username_live"}},
}

// A colliding id, uuid or username refuses the merge with the collision named, and nothing is
// written.
func TestImportMergeRefusesCollisions(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	for _, c := range collisions {
		t.Run(c.name, func(t *testing.T) {
			_, dst := mergeTarget(t)
			if _, err := dst.Exec(ctx, c.plant); err != nil {
				t.Fatal(err)
			}
			before := fingerprint(t, dst)
			rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, Merge: true})
			var out bytes.Buffer
			rep.Write(&out)
			if !errors.Is(err, importer.ErrRefused) || !strings.Contains(err.Error(), "1 imported rows collide") {
				t.Fatalf("err = %v, want a collision refusal\n%s", err, out.String())
			}
			want := c.want
			want.Database = "core"
			if len(rep.Collisions) != 1 || rep.Collisions[0] != want {
				t.Fatalf("collisions %+v, want %+v", rep.Collisions, want)
			}
			if !strings.Contains(out.String(), fmt.Sprintf("collides: core.%s row %s: %s = %q is held by core.%s row %s", want.Table, want.Row, want.Column, want.Value, want.Table, want.Existing)) ||
				!strings.Contains(out.String(), "1 imported rows collide with rows already in the Tera database; nothing written") {
				t.Errorf("report:\n%s", out.String())
			}
			if rep.Committed || len(rep.Tables) != 0 {
				t.Errorf("committed %v, tables %v", rep.Committed, rep.Tables)
			}
			if got := fingerprint(t, dst); got != before {
				t.Errorf("a refused merge wrote:\n%s\n%s", before, got)
			}
		})
	}
}

// --dry-run --merge lists every collision and writes nothing.
func TestImportMergeDryRunListsCollisions(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	_, dst := mergeTarget(t)
	for _, c := range collisions {
		if _, err := dst.Exec(ctx, c.plant); err != nil {
			t.Fatal(err)
		}
	}
	before := fingerprint(t, dst)
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, Merge: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Write(&out)
	got := map[importer.Collision]bool{}
	for _, c := range rep.Collisions {
		got[c] = true
	}
	for _, c := range collisions {
		want := c.want
		want.Database = "core"
		if !got[want] {
			t.Errorf("%s: the dry run does not list %+v", c.name, want)
		}
	}
	if len(rep.Collisions) != len(collisions) || rep.Committed {
		t.Errorf("collisions %+v, committed %v", rep.Collisions, rep.Committed)
	}
	if !strings.Contains(out.String(), `collides: core.t_participants row 1: participant_username = "participant1" is held by core.t_participants row 1003, soft-deleted (t_participants_username_live)`) ||
		!strings.Contains(out.String(), fmt.Sprintf("%d imported rows collide with rows already in the Tera database; nothing written", len(collisions))) {
		t.Errorf("report:\n%s", out.String())
	}
	if got := fingerprint(t, dst); got != before {
		t.Errorf("the dry run wrote:\n%s\n%s", before, got)
	}
}

// A site merged into itself collides everywhere, its server settings (the signing keys) first:
// each key lists its first rows and counts the rest.
func TestImportMergeOfASiteIntoItself(t *testing.T) {
	ctx := context.Background()
	src := LoadDump(t)
	dst := testenv.DB(t)
	if _, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst}); err != nil {
		t.Fatal(err)
	}
	before := fingerprint(t, dst)
	rep, err := importer.Run(ctx, importer.Options{Sources: coreOnly(src), Target: dst, Merge: true, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Write(&out)
	t.Log(out.String())
	sessions := count(t, src, "SELECT count(*) FROM public.t_sessions")
	for _, want := range []string{
		`collides: core.t_server_settings row 1: id_server_settings = "1" is held by core.t_server_settings row 1 (t_server_settings_pkey)`,
		`collides: core.t_server_settings row 1: server_settings_name = "TokenEncryptionKey" is held by core.t_server_settings row 1 (t_server_settings_server_settings_name_key)`,
		fmt.Sprintf("collides: and %d more rows of core.t_sessions on id_session (t_sessions_pkey)", sessions-20),
		fmt.Sprintf("%d imported rows collide with rows already in the Tera database; nothing written", rep.CollisionCount()),
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	// Every row collides at least on its primary key.
	var rows int64
	for _, tbl := range importer.Core.Tables {
		rows += count(t, src, "SELECT count(*) FROM public."+tbl)
	}
	if n := rep.CollisionCount(); n < rows {
		t.Errorf("%d collisions counted, want at least the %d rows", n, rows)
	}
	if got := fingerprint(t, dst); got != before {
		t.Errorf("the dry run wrote:\n%s\n%s", before, got)
	}
}

// An imported file must not take the blob key of a Tera archive's zip: its copy would replace
// the zip. Refused with the archive named, the zip kept.
func TestImportRefusesAFileOnAnArchivesKey(t *testing.T) {
	ctx := context.Background()
	s := loadSite(t)
	store := blobDir(t)
	dst := testenv.DB(t)
	var uuid string
	if err := s.files.QueryRow(ctx, "SELECT asset_uuid FROM public.t_asset_file_data ORDER BY id_asset_file_data LIMIT 1").Scan(&uuid); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Exec(ctx, `INSERT INTO filetransfer.t_archive_file_data (id_archive_file_data, archive_uuid, archive_original_filename, archive_status, archive_owner_uuid)
		VALUES (7, $1, 'archive.zip', 2, gen_random_uuid()::text)`, uuid); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Put(ctx, uuid, strings.NewReader("PK the archive")); err != nil {
		t.Fatal(err)
	}
	rep, err := importer.Run(ctx, importer.Options{Sources: s.sources(), Target: dst, FilesDir: s.dir, Blob: store})
	var out bytes.Buffer
	rep.Write(&out)
	if !errors.Is(err, importer.ErrRefused) || len(rep.Collisions) != 1 ||
		!strings.Contains(out.String(), fmt.Sprintf("asset_uuid = %q is held by filetransfer.t_archive_file_data row 7 (the blob store key of an archive's zip)", uuid)) {
		t.Fatalf("err = %v\n%s", err, out.String())
	}
	if b := readBlob(t, store, uuid); string(b) != "PK the archive" {
		t.Errorf("the archive's zip was replaced: %q", b)
	}
	assertEmpty(t, dst)
}
