package sqlstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"time"
)

//go:embed migrations
var migrations embed.FS

// migrationName is NNNN_words.sql: the fixed-width number makes the
// lexical order the order of application.
var migrationName = regexp.MustCompile(`^[0-9]{4}_[a-z0-9_]+\.sql$`)

// migrateLock is the PostgreSQL advisory lock key that serializes
// migrations ("wwmigrat" in ASCII, so it is recognisable in pg_locks).
const migrateLock int64 = 0x77776d6967726174

// Migrate applies the migrations that this database has not applied yet,
// in order, each in its own transaction together with its row in
// schema_migrations. Running it again is a no-op, and two processes may run
// it at once: on PostgreSQL each transaction first takes an advisory lock,
// on SQLite BEGIN IMMEDIATE takes the write lock, so the second waits and
// then sees the migration recorded.
func (db *DB) Migrate(ctx context.Context) error {
	dir := "migrations/" + string(db.dialect)
	entries, err := fs.ReadDir(migrations, dir)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	var names []string
	for _, e := range entries {
		if !migrationName.MatchString(e.Name()) {
			return fmt.Errorf("sqlstore: migrate: bad migration file name %q", e.Name())
		}
		names = append(names, e.Name())
	}
	sort.Strings(names)
	for _, name := range names {
		body, err := fs.ReadFile(migrations, dir+"/"+name)
		if err != nil {
			return fmt.Errorf("sqlstore: migrate: %w", err)
		}
		if err := db.migrateFile(ctx, name, string(body)); err != nil {
			return fmt.Errorf("sqlstore: migrate %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateFile(ctx context.Context, name, body string) error {
	tx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() // no-op after Commit
	if db.dialect == dialectPostgres {
		// Held until the transaction ends. Without it, two processes
		// could both see the migration missing and both apply it; the
		// second would fail on "already exists" halfway through startup.
		if _, err := tx.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrateLock); err != nil {
			return err
		}
	}
	// Created here, under the lock, rather than once up front: concurrent
	// CREATE TABLE IF NOT EXISTS can still collide on PostgreSQL.
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    TEXT PRIMARY KEY,
		applied_at BIGINT NOT NULL
	)`); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, db.dialect.rebind("SELECT COUNT(*) FROM schema_migrations WHERE version = ?"), name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, db.dialect.rebind("INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)"), name, micros(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}
