// Package sqlstore implements account.Store over database/sql, for SQLite
// (modernc.org/sqlite, no cgo) and PostgreSQL (pgx). Every query is written
// once; dialect.go holds the few differences. It also keeps the durable
// outbox queue that the delivery worker drains.
//
// One-time semantics (codes, TOTP steps, recovery codes, verified
// identifiers) are enforced by the database, with UNIQUE constraints and
// conditional UPDATEs whose row counts are checked, never by a Go-side
// read-then-write. TOTP secrets and outbox message bodies are encrypted
// with a Sealer before they reach the database.
package sqlstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver

	"github.com/watchword/watchword/internal/account"
)

// Sealer encrypts secrets at rest; internal/secretbox.Box implements it.
// additional is authenticated but not stored, and binds a ciphertext to
// its row so it cannot be copied to another one.
type Sealer interface {
	Seal(plaintext, additional []byte) ([]byte, error)
	Open(ciphertext, additional []byte) ([]byte, error)
}

// DB is an account.Store backed by SQLite or PostgreSQL. Its methods are
// safe for concurrent use. Every account.Tx method called on DB commits by
// itself; use Atomic to group several.
type DB struct {
	*store // the account.Tx methods, bound to the pool

	sql     *sql.DB
	dialect dialect
	// keep pins one connection of an in-memory SQLite database: the
	// database lives only as long as some connection has it open, and the
	// pool may close idle connections.
	keep *sql.Conn
}

var _ account.Store = (*DB)(nil)

// Open connects to the database named by dsn and checks that it answers.
// dsn is "sqlite:PATH" (PATH ":memory:" gives a private in-memory
// database, for tests) or a "postgres://" or "postgresql://" URL. Open does
// not change the schema: call Migrate.
func Open(ctx context.Context, dsn string, sealer Sealer) (*DB, error) {
	if sealer == nil {
		return nil, errors.New("sqlstore: open: no sealer")
	}
	db := &DB{}
	var err error
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		db.dialect = dialectSQLite
		err = db.openSQLite(ctx, strings.TrimPrefix(dsn, "sqlite:"))
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		db.dialect = dialectPostgres
		db.sql, err = sql.Open("pgx", dsn)
		if err == nil {
			// Bounded so that a few instances stay under PostgreSQL's
			// default max_connections (100) under load; idle connections
			// are kept so bursts do not pay for new ones. Callers beyond
			// the cap queue for a connection rather than fail. pgx's
			// default exec mode (cache_statement, 512 per connection)
			// prepares each query once per connection and then sends only
			// its name and arguments.
			db.sql.SetMaxOpenConns(20)
			db.sql.SetMaxIdleConns(20)
			db.sql.SetConnMaxIdleTime(5 * time.Minute)
		}
	default:
		// The DSN may hold a password: do not echo it.
		return nil, errors.New(`sqlstore: open: dsn must start with "sqlite:", "postgres://" or "postgresql://"`)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	if err := db.sql.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: open: %w", err)
	}
	db.store = &store{q: db.sql, dialect: db.dialect, sealer: sealer, pool: db.sql}
	if db.dialect == dialectSQLite {
		db.store.writers = newWriteGate()
		db.store.stmts = &stmtCache{db: db.sql}
	}
	return db, nil
}

// writeGate queues SQLite's writers in the process, one at a time, before
// they ask SQLite for its write lock. SQLite's own waiting (busy_timeout)
// polls with sleeps of up to 100 ms, so under 32 concurrent writers an
// unlucky one can miss every free moment until the timeout and fail with
// "database is locked"; a waiter here is handed the gate as soon as it is
// free. Writes made elsewhere (other processes, statements not routed
// through the gate) still meet busy_timeout.
type writeGate chan struct{}

func newWriteGate() writeGate { return make(writeGate, 1) }

// gateWait bounds the wait for the gate, like busy_timeout: a writer that
// waits for itself (a write outside its own transaction) gets an error
// rather than hanging.
const gateWait = 30 * time.Second

