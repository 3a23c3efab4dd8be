// Package importer copies an existing OpenTera core database into Tera's schema `core`, keeping
// every id, uuid, password hash, TOTP secret, static token, deleted_at and version_id, so that
// users, participants and devices in the field keep working after a site switches.
//
// Tera keeps OpenTera's table and column names, so the import is a table-by-table COPY of the
// columns both sides have, in foreign-key order, in one target transaction: either every row
// lands and the verify report matches, or nothing is written.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// SourceSchema is where pg_dump/OpenTera keep the tables.
const SourceSchema = "public"

// Supported maps the OpenTera alembic revisions whose schema this importer knows to the
// OpenTera release that has it.
var Supported = map[string]string{
	"6b9c4707d8ef": "OpenTera v1.3.0",
}

// Tables are the OpenTera core tables Tera has, in an order where every row's foreign keys point
// at rows copied earlier.
var Tables = []string{
	"t_server_settings", "t_services", "t_sites", "t_projects", "t_participants_groups", "t_participants",
	"t_users", "t_users_groups", "t_users_users_groups", "t_users_preferences",
	"t_devices_types", "t_devices_subtypes", "t_devices", "t_devices_sites", "t_devices_projects", "t_devices_participants",
	"t_services_roles", "t_services_access", "t_services_configs", "t_services_configs_specifics",
	"t_services_projects", "t_services_sites",
	"t_sessions_types", "t_sessions_types_sites", "t_sessions_types_projects", "t_sessions_types_services",
	"t_sessions", "t_sessions_participants", "t_sessions_users", "t_sessions_devices", "t_sessions_events",
	"t_assets", "t_tests_types", "t_tests_types_sites", "t_tests_types_projects", "t_tests", "t_tests_invitations",
}

// Options configure one import.
type Options struct {
	Source *pgxpool.Pool // OpenTera's core database
	Target *pgxpool.Pool // Tera's database, migrated
	DryRun bool          // run everything, then roll back
}

// TableReport is one table's outcome.
type TableReport struct {
	Table          string
	SourceRows     int64
	TargetRows     int64
	SourceChecksum string
	TargetChecksum string
	Columns        []string // copied
	Dropped        []string // source columns Tera has no place for
}

// Match reports whether the table arrived whole.
func (t TableReport) Match() bool {
	return t.SourceRows == t.TargetRows && t.SourceChecksum == t.TargetChecksum
}

// Refusal is a source row Tera's constraints would reject.
type Refusal struct {
	Table  string
	Row    string // the row's primary key(s)
	Reason string
}

// Report is what an import did or, on a dry run, would do.
type Report struct {
	Version   string // OpenTera release of the source
	Tables    []TableReport
	Refusals  []Refusal
	Skipped   []string // source tables not imported
	Committed bool
	Elapsed   time.Duration
}

// Mismatches lists the tables whose target differs from the source.
func (r *Report) Mismatches() []string {
	var out []string
	for _, t := range r.Tables {
		if !t.Match() {
			out = append(out, t.Table)
		}
	}
	return out
}

// ErrRefused wraps every refusal to import (unknown version, non-empty target, refused rows,
// verify mismatch): nothing was written.
var ErrRefused = errors.New("import refused")

// column is one column of a table, as the catalog describes it.
type column struct {
	name, typ        string
	notNull, hasDflt bool
}

