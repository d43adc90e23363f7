package sqlstore

import "database/sql"

// RawDB exposes the pool to the tests, which read columns as stored and
// try writes that the store's API never makes.
func (db *DB) RawDB() *sql.DB { return db.sql }

// Rebind exposes the placeholder rewriting to the tests.
func (db *DB) Rebind(query string) string { return db.dialect.rebind(query) }

// CachedStatements is how many statements the SQLite statement cache
// holds, and whether some are still being prepared (-1 for PostgreSQL).
func (db *DB) CachedStatements() (n int64, preparing bool) {
	if db.stmts == nil {
		return -1, false
	}
	db.stmts.pending.Range(func(any, any) bool { preparing = true; return false })
	return db.stmts.n.Load(), preparing
}