// enter waits for the gate; a nil gate (PostgreSQL) lets everyone in.
func (g writeGate) enter(ctx context.Context) error {
	if g == nil {
		return nil
	}
	select {
	case g <- struct{}{}:
		return nil
	default:
	}
	t := time.NewTimer(gateWait)
	defer t.Stop()
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return errors.New("database is busy: waited too long for the write lock")
	}
}

func (g writeGate) leave() {
	if g != nil {
		<-g
	}
}

// sqliteParams are applied by the driver to every new connection.
//   - busy_timeout: a writer waits up to 10 s for the write lock instead
//     of failing at once with SQLITE_BUSY.
//   - foreign_keys: SQLite leaves them off unless asked, per connection.
//   - journal_mode=WAL: readers do not block the writer and vice versa.
//   - synchronous=NORMAL: in WAL mode a commit is durable against a crash
//     of the process and only the last commits can be lost to a power cut;
//     FULL would fsync the log on every commit, which bounds the writes
//     per second by the disk's flush time.
//   - _txlock=immediate: every transaction starts with BEGIN IMMEDIATE,
//     taking the write lock up front. A deferred transaction that reads
//     and then writes cannot wait for the lock (SQLite returns BUSY at
//     once rather than deadlock two such upgraders), so concurrent
//     writers would fail instead of queueing behind busy_timeout.
const sqliteParams = "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"

func (db *DB) openSQLite(ctx context.Context, path string) error {
	var dsn string
	switch {
	case path == "":
		return errors.New("empty sqlite path")
	case strings.Contains(path, "?"):
		return errors.New("sqlite path must not contain '?'")
	case path == ":memory:":
		// ":memory:" would give each pooled connection its own empty
		// database. The memdb VFS with a name starting with "/" shares
		// one database between the connections of this process, with
		// ordinary locking (unlike cache=shared, whose table locks fail
		// with SQLITE_LOCKED instead of waiting), so the pool and the
		// concurrency tests behave as with a file. WAL does not apply to
		// memory; the pragma is then a no-op.
		var b [8]byte
		if _, err := rand.Read(b[:]); err != nil {
			return err
		}
		dsn = "file:/watchword-" + hex.EncodeToString(b[:]) + "?vfs=memdb&" + sqliteParams
	default:
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		// Without the "file:" prefix the driver takes the part before "?"
		// as a plain file name, so PATH needs no URI escaping.
		dsn = path + "?" + sqliteParams
	}
	var err error
	db.sql, err = sql.Open("sqlite", dsn)
	if err != nil {
		return err
	}
	// SQLite has one writer at a time, so a cap costs no write throughput;
	// it bounds the page caches that each connection holds.
	db.sql.SetMaxOpenConns(16)
	db.sql.SetMaxIdleConns(16)
	if path == ":memory:" {
		db.keep, err = db.sql.Conn(ctx)
		if err != nil {
			db.sql.Close()
			return err
		}
	}
	return nil
}

// Close closes the database. An in-memory SQLite database is gone after.
func (db *DB) Close() error {
	if db.keep != nil {
		db.keep.Close()
	}
	if err := db.sql.Close(); err != nil {
		return fmt.Errorf("sqlstore: close: %w", err)
	}
	return nil
}

// Ping reports whether the database answers, for readiness checks.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.sql.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlstore: ping: %w", err)
	}
	return nil
}

// SQL returns the connection pool, for stores of other packages that
// keep their own tables in the same database (the evidence blobs).
func (db *DB) SQL() *sql.DB { return db.sql }

// Dialect returns "sqlite" or "postgres".
func (db *DB) Dialect() string { return string(db.dialect) }

// Atomic runs fn in one transaction: everything fn writes through tx
// commits together or not at all. An error from fn rolls back and is
// returned as is. tx must not be used after fn returns.
func (db *DB) Atomic(ctx context.Context, fn func(tx account.Tx) error) error {
	return AtomicAs(ctx, db, fn)
}