// Run imports Options.Source into Options.Target. On any error or refusal the target
// transaction is rolled back; the report is returned as far as it got.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	rep := &Report{}
	src, err := o.Source.Acquire(ctx)
	if err != nil {
		return rep, fmt.Errorf("connect to the OpenTera database: %w", err)
	}
	defer src.Release()
	// One snapshot of the source for the whole run, so a site that did not quite freeze writes
	// still yields a consistent copy.
	stx, err := src.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return rep, fmt.Errorf("open a snapshot of the OpenTera database: %w", err)
	}
	defer func() { _ = stx.Rollback(context.Background()) }()
	if err := setSession(ctx, stx); err != nil {
		return rep, err
	}
	if rep.Version, err = checkVersion(ctx, stx); err != nil {
		return rep, err
	}

	dst, err := o.Target.Acquire(ctx)
	if err != nil {
		return rep, fmt.Errorf("connect to the Tera database: %w", err)
	}
	defer dst.Release()
	ttx, err := dst.Begin(ctx)
	if err != nil {
		return rep, fmt.Errorf("begin the Tera transaction: %w", err)
	}
	defer func() { _ = ttx.Rollback(context.Background()) }()
	if err := setSession(ctx, ttx); err != nil {
		return rep, err
	}
	// Imported rows are history, not new events: no outbox rows, no automatic links or roles,
	// no integrity side effects (the source already obeyed OpenTera's rules, and the checks
	// below report what Tera's constraints would refuse). DISABLE TRIGGER USER keeps the
	// foreign-key checks, is part of this transaction (a rollback undoes it) and locks each
	// table against writers until commit.
	for _, t := range Tables {
		if _, err := ttx.Exec(ctx, fmt.Sprintf("ALTER TABLE core.%s DISABLE TRIGGER USER", t)); err != nil {
			return rep, fmt.Errorf("disable triggers on core.%s (the importer must own Tera's tables): %w", t, err)
		}
	}
	if _, err := ttx.Exec(ctx, "SET LOCAL tera.outbox = 'off'; SET LOCAL tera.autolink = 'off'"); err != nil {
		return rep, fmt.Errorf("switch outbox capture off: %w", err)
	}
	if err := checkEmpty(ctx, ttx); err != nil {
		return rep, err
	}

	srcCols, err := columns(ctx, stx, SourceSchema)
	if err != nil {
		return rep, err
	}
	dstCols, err := columns(ctx, ttx, "core")
	if err != nil {
		return rep, err
	}
	known := map[string]bool{}
	for _, t := range Tables {
		known[t] = true
	}
	for t := range srcCols {
		if !known[t] && t != "alembic_version" {
			rep.Skipped = append(rep.Skipped, t)
		}
	}
	sort.Strings(rep.Skipped)

	plans := make([]plan, 0, len(Tables))
	for _, t := range Tables {
		p, refusals, err := planTable(ctx, stx, ttx, t, srcCols[t], dstCols[t])
		if err != nil {
			return rep, err
		}
		rep.Refusals = append(rep.Refusals, refusals...)
		plans = append(plans, p)
	}
	if len(rep.Refusals) > 0 && !o.DryRun {
		return rep, fmt.Errorf("%w: %d source rows break Tera's constraints (run with --dry-run for the list)", ErrRefused, len(rep.Refusals))
	}
	if len(rep.Refusals) > 0 {
		// The copy would fail on the first of them; the refusals are the dry run's answer.
		for _, p := range plans {
			tr := TableReport{Table: p.table, Columns: p.cols, Dropped: p.dropped}
			if p.present {
				if tr.SourceRows, tr.SourceChecksum, err = checksum(ctx, stx, SourceSchema, p); err != nil {
					return rep, err
				}
			}
			rep.Tables = append(rep.Tables, tr)
		}
		rep.Elapsed = time.Since(start)
		return rep, nil
	}

	for _, p := range plans {
		if !p.present {
			rep.Tables = append(rep.Tables, TableReport{Table: p.table})
			continue
		}
		if err := copyTable(ctx, src.Conn().PgConn(), dst.Conn().PgConn(), p); err != nil {
			return rep, err
		}
	}
	for _, p := range plans {
		if err := advanceSequences(ctx, stx, ttx, p); err != nil {
			return rep, err
		}
	}
	for _, t := range Tables {
		if _, err := ttx.Exec(ctx, fmt.Sprintf("ALTER TABLE core.%s ENABLE TRIGGER USER", t)); err != nil {
			return rep, fmt.Errorf("re-enable triggers on core.%s: %w", t, err)
		}
	}
	// Verify before commit: a difference rolls everything back.
	rep.Tables = rep.Tables[:0]
	for _, p := range plans {
		tr := TableReport{Table: p.table, Columns: p.cols, Dropped: p.dropped}
		if p.present {
			if tr.SourceRows, tr.SourceChecksum, err = checksum(ctx, stx, SourceSchema, p); err != nil {
				return rep, err
			}
			if tr.TargetRows, tr.TargetChecksum, err = checksum(ctx, ttx, "core", p); err != nil {
				return rep, err
			}
		}
		rep.Tables = append(rep.Tables, tr)
	}
	if bad := rep.Mismatches(); len(bad) > 0 {
		return rep, fmt.Errorf("%w: verify found differences in %s", ErrRefused, strings.Join(bad, ", "))
	}
	if o.DryRun {
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	if err := ttx.Commit(ctx); err != nil {
		return rep, fmt.Errorf("commit the import: %w", err)
	}
	rep.Committed = true
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// setSession fixes the text forms COPY and the checksums use, identically on both sides.
func setSession(ctx context.Context, tx pgx.Tx) error {
	_, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3")
	if err != nil {
		return fmt.Errorf("set session formats: %w", err)
	}
	return nil
}

func supportedList() string {
	var vs []string
	for rev, rel := range Supported {
		vs = append(vs, fmt.Sprintf("%s (%s)", rev, rel))
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}

func checkVersion(ctx context.Context, tx pgx.Tx) (string, error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", SourceSchema+".alembic_version").Scan(&exists); err != nil {
		return "", fmt.Errorf("look for alembic_version: %w", err)
	}
	if !exists {
		return "", fmt.Errorf("%w: the source has no %s.alembic_version table: not an OpenTera core database (supported: %s)", ErrRefused, SourceSchema, supportedList())
	}
	rows, err := tx.Query(ctx, "SELECT version_num FROM "+SourceSchema+".alembic_version")
	if err != nil {
		return "", fmt.Errorf("read alembic_version: %w", err)
	}
	revs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("read alembic_version: %w", err)
	}
	if len(revs) != 1 {
		return "", fmt.Errorf("%w: alembic_version holds %d revisions %v, expected one of: %s", ErrRefused, len(revs), revs, supportedList())
	}
	rel, ok := Supported[revs[0]]
	if !ok {
		return "", fmt.Errorf("%w: OpenTera schema version %q is not one this importer knows; supported: %s", ErrRefused, revs[0], supportedList())
	}
	return rel, nil
}

