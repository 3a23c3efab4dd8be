// Package importer copies an existing OpenTera site into Tera: its core database into Tera's
// schema `core` (and its logging, email and file-transfer databases into theirs), keeping every
// id, uuid, password hash, TOTP secret, static token, deleted_at and version_id, so that users,
// participants and devices in the field keep working after a site switches; and the
// FileTransferService files directory into Tera's blob store.
//
// Tera keeps OpenTera's table and column names, so the import is a table-by-table COPY of the
// columns both sides have, in foreign-key order, in one target transaction: either every row
// lands and the verify report matches, or nothing is written. Files cannot be part of a
// transaction: they are checked before anything is copied and copied before the commit, so a
// refused or failed import leaves at most blobs no row names, which the next run reuses.
package importer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tera-health/tera/services/internal/blob"
)

// SourceSchema is where pg_dump/OpenTera keep the tables.
const SourceSchema = "public"

// Database is one of OpenTera's databases and where its tables land in Tera.
type Database struct {
	Name   string // as the command line names it: core, logs, emails
	Schema string // Tera's schema
	// Tables are the OpenTera tables Tera has, in an order where every row's foreign keys point
	// at rows copied earlier.
	Tables []string
	// Supported maps the alembic revisions whose schema this importer knows to the OpenTera
	// release that has it; "" is an alembic_version table without a row (OpenTera's services
	// create their tables without recording a revision).
	Supported map[string]string
	// Unversioned, when set, is the release whose database has no alembic_version table at all
	// (FileTransferService never creates one).
	Unversioned string
	// Derive rebuilds what Tera's triggers derive from these tables, which are off for the copy.
	Derive []string
}

// Core is TeraServer's database.
var Core = Database{
	Name: "core", Schema: "core",
	Tables: []string{
		"t_server_settings", "t_services", "t_sites", "t_projects", "t_participants_groups", "t_participants",
		"t_users", "t_users_groups", "t_users_users_groups", "t_users_preferences",
		"t_devices_types", "t_devices_subtypes", "t_devices", "t_devices_sites", "t_devices_projects", "t_devices_participants",
		"t_services_roles", "t_services_access", "t_services_configs", "t_services_configs_specifics",
		"t_services_projects", "t_services_sites",
		"t_sessions_types", "t_sessions_types_sites", "t_sessions_types_projects", "t_sessions_types_services",
		"t_sessions", "t_sessions_participants", "t_sessions_users", "t_sessions_devices", "t_sessions_events",
		"t_assets", "t_tests_types", "t_tests_types_sites", "t_tests_types_projects", "t_tests", "t_tests_invitations",
	},
	Supported: map[string]string{"6b9c4707d8ef": "OpenTera v1.3.0"},
	Derive:    []string{"SELECT core.recount_project_counts()"},
}

// Logs is LoggingService's database.
var Logs = Database{
	Name: "logs", Schema: "logging",
	Tables:    []string{"t_log_entry", "t_logins"},
	Supported: map[string]string{"": "OpenTera v1.3.0 LoggingService (no alembic revision)"},
}

// Emails is EmailService's database.
var Emails = Database{
	Name: "emails", Schema: "email",
	Tables:    []string{"t_email_templates"},
	Supported: map[string]string{"": "OpenTera v1.3.0 EmailService (no alembic revision)"},
}

// Source is one OpenTera database to import.
type Source struct {
	DB   Database
	Pool *pgxpool.Pool
}

// Options configure one import.
type Options struct {
	Sources []Source
	Target  *pgxpool.Pool // Tera's database, migrated
	DryRun  bool          // run everything, then roll back (files: checked, not copied)
	// Merge imports into tables that already hold rows, when no imported row collides with one
	// of them on its primary key or a unique key (see merge.go); without it, a target with rows
	// in the imported tables is refused.
	Merge bool
	// FilesDir is FileTransferService's files directory, Blob Tera's blob store: both are
	// required with a Files source, whose rows name the files to copy.
	FilesDir string
	Blob     blob.Store
	// Progress receives a closing line per copied table and for the files, and while one is
	// under way a bar redrawn in place (ProgressBars: a terminal) or else a plain line every
	// ProgressEvery (default 10 s); nil for none.
	Progress      io.Writer
	ProgressBars  bool
	ProgressEvery time.Duration
}

// TableReport is one table's outcome.
type TableReport struct {
	Database   string // Database.Name
	Table      string
	SourceRows int64
	// TargetRows are the imported rows found in the target: its rows less the Existing ones.
	TargetRows     int64
	Existing       int64 // rows the target held before the import (a merge)
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
	Database string
	Table    string
	Row      string // the row's primary key(s)
	Reason   string
}

// Report is what an import did or, on a dry run, would do.
type Report struct {
	Versions []string // per source: its name and OpenTera release
	Tables   []TableReport
	Refusals []Refusal
	// Collisions are the imported rows whose key a row already in the target holds (a merge).
	Collisions []Collision
	Skipped    []string // source tables not imported
	Files      *FilesReport
	Phases     []Phase // in the order they ran
	Committed  bool
	DryRun     bool
	Merge      bool
	Elapsed    time.Duration
}

