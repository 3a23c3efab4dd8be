package accessmatrix_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/access"
	"github.com/tera-health/tera/services/internal/testenv"
)

// The matrix's write check sees a write outside the walking account's scope, in whichever table,
// and nothing of a write inside it.
func TestFingerprintFindsOutOfScopeWrites(t *testing.T) {
	ctx := context.Background()
	db, err := pgxpool.New(ctx, testenv.FixtureURL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(db.Close)
	if _, err := db.Exec(ctx, extras(site2Hash)); err != nil {
		t.Fatal(err)
	}
	a := accounts[1]
	if a.name != "siteadmin" {
		t.Fatalf("accounts[1] is %s", a.name)
	}
	sc, err := freezeScope(ctx, db, a)
	if err != nil {
		t.Fatal(err)
	}
	fp, problems, err := newFingerprinter(ctx, db, sc, a)
	if err != nil || len(problems) > 0 {
		t.Fatal(err, problems)
	}
	before, err := fp.take(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	write := func(sql string, args ...any) []string {
		t.Helper()
		tag, err := db.Exec(ctx, sql, args...)
		if err != nil || tag.RowsAffected() == 0 {
			t.Fatalf("%s: %d rows, %v", sql, tag.RowsAffected(), err)
		}
		after, err := fp.take(ctx, db)
		if err != nil {
			t.Fatal(err)
		}
		d := diff(before, after)
		before = after
		return d
	}
	if d := write(`UPDATE core.t_projects SET project_name = project_name || ' (renamed)' WHERE id_project = $1`, sc.projects[0]); len(d) > 0 {
		t.Fatalf("a write in scope was reported:\n%s", strings.Join(d, "\n"))
	}
	for _, c := range []struct{ table, sql string }{
		{"core.t_sites", `UPDATE core.t_sites SET site_name = site_name || ' (renamed)' WHERE NOT id_site = ANY($1)`},
		{"core.t_participants", `UPDATE core.t_participants SET participant_name = participant_name || ' (renamed)'
			WHERE id_participant = (SELECT min(id_participant) FROM core.t_participants WHERE NOT id_participant = ANY($1))`},
		{"core.t_devices_types", `UPDATE core.t_devices_types SET device_type_name = device_type_name || ' (renamed)'
			WHERE id_device_type = (SELECT min(id_device_type) FROM core.t_devices_types) AND $1::int[] IS NOT NULL`},
	} {
		scopeIDs := sc.sites
		if c.table == "core.t_participants" {
			scopeIDs = sc.read[access.Participants]
		}
		d := write(c.sql, scopeIDs)
		if len(d) != 1 || !strings.HasPrefix(d[0], c.table+":") {
			t.Errorf("write to %s outside the scope: reported %q", c.table, d)
		}
	}
}
