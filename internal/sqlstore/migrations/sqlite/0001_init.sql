-- Times are INTEGER microseconds since the Unix epoch, UTC (see time.go in the package).
-- Booleans are INTEGER 0/1. Secrets are only ever stored as hashes or as
-- ciphertext (*_sealed columns).

CREATE TABLE users (
	uid            TEXT PRIMARY KEY,
	email          TEXT NOT NULL DEFAULT '',
	email_key      TEXT NOT NULL DEFAULT '',
	email_verified INTEGER NOT NULL DEFAULT 0 CHECK (email_verified IN (0, 1)),
	phone          TEXT NOT NULL DEFAULT '',
	phone_verified INTEGER NOT NULL DEFAULT 0 CHECK (phone_verified IN (0, 1)),
	password_hash  TEXT NOT NULL DEFAULT '',
	created_at     INTEGER NOT NULL,
	CHECK (NOT email_verified OR email_key <> ''),
	CHECK (NOT phone_verified OR phone <> '')
);
-- The database guarantee that a verified identifier belongs to one account:
-- unverified copies may exist on several accounts, verified ones may not.
CREATE UNIQUE INDEX users_verified_email ON users (email_key) WHERE email_verified;
CREATE UNIQUE INDEX users_verified_phone ON users (phone) WHERE phone_verified;
-- Staff look-ups match unverified identifiers too.
CREATE INDEX users_email_key ON users (email_key);
CREATE INDEX users_phone ON users (phone);

CREATE TABLE user_roles (
	uid  TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	role TEXT NOT NULL,
	PRIMARY KEY (uid, role)
) WITHOUT ROWID;

CREATE TABLE flows (
	id_hash    BLOB PRIMARY KEY,
	purpose    TEXT NOT NULL,
	uid        TEXT NOT NULL DEFAULT '',
	channel    TEXT NOT NULL DEFAULT '',
	address    TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',
	method     TEXT NOT NULL DEFAULT '',
	failures   INTEGER NOT NULL DEFAULT 0,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL,
	done_at    INTEGER
);
CREATE INDEX flows_expires_at ON flows (expires_at);

-- One live code per purpose and address: a new code replaces the old one.
CREATE TABLE codes (
	purpose      TEXT NOT NULL,
	address_key  TEXT NOT NULL,
	flow_id_hash BLOB NOT NULL,
	hash         BLOB NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	created_at   INTEGER NOT NULL,
	expires_at   INTEGER NOT NULL,
	consumed_at  INTEGER,
	PRIMARY KEY (purpose, address_key)
);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE sessions (
	id               TEXT PRIMARY KEY,
	token_hash       BLOB NOT NULL UNIQUE,
	uid              TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	created_at       INTEGER NOT NULL,
	last_seen_at     INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL,
	privileged_until INTEGER,
	ip               TEXT NOT NULL DEFAULT '',
	user_agent       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_uid ON sessions (uid, created_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- At most one active (pending = 0) and one pending authenticator per user.
CREATE TABLE totp_authenticators (
	uid           TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	pending       INTEGER NOT NULL CHECK (pending IN (0, 1)),
	secret_sealed BLOB NOT NULL,
	offset_steps  INTEGER NOT NULL DEFAULT 0,
	created_at    INTEGER NOT NULL,
	confirmed_at  INTEGER,
	PRIMARY KEY (uid, pending)
);

-- The primary key is what makes a TOTP code one-time: accepting the same
-- step twice is a constraint violation, not a Go-side check.
CREATE TABLE totp_used_steps (
	uid     TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	step    INTEGER NOT NULL,
	used_at INTEGER NOT NULL,
	PRIMARY KEY (uid, step)
) WITHOUT ROWID;

CREATE TABLE recovery_codes (
	uid        TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	hash       BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	used_at    INTEGER,
	PRIMARY KEY (uid, hash)
);

-- AUTOINCREMENT so that an id is never reused, even after rows are pruned.
CREATE TABLE outbox (
	id              INTEGER PRIMARY KEY AUTOINCREMENT,
	channel         TEXT NOT NULL,
	recipient       TEXT NOT NULL,
	body_sealed     BLOB, -- NULL once delivered or given up: a sent code is not kept
	created_at      INTEGER NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at INTEGER NOT NULL,
	sent_at         INTEGER,
	failed_at       INTEGER,
	last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE TABLE security_events (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	uid        TEXT NOT NULL DEFAULT '',
	kind       TEXT NOT NULL,
	ip         TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL
);
CREATE INDEX security_events_uid ON security_events (uid, id DESC);

-- The security log is evidence: the application can only append to it, so
-- a bug or an injected statement cannot rewrite history.
CREATE TRIGGER security_events_no_update BEFORE UPDATE ON security_events
BEGIN
	SELECT RAISE(ABORT, 'security_events is append-only');
END;
CREATE TRIGGER security_events_no_delete BEFORE DELETE ON security_events
BEGIN
	SELECT RAISE(ABORT, 'security_events is append-only');
END;