// Mismatches lists the tables whose target differs from the source.
func (r *Report) Mismatches() []string {
	var out []string
	for _, t := range r.Tables {
		if !t.Match() {
			out = append(out, t.Database+"."+t.Table)
		}
	}
	return out
}

// ErrRefused wraps every refusal to import (unknown version, non-empty target, refused rows,
// colliding rows, verify mismatch): nothing was written.
var ErrRefused = errors.New("import refused")

// column is one column of a table, as the catalog describes it.
type column struct {
	name, typ        string
	notNull, hasDflt bool
}

// open is one source during the import: its snapshot and its tables' plans.
type open struct {
	db      Database
	release string
	conn    *pgxpool.Conn
	tx      pgx.Tx
	plans   []plan
	// occupied are the tables that held rows in the target before the import (a merge).
	occupied map[string]bool
}

// Run imports every source into Options.Target in ONE target transaction: all databases or
// none. On any error or refusal it is rolled back; the report is returned as far as it got.
func Run(ctx context.Context, o Options) (*Report, error) {
	start := time.Now()
	rep := &Report{DryRun: o.DryRun, Merge: o.Merge}
	if len(o.Sources) == 0 {
		return rep, errors.New("nothing to import: no source database")
	}
	var files *open
	hasFiles := false
	for _, so := range o.Sources {
		hasFiles = hasFiles || so.DB.Name == Files.Name
	}
	if hasFiles != (o.FilesDir != "") || (hasFiles && o.Blob == nil) {
		return rep, errors.New("the files database and the files directory go together, with a blob store: the rows name the files, the directory holds them")
	}
	pg := newProgress(o.Progress, o.ProgressBars, o.ProgressEvery)
	defer pg.close()
	tm := newClock(rep, pg)
	done := tm.start("open the sources and check their versions")
	var srcs []*open
	defer func() {
		for _, s := range srcs {
			_ = s.tx.Rollback(context.Background())
			s.conn.Release()
		}
	}()
	for _, so := range o.Sources {
		conn, err := so.Pool.Acquire(ctx)
		if err != nil {
			return rep, fmt.Errorf("connect to the OpenTera %s database: %w", so.DB.Name, err)
		}
		// One snapshot of each source for the whole run, so a site that did not quite freeze
		// writes still yields a consistent copy.
		stx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
		if err != nil {
			conn.Release()
			return rep, fmt.Errorf("open a snapshot of the OpenTera %s database: %w", so.DB.Name, err)
		}
		srcs = append(srcs, &open{db: so.DB, conn: conn, tx: stx})
		if so.DB.Name == Files.Name {
			files = srcs[len(srcs)-1]
		}
		if err := setSession(ctx, stx); err != nil {
			return rep, err
		}
		rel, err := checkVersion(ctx, stx, so.DB)
		if err != nil {
			return rep, err
		}
		srcs[len(srcs)-1].release = rel
		rep.Versions = append(rep.Versions, so.DB.Name+": "+rel)
	}

	done()
	phase := "open the target and check it is empty"
	if o.Merge {
		phase = "open the target and find the tables that hold rows"
	}
	done = tm.start(phase)
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
	if o.Blob != nil {
		// A filetransfer target already running on this database sweeps blobs no row names:
		// the blobs this import copies (or reuses from an interrupted run) have no row until it
		// commits. Shared: the sweep takes it exclusively and skips its pass while it is held.
		if _, err := ttx.Exec(ctx, "SELECT pg_advisory_xact_lock_shared($1)", blob.SweepLock); err != nil {
			return rep, fmt.Errorf("take the blob sweep lock: %w", err)
		}
	}
	if _, err := ttx.Exec(ctx, "SET LOCAL tera.outbox = 'off'; SET LOCAL tera.autolink = 'off'"); err != nil {
		return rep, fmt.Errorf("switch outbox capture off: %w", err)
	}
	// Imported rows are history, not new events: no outbox rows, no automatic links or roles,
	// no integrity side effects (the source already obeyed OpenTera's rules, and the checks
	// below report what Tera's constraints would refuse). DISABLE TRIGGER USER keeps the
	// foreign-key checks, is part of this transaction (a rollback undoes it) and locks each
	// table against writers until commit.
	for _, s := range srcs {
		if err := setTriggers(ctx, ttx, s.db, "DISABLE"); err != nil {
			return rep, err
		}
		full, err := nonEmpty(ctx, ttx, s.db)
		if err != nil {
			return rep, err
		}
		if len(full) > 0 && !o.Merge {
			return rep, fmt.Errorf("%w: the Tera database is not empty (rows in %s); import into a database that `tera migrate` created and nothing wrote to (not `tera seed`), "+
				"or --merge to import alongside those rows if no id, uuid or unique key collides", ErrRefused, strings.Join(full, ", "))
		}
		s.occupied = map[string]bool{}
		for _, t := range full {
			s.occupied[strings.TrimPrefix(t, s.db.Schema+".")] = true
		}
	}
	// An imported file must not take the blob key of an archive's zip (files.go copies over
	// what is there). Archives are not imported: the rows already there are checked, and kept
	// still until the commit.
	archives := false
	if files != nil {
		if _, err := ttx.Exec(ctx, "LOCK TABLE "+archiveKeys.in+" IN SHARE MODE"); err != nil {
			return rep, fmt.Errorf("lock %s: %w", archiveKeys.in, err)
		}
		if err := ttx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM "+archiveKeys.in+")").Scan(&archives); err != nil {
			return rep, fmt.Errorf("look for archives: %w", err)
		}
	}

	done()
	done = tm.start("plan: read the schemas, plan and check every table (the checks below included)")
	for _, s := range srcs {
		srcCols, err := columns(ctx, s.tx, SourceSchema)
		if err != nil {
			return rep, err
		}
		dstCols, err := columns(ctx, ttx, s.db.Schema)
		if err != nil {
			return rep, err
		}
		known := map[string]bool{"alembic_version": true}
		var missing []string
		for _, t := range s.db.Tables {
			known[t] = true
			if len(srcCols[t]) == 0 {
				missing = append(missing, t)
			}
		}
		if len(missing) > 0 {
			return rep, fmt.Errorf("%w: the %s source lacks %s, which its version (%s) has: a half-created or half-restored database",
				ErrRefused, s.db.Name, strings.Join(missing, ", "), s.release)
		}
		for t := range srcCols {
			if !known[t] {
				rep.Skipped = append(rep.Skipped, s.db.Name+"."+t)
			}
		}
		for _, t := range s.db.Tables {
			p, refusals, err := planTable(ctx, s.tx, ttx, s.db, t, srcCols[t], dstCols[t], tm)
			if err != nil {
				return rep, err
			}
			rep.Refusals = append(rep.Refusals, refusals...)
			var rules []keyRule
			if s.occupied[t] {
				err := tm.time("merge: count and checksum the rows already in the target", func() (err error) {
					p.existing, p.existingSum, err = checksum(ctx, ttx, p.schema, p)
					return err
				})
				if err != nil {
					return rep, err
				}
				if rules, err = uniqueRules(ctx, ttx, p.schema+"."+t, p.pk, slices.ContainsFunc(dstCols[t], func(c column) bool { return c.name == "deleted_at" })); err != nil {
					return rep, err
				}
			}
			if archives && s.db.Name == Files.Name && t == "t_asset_file_data" {
				rules = append(rules, archiveKeys)
			}
			if len(rules) > 0 {
				var found []Collision
				err := tm.time("merge: find the imported keys the target already holds", func() (err error) {
					found, err = findCollisions(ctx, s.conn.Conn().PgConn(), dst.Conn().PgConn(), ttx, p, dstCols[t], rules, pg)
					return err
				})
				if err != nil {
					return rep, err
				}
				rep.Collisions = append(rep.Collisions, found...)
			}
			s.plans = append(s.plans, p)
		}
	}
	done()
	tm.flush()
	sort.Strings(rep.Skipped)
	if files != nil {
		done := tm.start("check the files")
		fr, refusals, err := checkFiles(ctx, files.tx, o.FilesDir, pg)
		done()
		rep.Files = fr
		rep.Refusals = append(rep.Refusals, refusals...)
		if err != nil {
			return rep, err
		}
	}
	if len(rep.Refusals) > 0 && !o.DryRun {
		return rep, fmt.Errorf("%w: %d source rows cannot be imported as they are (the report lists them; --dry-run lists them without writing)", ErrRefused, len(rep.Refusals))
	}
	if len(rep.Collisions) > 0 && !o.DryRun {
		return rep, fmt.Errorf("%w: %d imported rows collide with rows already in the Tera database on an id, uuid or unique key (the report lists them; --dry-run --merge lists them without writing)",
			ErrRefused, rep.CollisionCount())
	}
	if len(rep.Refusals) > 0 || len(rep.Collisions) > 0 {
		// The copy would fail on the first of them; the refusals are the dry run's answer.
		rep.Tables, err = compare(ctx, srcs, nil, tm)
		if err != nil {
			return rep, err
		}
		rep.Elapsed = time.Since(start)
		return rep, nil
	}

	for _, s := range srcs {
		// Into tables that hold rows (a merge), the keys and indexes stay: putting them back
		// would rebuild them over the rows already there, and dropping them locks the tables
		// against the site's readers until the commit. Each row is checked as it lands.
		var keys *deferred
		name := "copy the " + s.db.Name + " tables"
		bulk := len(s.occupied) == 0
		if bulk {
			done := tm.start("drop the " + s.db.Name + " tables' foreign keys and plain indexes for the copy")
			if keys, err = dropKeys(ctx, ttx, s.db); err != nil {
				return rep, err
			}
			done()
		} else {
			name += " (merge: into tables with their keys and indexes)"
		}
		done = tm.start(name)
		for _, p := range s.plans {
			t0 := time.Now()
			st := pg.begin(p.schema+"."+p.table, "rows", p.rows)
			n, err := copyTable(ctx, s.conn.Conn().PgConn(), dst.Conn().PgConn(), p, st)
			if err != nil {
				return rep, err
			}
			pg.end(st, fmt.Sprintf("copied %s.%s: %d rows in %s", p.schema, p.table, n, time.Since(t0).Round(time.Millisecond)))
		}
		done()
		if bulk {
			done = tm.start("put back the " + s.db.Name + " tables' foreign keys (validating every row) and indexes")
			if err := keys.restoreAll(ctx, ttx); err != nil {
				return rep, err
			}
			done()
		}
		done = tm.start("advance the " + s.db.Name + " sequences and enable the triggers")
		for _, p := range s.plans {
			if err := advanceSequences(ctx, s.tx, ttx, p, o.DryRun); err != nil {
				return rep, err
			}
		}
		if err := setTriggers(ctx, ttx, s.db, "ENABLE"); err != nil {
			return rep, err
		}
		done()
		for _, q := range s.db.Derive {
			done := tm.start("derive: " + q)
			if _, err := ttx.Exec(ctx, q); err != nil {
				return rep, fmt.Errorf("derive %s data (%s): %w", s.db.Name, q, err)
			}
			done()
		}
	}
	// Verify before commit: a difference rolls everything back.
	if rep.Tables, err = compare(ctx, srcs, ttx, tm); err != nil {
		return rep, err
	}
	if bad := rep.Mismatches(); len(bad) > 0 {
		return rep, fmt.Errorf("%w: verify found differences in %s", ErrRefused, strings.Join(bad, ", "))
	}
	// The files last, once every row is known to land: a refusal found above costs no copying.
	// The target transaction waits for them (idle, its tables locked against other writers).
	if files != nil && !o.DryRun {
		done := tm.start("copy the files")
		if err := copyFiles(ctx, files.tx, o.FilesDir, o.Blob, rep.Files, pg); err != nil {
			return rep, err
		}
		done()
	}
	if o.DryRun {
		rep.Elapsed = time.Since(start)
		return rep, nil
	}
	done = tm.start("commit")
	if err := ttx.Commit(ctx); err != nil {
		return rep, fmt.Errorf("commit the import: %w", err)
	}
	done()
	rep.Committed = true
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// compare counts and checksums every planned table in its source and, when ttx is not nil, in
// the target.
func compare(ctx context.Context, srcs []*open, ttx pgx.Tx, tm *clock) ([]TableReport, error) {
	var out []TableReport
	defer tm.flush()
	for _, s := range srcs {
		for _, p := range s.plans {
			tr := TableReport{Database: s.db.Name, Table: p.table, Columns: p.cols, Dropped: p.dropped, Existing: p.existing}
			err := tm.time("verify: count and checksum the sources", func() (err error) {
				tr.SourceRows, tr.SourceChecksum, err = checksum(ctx, s.tx, SourceSchema, p)
				return err
			})
			if err != nil {
				return out, err
			}
			if ttx != nil {
				err := tm.time("verify: count and checksum the target", func() (err error) {
					tr.TargetRows, tr.TargetChecksum, err = checksum(ctx, ttx, p.schema, p)
					if err != nil || p.existing == 0 {
						return err
					}
					// A merge: the rows already there are unchanged (locked against writers
					// since the start), so the sums less theirs are the imported rows'.
					tr.TargetRows -= p.existing
					tr.TargetChecksum, err = minus(tr.TargetChecksum, p.existingSum)
					return err
				})
				if err != nil {
					return out, err
				}
			}
			out = append(out, tr)
		}
	}
	return out, nil
}

