package importer

// Merging into a Tera database that already holds rows (Options.Merge).
//
// A merge renumbers nothing: the imported ids, uuids and tokens must survive as the source has
// them (clients cache the ids, static tokens carry them), and so must the rows already there.
// So it imports only when no imported row collides with a row already in the target, on the
// primary key or on any of Tera's unique keys (usernames, tokens, uuids, names, link tuples),
// soft-deleted rows on either side counted as live (a soft-deleted row can be restored, and
// OpenTera's soft-insert links restore it); otherwise it refuses with the collisions listed
// and writes nothing.
//
// The source and the target are different databases, so the source's key columns of each table
// the target already has rows in are streamed (COPY, memory flat in the row count) into a
// temporary table of the target's transaction, and each of Tera's unique keys is joined there.
// The rows already there are locked against writers from the start of the import (DISABLE
// TRIGGER), so what the check finds holds until the commit.

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Collision is an imported row whose primary key or unique key a row already in the Tera
// database holds.
type Collision struct {
	Database string // Database.Name
	Table    string
	Row      string // the imported row's primary key
	Column   string // the key: its columns (or Tera's index expressions), comma-separated
	Value    string // the imported row's value of the key
	In       string // schema.table of the row already there
	Existing string // that row's primary key
	Deleted  bool   // that row is soft-deleted
	Key      string // Tera's unique index or constraint, or why the values must differ
	// More is set on the last collision listed for a key: how many more collide on it.
	More int64
}

// CollisionCount counts the colliding rows, the ones not listed included.
func (r *Report) CollisionCount() int64 {
	var n int64
	for _, c := range r.Collisions {
		n += 1 + c.More
	}
	return n
}

// keyRule is one way an imported row collides with a row already there: the same values of
// exprs (rows under pred) on the imported row as of inExprs (rows under inPred) on a row of in.
// Expressions are written as Tera's catalog prints an index's: unqualified columns.
type keyRule struct {
	key     string
	exprs   []string
	pred    string
	deps    []string // the imported table's columns exprs and pred read
	in      string   // schema.table
	inExprs []string
	inPred  string
	inDeps  []string // in's columns inExprs and inPred read, and its primary key
	inPK    []string
	// inDeleted: in has deleted_at (its rows are compared as if live, and marked when not).
	inDeleted bool
}

// uniqueRules are Tera's unique indexes of a table (its primary key first) as rules against
// the rows already in the same table.
func uniqueRules(ctx context.Context, ttx pgx.Tx, qual string, pk []string, hasDeleted bool) ([]keyRule, error) {
	rows, err := ttx.Query(ctx, `
SELECT c.relname,
       (SELECT array_agg(pg_get_indexdef(i.indexrelid, k, true) ORDER BY k) FROM generate_series(1, i.indnkeyatts) k),
       coalesce(pg_get_expr(i.indpred, i.indrelid, true), ''),
       ARRAY(SELECT a.attname::text FROM pg_attribute a
              WHERE a.attrelid = i.indrelid AND a.attnum > 0 AND NOT a.attisdropped
                AND (a.attnum = ANY (i.indkey::int2[])
                     OR EXISTS (SELECT 1 FROM pg_depend d
                                 WHERE d.classid = 'pg_class'::regclass AND d.objid = i.indexrelid
                                   AND d.refclassid = 'pg_class'::regclass AND d.refobjid = i.indrelid AND d.refobjsubid = a.attnum))
              ORDER BY a.attnum)
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = $1::regclass AND i.indisunique
 ORDER BY NOT i.indisprimary, c.relname`, qual)
	if err != nil {
		return nil, fmt.Errorf("read the unique indexes of %s: %w", qual, err)
	}
	rules, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (keyRule, error) {
		var k keyRule
		err := r.Scan(&k.key, &k.exprs, &k.pred, &k.deps)
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("read the unique indexes of %s: %w", qual, err)
	}
	for i := range rules {
		k := &rules[i]
		k.in, k.inExprs, k.inPred, k.inPK, k.inDeleted = qual, k.exprs, k.pred, pk, hasDeleted
		k.inDeps = union(k.deps, pk)
	}
	return rules, nil
}

