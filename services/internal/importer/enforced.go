package importer

import (
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
)

// enforced is what the source's own constraints already guarantee about one of its tables:
// PostgreSQL keeps every row to a valid constraint, so a Tera rule one of them implies needs no
// query over the rows. A source restored in part, or repaired by hand, lacks the constraint (or
// holds it NOT VALID), and the rule is checked row by row. What the source guarantees is about
// its own rows only: in a merge, the imported keys against the rows already in the target are
// checked apart (merge.go), whatever the source enforces.
type enforced struct {
	// unique are the key columns of the source's valid unique indexes without a predicate or
	// an expression.
	unique [][]string
	// fks are the source's validated foreign keys: columns, referenced table, referenced columns.
	fks []sourceFK
}

type sourceFK struct {
	cols  []string
	table string
	refs  []string
}

func readEnforced(ctx context.Context, stx pgx.Tx, table string) (enforced, error) {
	var e enforced
	rel := SourceSchema + "." + table
	rows, err := stx.Query(ctx, `
SELECT (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(i.indkey::int2[]) WITH ORDINALITY k(n, ord)
          JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n
         WHERE k.ord <= i.indnkeyatts)
  FROM pg_index i
 WHERE i.indrelid = $1::regclass AND i.indisunique AND i.indisvalid AND i.indpred IS NULL AND i.indexprs IS NULL`, rel)
	if err != nil {
		return e, fmt.Errorf("read the unique indexes of the source's %s: %w", table, err)
	}
	if e.unique, err = pgx.CollectRows(rows, pgx.RowTo[[]string]); err != nil {
		return e, fmt.Errorf("read the unique indexes of the source's %s: %w", table, err)
	}
	rows, err = stx.Query(ctx, `
SELECT (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.conkey) WITH ORDINALITY k(n, ord)
          JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
       r.relname,
       (SELECT array_agg(a.attname ORDER BY k.ord) FROM unnest(c.confkey) WITH ORDINALITY k(n, ord)
          JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n)
  FROM pg_constraint c JOIN pg_class r ON r.oid = c.confrelid JOIN pg_namespace rn ON rn.oid = r.relnamespace
 WHERE c.conrelid = $1::regclass AND c.contype = 'f' AND c.convalidated AND rn.nspname = $2`, rel, SourceSchema)
	if err != nil {
		return e, fmt.Errorf("read the foreign keys of the source's %s: %w", table, err)
	}
	e.fks, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (sourceFK, error) {
		var f sourceFK
		return f, r.Scan(&f.cols, &f.table, &f.refs)
	})
	if err != nil {
		return e, fmt.Errorf("read the foreign keys of the source's %s: %w", table, err)
	}
	return e, nil
}

// impliesUnique: rows unique on some of a key's columns are unique on the key, and on any
// subset of their rows (a Tera index's predicate, its NULLs left out). exprs are Tera's index
// keys as pg_get_indexdef prints them: a plain column is its (quoted) name.
func (e enforced) impliesUnique(exprs []string) bool {
	cols := make([]string, len(exprs))
	for i, x := range exprs {
		c, ok := plainColumn(x)
		if !ok {
			return false
		}
		cols[i] = c
	}
	for _, u := range e.unique {
		if len(u) > 0 && allIn(u, cols) {
			return true
		}
	}
	return false
}

// impliesReference: the source's validated key from the same columns to the same columns of
// the same table.
func (e enforced) impliesReference(cols []string, table string, refs []string) bool {
	for _, f := range e.fks {
		if f.table == table && slices.Equal(f.cols, cols) && slices.Equal(f.refs, refs) {
			return true
		}
	}
	return false
}

// plainColumn reads a column name as pg_get_indexdef prints an index key: bare when it needs no
// quotes, else in double quotes. Anything else is an expression.
func plainColumn(x string) (string, bool) {
	if len(x) >= 2 && x[0] == '"' && x[len(x)-1] == '"' {
		inner := x[1 : len(x)-1]
		for i := 0; i < len(inner); i++ {
			if inner[i] == '"' {
				return "", false // an escaped quote: rare enough to check row by row
			}
		}
		return inner, true
	}
	for _, r := range x {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			return "", false
		}
	}
	return x, x != ""
}