func setTriggers(ctx context.Context, tx pgx.Tx, db Database, how string) error {
	for _, t := range db.Tables {
		if _, err := tx.Exec(ctx, fmt.Sprintf("ALTER TABLE %s.%s %s TRIGGER USER", db.Schema, t, how)); err != nil {
			return fmt.Errorf("%s triggers on %s.%s (the importer must own Tera's tables): %w", strings.ToLower(how), db.Schema, t, err)
		}
	}
	return nil
}

// setSession fixes the text forms COPY and the checksums use, identically on both sides.
func setSession(ctx context.Context, tx pgx.Tx) error {
	// A long files copy leaves the transactions idle for hours: no server timeout may end them.
	// The checks' aggregates and anti-joins over million-row tables, the keys' validation and
	// the index builds get the memory of a bulk load rather than a web request's (PostgreSQL's
	// default 4 MB work_mem spills a million-key hash to disk); each stays bounded by it, and
	// spills past it, whatever the row count.
	_, err := tx.Exec(ctx, "SET LOCAL TimeZone = 'UTC'; SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL extra_float_digits = 3; "+
		"SET LOCAL idle_in_transaction_session_timeout = 0; SET LOCAL statement_timeout = 0; "+
		"SET LOCAL work_mem = '128MB'; SET LOCAL maintenance_work_mem = '256MB'")
	if err != nil {
		return fmt.Errorf("set the session's formats and memory: %w", err)
	}
	return nil
}