// AtomicAs is Atomic for a transaction of another type: the Tx of a
// package that declares its own store interfaces and embeds account.Tx.
// The one transaction type of this package implements them all, so the
// use cases of several packages commit together. It panics if T asks for a
// method this package does not implement, which the first test shows.
func AtomicAs[T any](ctx context.Context, db *DB, fn func(tx T) error) error {
	hooks, err := atomicAs(ctx, db, fn)
	if err != nil {
		return err
	}
	// The hooks run after the write gate is left: one that writes must
	// not wait for its own transaction.
	for _, hook := range hooks {
		hook()
	}
	return nil
}

// atomicAs runs fn in a transaction and returns its after-commit hooks.
func atomicAs[T any](ctx context.Context, db *DB, fn func(tx T) error) ([]func(), error) {
	if err := db.writers.enter(ctx); err != nil {
		return nil, fmt.Errorf("sqlstore: begin: %w", err)
	}
	defer db.writers.leave()
	sqlTx, err := db.sql.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: begin: %w", err)
	}
	ended := false
	defer rollbackUnlessEnded(sqlTx, &ended)
	tx := db.store.inTx(sqlTx)
	err = fn(any(tx).(T))
	ended = true
	if err != nil {
		sqlTx.Rollback()
		return nil, err
	}
	if err := sqlTx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlstore: commit: %w", err)
	}
	return *tx.afterCommit, nil
}

// AfterCommit runs fn once the transaction commits; outside one, at once.
func (s *store) AfterCommit(fn func()) {
	if s.afterCommit == nil {
		fn()
		return
	}
	*s.afterCommit = append(*s.afterCommit, fn)
}

// rollbackUnlessEnded rolls tx back when the function that deferred it is
// left by a panic or by runtime.Goexit (t.Fatal in a test) rather than by
// reaching its commit or rollback: otherwise the transaction, and on SQLite
// the database's write lock, would stay held.
func rollbackUnlessEnded(tx *sql.Tx, ended *bool) {
	if !*ended {
		tx.Rollback()
	}
}

// querier is what *sql.DB and *sql.Tx have in common, so that each store
// method is written once and runs in or out of a transaction.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// store implements account.Tx over a querier: the pool for DB, a
// transaction inside Atomic.
type store struct {
	q       querier
	tx      *sql.Tx // nil outside a transaction
	pool    *sql.DB
	dialect dialect
	sealer  Sealer
	// afterCommit collects the hooks of a transaction begun by Atomic;
	// nil outside one.
	afterCommit *[]func()
	// changed is told, after commit, which uid's sessions, user row or
	// authenticator changed (changes.go); nil when no cache listens.
	changed func(uid string)
	// writers queues the transactions and single writes of SQLite; nil
	// for PostgreSQL.
	writers writeGate
	// stmts keeps SQLite's statements prepared; nil for PostgreSQL,
	// whose driver keeps its own per connection.
	stmts *stmtCache
}

var _ account.Tx = (*store)(nil)

// stmtCache prepares each query once per connection (database/sql keeps a
// prepared Stmt's copy on every connection that ran it). SQLite compiles a
// statement in about as much time as it takes to run a small one: a code
// login spent a seventh of its CPU in sqlite3_prepare_v2 before this.
type stmtCache struct {
	db      *sql.DB
	m       sync.Map // rebound query → *sql.Stmt
	n       atomic.Int64
	pending sync.Map // queries being prepared in the background
}

// maxCachedStmts bounds the cache: queries built with a variable number of
// placeholders (MarkSent's ids) beyond it run unprepared.
const maxCachedStmts = 512

