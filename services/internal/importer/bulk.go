package importer

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// deferred is what dropKeys took off the tables of a database for the copy: their foreign keys
// and the indexes no constraint stands on, each with the statement that puts it back.
type deferred struct {
	drop, restore []string
}

// dropKeys takes the foreign keys and the plain indexes off a database's tables before the
// copy, as pg_restore loads the rows before the constraints: a foreign key checked row by row
// costs an index probe and a row lock on the referenced row for each of millions of rows, where
// adding it back validates the whole table in one join; an index is built from sorted rows
// instead of millions of inserts. Primary keys and unique constraints stay (they hold the ids
// the keys point at). All of it is DDL in the import's transaction: a failed or refused import
// rolls it back with the rows, and a violation found when a key is put back fails the import.
func dropKeys(ctx context.Context, ttx pgx.Tx, db Database) (*deferred, error) {
	tables := make([]string, len(db.Tables))
	for i, t := range db.Tables {
		tables[i] = db.Schema + "." + t
	}
	d := &deferred{}
	rows, err := ttx.Query(ctx, `
SELECT format('ALTER TABLE %s DROP CONSTRAINT %I', c.conrelid::regclass, c.conname),
       format('ALTER TABLE %s ADD CONSTRAINT %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid))
  FROM pg_constraint c
 WHERE c.contype = 'f' AND c.conrelid = ANY ($1::regclass[])
 ORDER BY c.conrelid, c.conname`, tables)
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys of the %s tables: %w", db.Name, err)
	}
	fks, err := pgx.CollectRows(rows, scanPair)
	if err != nil {
		return nil, fmt.Errorf("read the foreign keys of the %s tables: %w", db.Name, err)
	}
	rows, err = ttx.Query(ctx, `
SELECT format('DROP INDEX %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
  FROM pg_index i
 WHERE i.indrelid = ANY ($1::regclass[]) AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
 ORDER BY i.indrelid, i.indexrelid`, tables)
	if err != nil {
		return nil, fmt.Errorf("read the indexes of the %s tables: %w", db.Name, err)
	}
	idx, err := pgx.CollectRows(rows, scanPair)
	if err != nil {
		return nil, fmt.Errorf("read the indexes of the %s tables: %w", db.Name, err)
	}
	// Keys first: an index a key leans on is kept by the query above, so none is dropped from
	// under one. Put back in the reverse order: indexes, then keys.
	for _, s := range append(fks, idx...) {
		d.drop = append(d.drop, s[0])
		d.restore = append([]string{s[1]}, d.restore...)
	}
	for _, q := range d.drop {
		if _, err := ttx.Exec(ctx, q); err != nil {
			return nil, fmt.Errorf("before the copy (%s): %w", q, err)
		}
	}
	return d, nil
}

// restoreAll puts the keys and indexes back; each key validates every copied row.
func (d *deferred) restoreAll(ctx context.Context, ttx pgx.Tx) error {
	for _, q := range d.restore {
		if _, err := ttx.Exec(ctx, q); err != nil {
			return fmt.Errorf("after the copy (%s): %w", q, err)
		}
	}
	return nil
}

func scanPair(r pgx.CollectableRow) ([2]string, error) {
	var p [2]string
	return p, r.Scan(&p[0], &p[1])
}