func supportedList(db Database) string {
	var vs []string
	for rev, rel := range db.Supported {
		if rev == "" {
			rev = "no revision"
		}
		vs = append(vs, fmt.Sprintf("%s (%s)", rev, rel))
	}
	if db.Unversioned != "" {
		vs = append(vs, "no alembic_version table ("+db.Unversioned+")")
	}
	sort.Strings(vs)
	return strings.Join(vs, ", ")
}

func checkVersion(ctx context.Context, tx pgx.Tx, db Database) (string, error) {
	var exists bool
	if err := tx.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", SourceSchema+".alembic_version").Scan(&exists); err != nil {
		return "", fmt.Errorf("look for alembic_version: %w", err)
	}
	if !exists && db.Unversioned != "" {
		return db.Unversioned, checkHasTables(ctx, tx, db)
	}
	if !exists {
		return "", fmt.Errorf("%w: the %s source has no %s.alembic_version table: not an OpenTera %s database (supported: %s)", ErrRefused, db.Name, SourceSchema, db.Name, supportedList(db))
	}
	rows, err := tx.Query(ctx, "SELECT version_num FROM "+SourceSchema+".alembic_version")
	if err != nil {
		return "", fmt.Errorf("read alembic_version: %w", err)
	}
	revs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return "", fmt.Errorf("read alembic_version: %w", err)
	}
	rev := ""
	switch len(revs) {
	case 0:
	case 1:
		rev = revs[0]
	default:
		return "", fmt.Errorf("%w: the %s source's alembic_version holds %d revisions %v, expected one of: %s", ErrRefused, db.Name, len(revs), revs, supportedList(db))
	}
	rel, ok := db.Supported[rev]
	if !ok {
		if rev == "" {
			rev = "no revision"
		}
		return "", fmt.Errorf("%w: OpenTera %s schema version %q is not one this importer knows; supported: %s", ErrRefused, db.Name, rev, supportedList(db))
	}
	return rel, checkHasTables(ctx, tx, db)
}