// stmt returns the prepared form of query, in tx when tx is not nil, or
// nil when it should run unprepared this time.
func (c *stmtCache) stmt(ctx context.Context, tx *sql.Tx, query string) *sql.Stmt {
	if c == nil {
		return nil
	}
	if v, ok := c.m.Load(query); ok {
		if tx != nil {
			return tx.StmtContext(ctx, v.(*sql.Stmt))
		}
		return v.(*sql.Stmt)
	}
	if c.n.Load() >= maxCachedStmts {
		return nil
	}
	if tx != nil {
		// Preparing on the pool needs another connection, which would
		// wait for this transaction's lock (on the in-memory database) or
		// for a free connection: prepare it beside, for next time.
		if _, busy := c.pending.LoadOrStore(query, true); !busy {
			go func() {
				defer c.pending.Delete(query)
				pctx, cancel := context.WithTimeout(context.Background(), gateWait)
				defer cancel()
				c.prepare(pctx, query)
			}()
		}
		return nil
	}
	return c.prepare(ctx, query)
}

// prepare prepares query on the pool and caches it; nil on failure
// (running the query unprepared then reports the error).
func (c *stmtCache) prepare(ctx context.Context, query string) *sql.Stmt {
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil
	}
	if v, loaded := c.m.LoadOrStore(query, st); loaded {
		st.Close()
		return v.(*sql.Stmt)
	}
	c.n.Add(1)
	return st
}

// inTx returns a copy of s that runs its queries in tx.
func (s *store) inTx(tx *sql.Tx) *store {
	c := *s
	c.q, c.tx = tx, tx
	c.afterCommit = new([]func())
	return &c
}

// atomically runs fn in a transaction: the current one if s is already in
// one (fn's writes then commit with the caller's), or a new one.
func (s *store) atomically(ctx context.Context, fn func(s *store) error) error {
	if s.tx != nil {
		return fn(s)
	}
	if err := s.writers.enter(ctx); err != nil {
		return err
	}
	defer s.writers.leave()
	tx, err := s.pool.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	ended := false
	defer rollbackUnlessEnded(tx, &ended)
	err = fn(s.inTx(tx))
	ended = true
	if err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// exec runs a statement; outside a transaction it is a write of its own
// and queues at the write gate.
func (s *store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if s.tx == nil {
		if err := s.writers.enter(ctx); err != nil {
			return nil, err
		}
		defer s.writers.leave()
	}
	query = s.dialect.rebind(query)
	if st := s.stmts.stmt(ctx, s.tx, query); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return s.q.ExecContext(ctx, query, args...)
}

func (s *store) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	query = s.dialect.rebind(query)
	if st := s.stmts.stmt(ctx, s.tx, query); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.q.QueryContext(ctx, query, args...)
}

func (s *store) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	query = s.dialect.rebind(query)
	if st := s.stmts.stmt(ctx, s.tx, query); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.q.QueryRowContext(ctx, query, args...)
}

// writeQuery runs a write that returns rows (UPDATE … RETURNING), calling
// scan for each; outside a transaction it queues at the write gate, which
// it holds until the rows are read.
func (s *store) writeQuery(ctx context.Context, query string, args []any, scan func(*sql.Rows) error) error {
	if s.tx == nil {
		if err := s.writers.enter(ctx); err != nil {
			return err
		}
		defer s.writers.leave()
	}
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// execAffected runs a write and returns how many rows it changed.
func (s *store) execAffected(ctx context.Context, query string, args ...any) (int64, error) {
	res, err := s.exec(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// fail wraps err with the operation that failed, translating a missing row
// into account.ErrNoRows and a uniqueness violation into
// account.ErrConflict. The driver error stays in the chain for the log.
func fail(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("sqlstore: %s: %w", op, account.ErrNoRows)
	case isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, account.ErrConflict, err)
	default:
		return fmt.Errorf("sqlstore: %s: %w", op, err)
	}
}

// noRows and conflict report a refused write found by its row count.
func noRows(op string) error   { return fmt.Errorf("sqlstore: %s: %w", op, account.ErrNoRows) }
func conflict(op string) error { return fmt.Errorf("sqlstore: %s: %w", op, account.ErrConflict) }