// checkEmpty refuses a target that holds any row in the imported tables: merging two sites'
// ids is not supported. A database created by `tera migrate` alone is empty; `tera seed`
// (even its defaults) is not, since the source brings its own services, settings and admin.
func checkEmpty(ctx context.Context, tx pgx.Tx) error {
	var full []string
	for _, t := range Tables {
		var any bool
		if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM core.%s)", t)).Scan(&any); err != nil {
			return fmt.Errorf("check core.%s is empty: %w", t, err)
		}
		if any {
			full = append(full, t)
		}
	}
	if len(full) > 0 {
		return fmt.Errorf("%w: the Tera database is not empty (rows in %s); import into a database that `tera migrate` created and nothing wrote to (not `tera seed`)",
			ErrRefused, strings.Join(full, ", "))
	}
	return nil
}

func columns(ctx context.Context, tx pgx.Tx, schema string) (map[string][]column, error) {
	rows, err := tx.Query(ctx, `
SELECT c.relname, a.attname, format_type(a.atttypid, NULL), a.attnotnull,
       a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
  FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped
 ORDER BY c.relname, a.attnum`, schema)
	if err != nil {
		return nil, fmt.Errorf("read the columns of schema %s: %w", schema, err)
	}
	defer rows.Close()
	out := map[string][]column{}
	for rows.Next() {
		var t string
		var c column
		if err := rows.Scan(&t, &c.name, &c.typ, &c.notNull, &c.hasDflt); err != nil {
			return nil, fmt.Errorf("read the columns of schema %s: %w", schema, err)
		}
		out[t] = append(out[t], c)
	}
	return out, rows.Err()
}

// plan is how one table is copied and verified.
type plan struct {
	table   string
	present bool     // the source has the table
	cols    []string // copied, in the target's order
	keys    []string // checksummed: copied columns of the same type on both sides, JSON aside
	pk      []string
	idents  []string // target identity columns
	dropped []string
}

// textual folds the string types, whose ROW text forms are the same.
func textual(typ string) string {
	switch typ {
	case "character varying", "text", "character":
		return "text"
	}
	return typ
}

func quoteList(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = pgx.Identifier{c}.Sanitize()
	}
	return strings.Join(q, ", ")
}