// checkHasTables refuses a database holding none of the tables: another product's, or the
// wrong URL. (One holding some of them is refused once its tables are read.)
func checkHasTables(ctx context.Context, tx pgx.Tx, db Database) error {
	var have int
	if err := tx.QueryRow(ctx, "SELECT count(*) FROM unnest($1::text[]) t WHERE to_regclass($2 || '.' || t) IS NOT NULL", db.Tables, SourceSchema).Scan(&have); err != nil {
		return fmt.Errorf("look for the %s tables: %w", db.Name, err)
	}
	if have == 0 {
		return fmt.Errorf("%w: the %s source has none of OpenTera's %s tables (%s)", ErrRefused, db.Name, db.Name, strings.Join(db.Tables, ", "))
	}
	return nil
}

// nonEmpty lists the imported tables that hold rows in the target. A database created by
// `tera migrate` alone is empty; `tera seed` (even its defaults) is not, since the source
// brings its own services, settings and admin.
func nonEmpty(ctx context.Context, tx pgx.Tx, db Database) ([]string, error) {
	var full []string
	for _, t := range db.Tables {
		var any bool
		if err := tx.QueryRow(ctx, fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s.%s)", db.Schema, t)).Scan(&any); err != nil {
			return nil, fmt.Errorf("check %s.%s is empty: %w", db.Schema, t, err)
		}
		if any {
			full = append(full, db.Schema+"."+t)
		}
	}
	return full, nil
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
	db      string
	schema  string
	table   string
	rows    int64    // in the source
	cols    []string // copied, in the target's order
	keys    []string // checksummed: copied columns of the same type on both sides, JSON aside
	pk      []string
	idents  []string // target identity columns
	dropped []string
	// existing and existingSum are the target's rows before the import and their checksum
	// (a merge into a table that holds rows).
	existing    int64
	existingSum string
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

