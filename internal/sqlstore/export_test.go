package sqlstore

import "database/sql"

// RawDB exposes the pool to the tests, which read columns as stored and
// try writes that the store's API never makes.
func (db *DB) RawDB() *sql.DB { return db.sql }

// Rebind exposes the placeholder rewriting to the tests.
func (db *DB) Rebind(query string) string { return db.dialect.rebind(query) }
