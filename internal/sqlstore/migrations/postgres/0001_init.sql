-- Times are BIGINT microseconds since the Unix epoch, UTC (see time.go in the package).
-- Secrets are only ever stored as hashes or as ciphertext (*_sealed columns).

CREATE TABLE users (
	uid            TEXT PRIMARY KEY,
	email          TEXT NOT NULL DEFAULT '',
	email_key      TEXT NOT NULL DEFAULT '',
	email_verified BOOLEAN NOT NULL DEFAULT FALSE,
	phone          TEXT NOT NULL DEFAULT '',
	phone_verified BOOLEAN NOT NULL DEFAULT FALSE,
	password_hash  TEXT NOT NULL DEFAULT '',
	created_at     BIGINT NOT NULL,
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
);

CREATE TABLE flows (
	id_hash    BYTEA PRIMARY KEY,
	purpose    TEXT NOT NULL,
	uid        TEXT NOT NULL DEFAULT '',
	channel    TEXT NOT NULL DEFAULT '',
	address    TEXT NOT NULL DEFAULT '',
	session_id TEXT NOT NULL DEFAULT '',
	method     TEXT NOT NULL DEFAULT '',
	failures   INTEGER NOT NULL DEFAULT 0,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	done_at    BIGINT
);
CREATE INDEX flows_expires_at ON flows (expires_at);

-- One live code per purpose and address: a new code replaces the old one.
CREATE TABLE codes (
	purpose      TEXT NOT NULL,
	address_key  TEXT NOT NULL,
	flow_id_hash BYTEA NOT NULL,
	hash         BYTEA NOT NULL,
	attempts     INTEGER NOT NULL DEFAULT 0,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL,
	consumed_at  BIGINT,
	PRIMARY KEY (purpose, address_key)
);
CREATE INDEX codes_expires_at ON codes (expires_at);

CREATE TABLE sessions (
	id               TEXT PRIMARY KEY,
	token_hash       BYTEA NOT NULL UNIQUE,
	uid              TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	created_at       BIGINT NOT NULL,
	last_seen_at     BIGINT NOT NULL,
	expires_at       BIGINT NOT NULL,
	privileged_until BIGINT,
	ip               TEXT NOT NULL DEFAULT '',
	user_agent       TEXT NOT NULL DEFAULT ''
);
CREATE INDEX sessions_uid ON sessions (uid, created_at);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- At most one active (pending = FALSE) and one pending authenticator per user.
CREATE TABLE totp_authenticators (
	uid           TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	pending       BOOLEAN NOT NULL,
	secret_sealed BYTEA NOT NULL,
	offset_steps  INTEGER NOT NULL DEFAULT 0,
	created_at    BIGINT NOT NULL,
	confirmed_at  BIGINT,
	PRIMARY KEY (uid, pending)
);

-- The primary key is what makes a TOTP code one-time: accepting the same
-- step twice is a constraint violation, not a Go-side check.
CREATE TABLE totp_used_steps (
	uid     TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	step    BIGINT NOT NULL,
	used_at BIGINT NOT NULL,
	PRIMARY KEY (uid, step)
);

CREATE TABLE recovery_codes (
	uid        TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	hash       BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	used_at    BIGINT,
	PRIMARY KEY (uid, hash)
);

CREATE TABLE outbox (
	id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	channel         TEXT NOT NULL,
	recipient       TEXT NOT NULL,
	body_sealed     BYTEA, -- NULL once delivered or given up: a sent code is not kept
	created_at      BIGINT NOT NULL,
	attempts        INTEGER NOT NULL DEFAULT 0,
	next_attempt_at BIGINT NOT NULL,
	sent_at         BIGINT,
	failed_at       BIGINT,
	last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

CREATE TABLE security_events (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	uid        TEXT NOT NULL DEFAULT '',
	kind       TEXT NOT NULL,
	ip         TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	detail     TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE INDEX security_events_uid ON security_events (uid, id DESC);

-- The security log is evidence: the application can only append to it, so
-- a bug or an injected statement cannot rewrite history. TRUNCATE bypasses
-- row triggers, so it gets its own statement trigger.
CREATE FUNCTION security_events_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'security_events is append-only';
END;
$$;
CREATE TRIGGER security_events_no_update_delete BEFORE UPDATE OR DELETE ON security_events
	FOR EACH ROW EXECUTE FUNCTION security_events_append_only();
CREATE TRIGGER security_events_no_truncate BEFORE TRUNCATE ON security_events
	FOR EACH STATEMENT EXECUTE FUNCTION security_events_append_only();