func planTable(ctx context.Context, stx, ttx pgx.Tx, table string, src, dst []column) (plan, []Refusal, error) {
	p := plan{table: table, present: len(src) > 0}
	if !p.present {
		return p, nil, nil
	}
	srcBy := map[string]column{}
	for _, c := range src {
		srcBy[c.name] = c
	}
	dstBy := map[string]bool{}
	var refusals []Refusal
	for _, d := range dst {
		dstBy[d.name] = true
		s, ok := srcBy[d.name]
		if !ok {
			if d.notNull && !d.hasDflt {
				return p, nil, fmt.Errorf("%w: core.%s.%s is required and the OpenTera table has no such column", ErrRefused, table, d.name)
			}
			continue
		}
		p.cols = append(p.cols, d.name)
		if textual(s.typ) == textual(d.typ) && d.typ != "json" && d.typ != "jsonb" {
			p.keys = append(p.keys, d.name)
		}
	}
	for _, s := range src {
		if !dstBy[s.name] {
			p.dropped = append(p.dropped, s.name)
		}
	}
	err := ttx.QueryRow(ctx, `
SELECT coalesce(array_agg(a.attname ORDER BY k.ord), '{}')
  FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = $1::regclass AND i.indisprimary`, "core."+table).Scan(&p.pk)
	if err != nil {
		return p, nil, fmt.Errorf("read the primary key of core.%s: %w", table, err)
	}
	if len(p.pk) == 0 {
		return p, nil, fmt.Errorf("core.%s has no primary key", table)
	}
	for _, k := range p.pk {
		if _, ok := srcBy[k]; !ok {
			return p, nil, fmt.Errorf("%w: the OpenTera table %s lacks the primary key column %s", ErrRefused, table, k)
		}
	}
	err = ttx.QueryRow(ctx, `SELECT coalesce(array_agg(attname ORDER BY attnum), '{}') FROM pg_attribute
 WHERE attrelid = $1::regclass AND attidentity <> '' AND NOT attisdropped`, "core."+table).Scan(&p.idents)
	if err != nil {
		return p, nil, fmt.Errorf("read the identity columns of core.%s: %w", table, err)
	}

	rowID := "concat_ws(',', " + quoteList(p.pk) + ")"
	srcTable := SourceSchema + "." + table
	// NOT NULL in Tera, NULL in OpenTera.
	for _, d := range dst {
		s, ok := srcBy[d.name]
		if !ok || !d.notNull || s.notNull {
			continue
		}
		ids, err := queryIDs(ctx, stx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NULL", rowID, srcTable, pgx.Identifier{d.name}.Sanitize()))
		if err != nil {
			return p, nil, fmt.Errorf("check %s.%s for NULLs: %w", table, d.name, err)
		}
		for _, id := range ids {
			refusals = append(refusals, Refusal{table, id, fmt.Sprintf("%s is empty and Tera requires it", d.name)})
		}
	}
	// Tera's unique indexes (with their expressions and predicates) run against the source.
	uniq, err := ttx.Query(ctx, `
SELECT c.relname, (SELECT array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) FROM generate_series(1, i.indnkeyatts) k),
       coalesce(pg_get_expr(i.indpred, i.indrelid, true), '')
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::regclass AND i.indisunique AND NOT i.indisprimary ORDER BY c.relname`, "core."+table)
	if err != nil {
		return p, nil, fmt.Errorf("read the unique indexes of core.%s: %w", table, err)
	}
	type uindex struct {
		name  string
		exprs []string
		pred  string
	}
	uidx, err := pgx.CollectRows(uniq, func(r pgx.CollectableRow) (uindex, error) {
		var u uindex
		return u, r.Scan(&u.name, &u.exprs, &u.pred)
	})
	if err != nil {
		return p, nil, fmt.Errorf("read the unique indexes of core.%s: %w", table, err)
	}
	for _, u := range uidx {
		where := make([]string, 0, len(u.exprs)+1)
		for _, e := range u.exprs {
			where = append(where, "("+e+") IS NOT NULL")
		}
		if u.pred != "" {
			where = append(where, "("+u.pred+")")
		}
		q := fmt.Sprintf("SELECT string_agg(%s, ' and ' ORDER BY %s), concat_ws(', ', %s) FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1",
			rowID, quoteList(p.pk), strings.Join(u.exprs, ", "), srcTable, strings.Join(where, " AND "), strings.Join(u.exprs, ", "))
		rows, err := stx.Query(ctx, q)
		if err != nil {
			return p, nil, fmt.Errorf("check %s against Tera's unique index %s: %w", table, u.name, err)
		}
		dups, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) ([2]string, error) {
			var d [2]string
			return d, r.Scan(&d[0], &d[1])
		})
		if err != nil {
			return p, nil, fmt.Errorf("check %s against Tera's unique index %s: %w", table, u.name, err)
		}
		for _, d := range dups {
			refusals = append(refusals, Refusal{table, d[0], fmt.Sprintf("rows collide on %s = %q (unique in Tera: %s)", strings.Join(u.exprs, ", "), d[1], u.name)})
		}
	}
	// Tera's CHECK constraints.
	chk, err := ttx.Query(ctx, `SELECT conname, pg_get_expr(conbin, conrelid, true) FROM pg_constraint
 WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname`, "core."+table)
	if err != nil {
		return p, nil, fmt.Errorf("read the check constraints of core.%s: %w", table, err)
	}
	checks, err := pgx.CollectRows(chk, func(r pgx.CollectableRow) ([2]string, error) {
		var c [2]string
		return c, r.Scan(&c[0], &c[1])
	})
	if err != nil {
		return p, nil, fmt.Errorf("read the check constraints of core.%s: %w", table, err)
	}
	for _, c := range checks {
		ids, err := queryIDs(ctx, stx, fmt.Sprintf("SELECT %s FROM %s WHERE NOT (%s)", rowID, srcTable, c[1]))
		if err != nil {
			return p, nil, fmt.Errorf("check %s against Tera's constraint %s: %w", table, c[0], err)
		}
		for _, id := range ids {
			refusals = append(refusals, Refusal{table, id, fmt.Sprintf("breaks Tera's rule %s: %s", c[0], c[1])})
		}
	}
	return p, refusals, nil
}