// archiveKeys: the blob store keeps an asset's file under its uuid and an archive's zip under
// the archive's uuid, so an imported file must not take an archive's key (its copy would
// replace the zip).
var archiveKeys = keyRule{
	key:   "the blob store key of an archive's zip",
	exprs: []string{"asset_uuid"}, deps: []string{"asset_uuid"},
	in:      "filetransfer.t_archive_file_data",
	inExprs: []string{"archive_uuid"}, inDeps: []string{"id_archive_file_data", "archive_uuid"}, inPK: []string{"id_archive_file_data"},
}

func union(a, b []string) []string {
	out := slices.Clone(a)
	for _, c := range b {
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// stageTable is the temporary table holding one source table's key columns.
const stageTable = "pg_temp.tera_merge_keys"

// findCollisions streams the columns the rules read from the source's table into a temporary
// table of the target's transaction and lists, per rule, the imported rows whose key a row
// already there holds (listedPerRule of them, and how many more). A rule reading a column the
// source lacks (deleted_at aside) cannot collide: the imported rows leave it at Tera's default
// (stream_seq, …: NULL).
func findCollisions(ctx context.Context, src, dst *pgconn.PgConn, ttx pgx.Tx, p plan, tcols []column, rules []keyRule, pg *progress) ([]Collision, error) {
	qual := p.schema + "." + p.table
	deletedType := ""
	for _, c := range tcols {
		if c.name == "deleted_at" {
			deletedType = c.typ
		}
	}
	var use []keyRule
	need := slices.Clone(p.pk)
	for _, r := range rules {
		// deleted_at is compared as NULL whether the source has it or not.
		if !allIn(slices.DeleteFunc(slices.Clone(r.deps), func(c string) bool { return c == "deleted_at" }), p.cols) {
			continue
		}
		use = append(use, r)
		need = union(need, r.deps)
	}
	if len(use) == 0 || p.rows == 0 {
		return nil, nil
	}
	// The staged columns in the table's order; deleted_at stays out (the rows compare as live).
	var staged []string
	for _, c := range p.cols {
		if slices.Contains(need, c) && c != "deleted_at" {
			staged = append(staged, c)
		}
	}
	cols := quoteList(staged)
	if _, err := ttx.Exec(ctx, fmt.Sprintf("CREATE TEMP TABLE %s ON COMMIT DROP AS SELECT %s FROM %s WITH NO DATA",
		strings.TrimPrefix(stageTable, "pg_temp."), cols, qual)); err != nil {
		return nil, fmt.Errorf("stage the keys of %s: %w", qual, err)
	}
	t0 := time.Now()
	st := pg.begin("merge: "+qual+" keys", "rows", p.rows)
	n, err := stream(ctx, src, dst, fmt.Sprintf("COPY (SELECT %s FROM %s.%s) TO STDOUT", cols, SourceSchema, p.table),
		fmt.Sprintf("COPY %s (%s) FROM STDIN", stageTable, cols), st)
	if err != nil {
		return nil, fmt.Errorf("stage the keys of %s: %w", qual, err)
	}
	if _, err := ttx.Exec(ctx, "ANALYZE "+stageTable); err != nil {
		return nil, fmt.Errorf("stage the keys of %s: %w", qual, err)
	}
	var out []Collision
	for _, r := range use {
		found, err := collide(ctx, ttx, p, r, staged, deletedType)
		if err != nil {
			return nil, err
		}
		out = append(out, found...)
	}
	if _, err := ttx.Exec(ctx, "DROP TABLE "+stageTable); err != nil {
		return nil, fmt.Errorf("drop the staged keys of %s: %w", qual, err)
	}
	pg.end(st, fmt.Sprintf("merge: checked %d rows of %s against the rows already there: %d collisions listed in %s",
		n, qual, len(out), time.Since(t0).Round(time.Millisecond)))
	return out, nil
}

// asLive selects cols from rel and, when rel has deleted_at (of type deletedType), deleted_at as
// NULL, so that a unique index's predicate counts every row; mark adds whether the row was
// deleted.
func asLive(rel string, cols []string, deletedType string, mark bool) string {
	sel := make([]string, 0, len(cols)+2)
	for _, c := range cols {
		if c != "deleted_at" {
			sel = append(sel, pgx.Identifier{c}.Sanitize())
		}
	}
	if deletedType != "" {
		sel = append(sel, "NULL::"+deletedType+" AS deleted_at")
	}
	if mark && deletedType != "" {
		sel = append(sel, "deleted_at IS NOT NULL AS tera_merge_deleted")
	} else {
		sel = append(sel, "false AS tera_merge_deleted")
	}
	return "(SELECT " + strings.Join(sel, ", ") + " FROM " + rel + ") AS t"
}

func collide(ctx context.Context, ttx pgx.Tx, p plan, r keyRule, staged []string, deletedType string) ([]Collision, error) {
	cond := func(exprs []string, pred string) string {
		w := make([]string, 0, len(exprs)+1)
		for _, e := range exprs {
			w = append(w, "("+e+") IS NOT NULL")
		}
		if pred != "" {
			w = append(w, "("+pred+")")
		}
		return strings.Join(w, " AND ")
	}
	var sKeys, tKeys, on, order []string
	for i := range r.exprs {
		sKeys = append(sKeys, fmt.Sprintf("(%s) AS k%d", r.exprs[i], i))
		tKeys = append(tKeys, fmt.Sprintf("(%s) AS k%d", r.inExprs[i], i))
		on = append(on, fmt.Sprintf("s.k%d = t.k%d", i, i))
	}
	for i, c := range p.pk {
		sKeys = append(sKeys, fmt.Sprintf("%s AS o%d", pgx.Identifier{c}.Sanitize(), i))
		order = append(order, fmt.Sprintf("s.o%d", i))
	}
	inDeleted := ""
	if r.inDeleted {
		inDeleted = deletedType
	}
	q := fmt.Sprintf(`SELECT s.r, s.v, t.r, t.d, count(*) OVER ()
  FROM (SELECT concat_ws(',', %s) AS r, concat_ws(', ', %s) AS v, %s FROM %s WHERE %s) s
  JOIN (SELECT concat_ws(',', %s) AS r, tera_merge_deleted AS d, %s FROM %s WHERE %s) t ON %s
 ORDER BY %s, t.r LIMIT %d`,
		quoteList(p.pk), strings.Join(r.exprs, ", "), strings.Join(sKeys, ", "), asLive(stageTable, staged, deletedType, false), cond(r.exprs, r.pred),
		quoteList(r.inPK), strings.Join(tKeys, ", "), asLive(r.in, r.inDeps, inDeleted, true), cond(r.inExprs, r.inPred),
		strings.Join(on, " AND "), strings.Join(order, ", "), listedPerRule)
	rows, err := ttx.Query(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("check %s.%s against the rows already in %s (%s): %w", p.schema, p.table, r.in, r.key, err)
	}
	var out []Collision
	var total int64
	for rows.Next() {
		c := Collision{Database: p.db, Table: p.table, Column: strings.Join(r.exprs, ", "), In: r.in, Key: r.key}
		if err := rows.Scan(&c.Row, &c.Value, &c.Existing, &c.Deleted, &total); err != nil {
			rows.Close()
			return nil, fmt.Errorf("check %s.%s against the rows already in %s (%s): %w", p.schema, p.table, r.in, r.key, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("check %s.%s against the rows already in %s (%s): %w", p.schema, p.table, r.in, r.key, err)
	}
	if len(out) > 0 {
		out[len(out)-1].More = total - int64(len(out))
	}
	return out, nil
}

// minus subtracts two checksums (decimal sums of 60-bit values, as checksum computes them).
func minus(after, before string) (string, error) {
	a, ok := new(big.Int).SetString(after, 10)
	if !ok {
		return "", fmt.Errorf("checksum %q is not a number", after)
	}
	b, ok := new(big.Int).SetString(before, 10)
	if !ok {
		return "", fmt.Errorf("checksum %q is not a number", before)
	}
	return a.Sub(a, b).String(), nil
}

// describe is a collision as the report prints it.
func (c Collision) describe() string {
	dead := ""
	if c.Deleted {
		dead = ", soft-deleted"
	}
	return fmt.Sprintf("%s.%s row %s: %s = %s is held by %s row %s%s (%s)", c.Database, c.Table, c.Row, c.Column,
		strconv.Quote(c.Value), c.In, c.Existing, dead, c.Key)
}