// planTable reads how to copy a table and checks the source against Tera's rules; tm times each
// kind of check over every table.
func planTable(ctx context.Context, stx, ttx pgx.Tx, db Database, table string, src, dst []column, tm *clock) (plan, []Refusal, error) {
	p := plan{db: db.Name, schema: db.Schema, table: table}
	qual := db.Schema + "." + table
	srcTable := SourceSchema + "." + table
	// pg_dump writes the data before the constraints: a dump cut short, or restored past its
	// errors, has the tables with some of their rows and none of their keys.
	var keyed bool
	if err := stx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_index WHERE indrelid = $1::regclass AND indisprimary)", srcTable).Scan(&keyed); err != nil {
		return p, nil, fmt.Errorf("read the primary key of the source's %s: %w", table, err)
	}
	if !keyed {
		return p, nil, fmt.Errorf("%w: the %s source's %s has no primary key, which OpenTera creates with every table: "+
			"a dump restored only in part (pg_dump writes the keys after the rows: cut short, or loaded past an error)", ErrRefused, db.Name, table)
	}
	err := tm.time("plan: count the source rows", func() error { return stx.QueryRow(ctx, "SELECT count(*) FROM "+srcTable).Scan(&p.rows) })
	if err != nil {
		return p, nil, fmt.Errorf("count the source's %s: %w", table, err)
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
				return p, nil, fmt.Errorf("%w: %s.%s is required and the OpenTera table has no such column", ErrRefused, qual, d.name)
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
	err = ttx.QueryRow(ctx, `
SELECT coalesce(array_agg(a.attname ORDER BY k.ord), '{}')
  FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum
 WHERE i.indrelid = $1::regclass AND i.indisprimary`, qual).Scan(&p.pk)
	if err != nil {
		return p, nil, fmt.Errorf("read the primary key of %s: %w", qual, err)
	}
	if len(p.pk) == 0 {
		return p, nil, fmt.Errorf("%s has no primary key", qual)
	}
	for _, k := range p.pk {
		if _, ok := srcBy[k]; !ok {
			return p, nil, fmt.Errorf("%w: the OpenTera table %s lacks the primary key column %s", ErrRefused, table, k)
		}
	}
	err = ttx.QueryRow(ctx, `SELECT coalesce(array_agg(attname ORDER BY attnum), '{}') FROM pg_attribute
 WHERE attrelid = $1::regclass AND attidentity <> '' AND NOT attisdropped`, qual).Scan(&p.idents)
	if err != nil {
		return p, nil, fmt.Errorf("read the identity columns of %s: %w", qual, err)
	}

	rowID := "concat_ws(',', " + quoteList(p.pk) + ")"
	// NOT NULL in Tera, NULL in OpenTera.
	for _, d := range dst {
		s, ok := srcBy[d.name]
		if !ok || !d.notNull || s.notNull {
			continue
		}
		var ids []string
		err := tm.time("plan: check Tera's NOT NULL columns on the source", func() (err error) {
			ids, err = queryIDs(ctx, stx, fmt.Sprintf("SELECT %s FROM %s WHERE %s IS NULL", rowID, srcTable, pgx.Identifier{d.name}.Sanitize()))
			return err
		})
		if err != nil {
			return p, nil, fmt.Errorf("check %s.%s for NULLs: %w", table, d.name, err)
		}
		for _, id := range ids {
			refusals = append(refusals, Refusal{db.Name, table, id, fmt.Sprintf("%s is empty and Tera requires it", d.name)})
		}
	}
	// Tera's unique indexes (with their expressions and predicates) run against the source,
	// unless one of the source's own unique indexes implies it.
	uniq, err := ttx.Query(ctx, `
SELECT c.relname, (SELECT array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) FROM generate_series(1, i.indnkeyatts) k),
       coalesce(pg_get_expr(i.indpred, i.indrelid, true), '')
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::regclass AND i.indisunique AND NOT i.indisprimary ORDER BY c.relname`, qual)
	if err != nil {
		return p, nil, fmt.Errorf("read the unique indexes of %s: %w", qual, err)
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
		return p, nil, fmt.Errorf("read the unique indexes of %s: %w", qual, err)
	}
	enf, err := readEnforced(ctx, stx, table)
	if err != nil {
		return p, nil, err
	}
	for _, u := range uidx {
		if enf.impliesUnique(u.exprs) {
			continue // the source's own unique index holds it
		}
		where := make([]string, 0, len(u.exprs)+1)
		for _, e := range u.exprs {
			where = append(where, "("+e+") IS NOT NULL")
		}
		if u.pred != "" {
			where = append(where, "("+u.pred+")")
		}
		// The colliding keys first, by a plain aggregate; only their rows are listed (an ordered
		// string_agg over every group of a million-row table costs seconds for nothing).
		keys, cond := strings.Join(u.exprs, ", "), strings.Join(where, " AND ")
		q := fmt.Sprintf(`SELECT string_agg(%s, ' and ' ORDER BY %s), concat_ws(', ', %s) FROM %s
 WHERE %s AND (%s) IN (SELECT %s FROM %s WHERE %s GROUP BY %s HAVING count(*) > 1) GROUP BY %s`,
			rowID, quoteList(p.pk), keys, srcTable, cond, keys, keys, srcTable, cond, keys, keys)
		var dups [][]string
		err := tm.time("plan: check Tera's unique indexes on the source", func() (err error) {
			dups, err = onSourceRows(ctx, stx, q)
			return err
		})
		if err != nil {
			return p, nil, fmt.Errorf("check %s against Tera's unique index %s: %w", table, u.name, err)
		}
		for _, d := range dups {
			refusals = append(refusals, Refusal{db.Name, table, d[0], fmt.Sprintf("rows collide on %s = %q (unique in Tera: %s)", strings.Join(u.exprs, ", "), d[1], u.name)})
		}
	}
	// Tera's CHECK constraints.
	chk, err := ttx.Query(ctx, `SELECT conname, pg_get_expr(conbin, conrelid, true) FROM pg_constraint
 WHERE conrelid = $1::regclass AND contype = 'c' ORDER BY conname`, qual)
	if err != nil {
		return p, nil, fmt.Errorf("read the check constraints of %s: %w", qual, err)
	}
	checks, err := pgx.CollectRows(chk, func(r pgx.CollectableRow) ([2]string, error) {
		var c [2]string
		return c, r.Scan(&c[0], &c[1])
	})
	if err != nil {
		return p, nil, fmt.Errorf("read the check constraints of %s: %w", qual, err)
	}
	for _, c := range checks {
		var ids []string
		err := tm.time("plan: check Tera's CHECK constraints on the source", func() error {
			return onSource(ctx, stx, func(tx pgx.Tx) (err error) {
				ids, err = queryIDs(ctx, tx, fmt.Sprintf("SELECT %s FROM %s WHERE NOT (%s)", rowID, srcTable, c[1]))
				return err
			})
		})
		if err != nil {
			return p, nil, fmt.Errorf("check %s against Tera's constraint %s: %w", table, c[0], err)
		}
		for _, id := range ids {
			refusals = append(refusals, Refusal{db.Name, table, id, fmt.Sprintf("breaks Tera's rule %s: %s", c[0], c[1])})
		}
	}
	var fks []Refusal
	err = tm.time("plan: check Tera's foreign keys on the source", func() (err error) {
		fks, err = checkReferences(ctx, stx, ttx, db, p, rowID, enf)
		return err
	})
	if err != nil {
		return p, nil, err
	}
	return p, append(refusals, fks...), nil
}