func queryIDs(ctx context.Context, tx pgx.Tx, q string) ([]string, error) {
	rows, err := tx.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// copyTable streams the table from source to target through COPY's text format: memory stays
// flat in the row count and every type travels as PostgreSQL's own text form.
func copyTable(ctx context.Context, src, dst *pgconn.PgConn, p plan) error {
	cols := quoteList(p.cols)
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := src.CopyTo(ctx, pw, fmt.Sprintf("COPY (SELECT %s FROM %s.%s) TO STDOUT", cols, SourceSchema, p.table))
		pw.CloseWithError(err)
		done <- err
	}()
	_, err := dst.CopyFrom(ctx, pr, fmt.Sprintf("COPY core.%s (%s) FROM STDIN", p.table, cols))
	pr.CloseWithError(errors.New("target COPY ended"))
	srcErr := <-done
	if srcErr != nil && err == nil {
		err = srcErr
	}
	if err != nil {
		return fmt.Errorf("copy %s: %w", p.table, err)
	}
	return nil
}

// advanceSequences moves each identity past both the imported ids and OpenTera's own sequence,
// so an id OpenTera once handed out (and a client may have cached) is never handed out again.
func advanceSequences(ctx context.Context, stx, ttx pgx.Tx, p plan) error {
	for _, col := range p.idents {
		next := int64(1)
		if err := ttx.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(max(%s), 0) + 1 FROM core.%s", pgx.Identifier{col}.Sanitize(), p.table)).Scan(&next); err != nil {
			return fmt.Errorf("read max %s.%s: %w", p.table, col, err)
		}
		var seq *string
		if err := stx.QueryRow(ctx, "SELECT pg_get_serial_sequence($1, $2)", SourceSchema+"."+p.table, col).Scan(&seq); err != nil {
			return fmt.Errorf("find the OpenTera sequence of %s.%s: %w", p.table, col, err)
		}
		if seq != nil {
			var last int64
			var called bool
			if err := stx.QueryRow(ctx, "SELECT last_value, is_called FROM "+*seq).Scan(&last, &called); err != nil {
				return fmt.Errorf("read the OpenTera sequence %s: %w", *seq, err)
			}
			if !called {
				last--
			}
			if last+1 > next {
				next = last + 1
			}
		}
		if _, err := ttx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, $2), $3, false)", "core."+p.table, col, next); err != nil {
			return fmt.Errorf("advance the sequence of core.%s.%s: %w", p.table, col, err)
		}
	}
	return nil
}

// checksum is the row count and an md5 over the key columns of every row in primary-key order.
func checksum(ctx context.Context, tx pgx.Tx, schema string, p plan) (int64, string, error) {
	var n int64
	var sum string
	q := fmt.Sprintf("SELECT count(*), md5(coalesce(string_agg(ROW(%s)::text, E'\\n' ORDER BY %s), '')) FROM %s.%s",
		quoteList(p.keys), quoteList(p.pk), schema, p.table)
	if err := tx.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
		return 0, "", fmt.Errorf("checksum %s.%s: %w", schema, p.table, err)
	}
	return n, sum, nil
}
