package migrations

import (
	"database/sql"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// stdlibDB adapts the pool for goose, which speaks database/sql. A nil pool yields a nil DB,
// enough for listing the embedded sources.
func stdlibDB(pool *pgxpool.Pool) *sql.DB {
	if pool == nil {
		return nil
	}
	return stdlib.OpenDBFromPool(pool)
}