// listedPerRule caps the rows listed for one broken rule: a source cut mid-table can leave
// millions of rows pointing at nothing, and the count says as much as the list.
const listedPerRule = 20

// checkReferences runs Tera's foreign keys against the source: a row pointing at a row the
// source lacks (a half-written source, or an OpenTera without the constraint) is listed, where
// the copy would stop at the first with PostgreSQL's error. A key the source holds itself,
// validated, needs no query: PostgreSQL kept every row to it.
func checkReferences(ctx context.Context, stx, ttx pgx.Tx, db Database, p plan, rowID string, enf enforced) ([]Refusal, error) {
	qual := db.Schema + "." + p.table
	rows, err := ttx.Query(ctx, `
SELECT c.conname, rn.nspname, r.relname,
       (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
       (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)
  FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
 WHERE c.conrelid = $1::regclass AND c.contype = 'f' ORDER BY c.conname`, qual)
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys of %s: %w", qual, err)
	}
	type fk struct {
		name, schema, table string
		cols, refs          []string
	}
	fks, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (fk, error) {
		var f fk
		return f, r.Scan(&f.name, &f.schema, &f.table, &f.cols, &f.refs)
	})
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys of %s: %w", qual, err)
	}
	var out []Refusal
	for _, f := range fks {
		// A key into another schema or a table Tera alone has cannot be checked on this source;
		// a key on columns the source lacks stays NULL.
		if f.schema != db.Schema || !slices.Contains(db.Tables, f.table) || !allIn(f.cols, p.cols) {
			continue
		}
		if enf.impliesReference(f.cols, f.table, f.refs) {
			continue // the source's own validated key holds it
		}
		where := make([]string, 0, len(f.cols))
		match := make([]string, 0, len(f.cols))
		vals := make([]string, 0, len(f.cols))
		for i, c := range f.cols {
			col := "s." + pgx.Identifier{c}.Sanitize()
			where = append(where, col+" IS NOT NULL")
			match = append(match, "r."+pgx.Identifier{f.refs[i]}.Sanitize()+" = "+col)
			vals = append(vals, col)
		}
		q := fmt.Sprintf(`SELECT %s, concat_ws(', ', %s), count(*) OVER ()::text FROM %s.%s s
 WHERE %s AND NOT EXISTS (SELECT 1 FROM %s.%s r WHERE %s) ORDER BY %s LIMIT %d`,
			rowID, strings.Join(vals, ", "), SourceSchema, p.table, strings.Join(where, " AND "),
			SourceSchema, pgx.Identifier{f.table}.Sanitize(), strings.Join(match, " AND "), quoteList(p.pk), listedPerRule)
		found, err := onSourceRows(ctx, stx, q)
		if err != nil {
			return nil, fmt.Errorf("check %s against Tera's foreign key %s: %w", p.table, f.name, err)
		}
		for _, d := range found {
			out = append(out, Refusal{db.Name, p.table, d[0], fmt.Sprintf("%s = %s points at no row of %s (%s: a half-written source?)",
				strings.Join(f.cols, ", "), d[1], f.table, f.name)})
		}
		if len(found) > 0 {
			if n, _ := strconv.ParseInt(found[0][2], 10, 64); n > int64(len(found)) {
				out = append(out, Refusal{db.Name, p.table, "…", fmt.Sprintf("and %d more rows pointing at no row of %s (%s)", n-int64(len(found)), f.table, f.name)})
			}
		}
	}
	return out, nil
}

func allIn(cols, in []string) bool {
	for _, c := range cols {
		if !slices.Contains(in, c) {
			return false
		}
	}
	return true
}

// onSource runs one check of a Tera rule against the source in a savepoint. A rule on a column
// only Tera has (stream_seq, …) cannot be broken by imported rows, which leave it at its
// default: the source says "undefined column" and the check is skipped.
func onSource(ctx context.Context, stx pgx.Tx, fn func(pgx.Tx) error) error {
	sp, err := stx.Begin(ctx)
	if err != nil {
		return err
	}
	err = fn(sp)
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "42703" {
		return sp.Rollback(ctx)
	}
	if err != nil {
		_ = sp.Rollback(ctx)
		return err
	}
	return sp.Commit(ctx)
}

// onSourceRows runs a check's query on the source as onSource does and returns its rows, each
// column as text.
func onSourceRows(ctx context.Context, stx pgx.Tx, q string) ([][]string, error) {
	var out [][]string
	err := onSource(ctx, stx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, q)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) ([]string, error) {
			d := make([]string, len(r.FieldDescriptions()))
			ptrs := make([]any, len(d))
			for i := range d {
				ptrs[i] = &d[i]
			}
			return d, r.Scan(ptrs...)
		})
		return err
	})
	return out, err
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
func copyTable(ctx context.Context, src, dst *pgconn.PgConn, p plan, st *step) (int64, error) {
	cols := quoteList(p.cols)
	n, err := stream(ctx, src, dst, fmt.Sprintf("COPY (SELECT %s FROM %s.%s) TO STDOUT", cols, SourceSchema, p.table),
		fmt.Sprintf("COPY %s.%s (%s) FROM STDIN", p.schema, p.table, cols), st)
	if err != nil {
		return 0, fmt.Errorf("copy %s.%s: %w", p.db, p.table, err)
	}
	return n, nil
}

// stream pipes a COPY TO of the source into a COPY FROM of the target, counting rows on st.
func stream(ctx context.Context, src, dst *pgconn.PgConn, from, to string, st *step) (int64, error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := src.CopyTo(ctx, pw, from)
		pw.CloseWithError(err)
		done <- err
	}()
	tag, err := dst.CopyFrom(ctx, lineCounter{pr, st}, to)
	pr.CloseWithError(errors.New("target COPY ended"))
	srcErr := <-done
	if srcErr != nil && err == nil {
		err = srcErr
	}
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// advanceSequences moves each identity past the target's ids (imported and, in a merge, already
// there), OpenTera's own sequence and its own current position, so an id OpenTera or Tera once
// handed out (and a client may have cached) is never handed out again. A dry run reads them and
// moves none: a rollback does not undo setval.
func advanceSequences(ctx context.Context, stx, ttx pgx.Tx, p plan, dry bool) error {
	for _, col := range p.idents {
		next := int64(1)
		if err := ttx.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(max(%s), 0) + 1 FROM %s.%s", pgx.Identifier{col}.Sanitize(), p.schema, p.table)).Scan(&next); err != nil {
			return fmt.Errorf("read max %s.%s: %w", p.table, col, err)
		}
		// Never backwards: Tera may have handed out ids of rows deleted since.
		var own string
		if err := ttx.QueryRow(ctx, "SELECT pg_get_serial_sequence($1, $2)", p.schema+"."+p.table, col).Scan(&own); err != nil {
			return fmt.Errorf("find the sequence of %s.%s.%s: %w", p.schema, p.table, col, err)
		}
		n, err := position(ctx, ttx, own)
		if err != nil {
			return err
		}
		next = max(next, n)
		var seq *string
		if err := stx.QueryRow(ctx, "SELECT pg_get_serial_sequence($1, $2)", SourceSchema+"."+p.table, col).Scan(&seq); err != nil {
			return fmt.Errorf("find the OpenTera sequence of %s.%s: %w", p.table, col, err)
		}
		if seq != nil {
			n, err := position(ctx, stx, *seq)
			if err != nil {
				return fmt.Errorf("OpenTera's sequence: %w", err)
			}
			next = max(next, n)
		}
		if dry {
			continue
		}
		if _, err := ttx.Exec(ctx, "SELECT setval(pg_get_serial_sequence($1, $2), $3, false)", p.schema+"."+p.table, col, next); err != nil {
			return fmt.Errorf("advance the sequence of %s.%s.%s: %w", p.schema, p.table, col, err)
		}
	}
	return nil
}

// position is the value a sequence hands out next.
func position(ctx context.Context, tx pgx.Tx, seq string) (int64, error) {
	var last int64
	var called bool
	if err := tx.QueryRow(ctx, "SELECT last_value, is_called FROM "+seq).Scan(&last, &called); err != nil {
		return 0, fmt.Errorf("read the sequence %s: %w", seq, err)
	}
	if called {
		last++
	}
	return last, nil
}

// checksum is the row count and the sum of the md5s (their first 60 bits) of every row's key
// columns: order-independent and flat in memory, whatever the table's size.
func checksum(ctx context.Context, tx pgx.Tx, schema string, p plan) (int64, string, error) {
	var n int64
	var sum string
	q := fmt.Sprintf("SELECT count(*), coalesce(sum(('x' || substr(md5(ROW(%s)::text), 1, 15))::bit(60)::bigint), 0)::text FROM %s.%s",
		quoteList(p.keys), schema, p.table)
	if err := tx.QueryRow(ctx, q).Scan(&n, &sum); err != nil {
		return 0, "", fmt.Errorf("checksum %s.%s: %w", schema, p.table, err)
	}
	return n, sum, nil
}
