-- After a security change (password, email, phone, authenticator removed or
-- unbound) the account is held until this time, so the application in front
-- can hold withdrawals and similar actions.
ALTER TABLE users ADD COLUMN security_hold_until BIGINT;

-- Identity verifications: the document check that the unbind review compares
-- against. The name and the document number are sealed; the images are
-- evidence files. One pending submission per account.
CREATE TABLE identity_verifications (
	id                     TEXT PRIMARY KEY,
	uid                    TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	state                  TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected')),
	full_name_sealed       BYTEA NOT NULL,
	document_type          TEXT NOT NULL CHECK (document_type IN ('passport', 'id_card')),
	document_number_sealed BYTEA NOT NULL,
	reason                 TEXT NOT NULL DEFAULT '',
	submitted_at           BIGINT NOT NULL,
	decided_at             BIGINT,
	decided_by             TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX identity_verifications_one_pending ON identity_verifications (uid) WHERE state = 'pending';
CREATE INDEX identity_verifications_uid ON identity_verifications (uid, submitted_at);
CREATE INDEX identity_verifications_state ON identity_verifications (state, submitted_at);

-- The spoken challenge of a login flow that waits for the authenticator.
CREATE TABLE unbind_challenges (
	flow_id_hash BYTEA PRIMARY KEY,
	uid          TEXT NOT NULL,
	phrase       TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	expires_at   BIGINT NOT NULL
);
CREATE INDEX unbind_challenges_expires_at ON unbind_challenges (expires_at);

-- Requests to unbind a lost authenticator. The state column is the state
-- machine; every transition is a guarded UPDATE whose row count is checked,
-- so two reviewers, or an approval and a cancellation, race to one outcome.
CREATE TABLE unbind_requests (
	id                TEXT PRIMARY KEY,
	token_hash        BYTEA NOT NULL UNIQUE,
	cancel_token_hash BYTEA NOT NULL UNIQUE,
	uid               TEXT NOT NULL REFERENCES users (uid) ON DELETE CASCADE,
	id_number_sealed  BYTEA NOT NULL,
	challenge         TEXT NOT NULL,
	state             TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'rejected', 'cancelled')),
	submitted_at      BIGINT NOT NULL,
	due_at            BIGINT NOT NULL,
	first_approver    TEXT NOT NULL DEFAULT '',
	first_note        TEXT NOT NULL DEFAULT '',
	decided_by        TEXT NOT NULL DEFAULT '',
	decided_at        BIGINT,
	note              TEXT NOT NULL DEFAULT '',
	reason            TEXT NOT NULL DEFAULT '',
	effective_at      BIGINT,
	applied_at        BIGINT,
	ip                TEXT NOT NULL DEFAULT '',
	user_agent        TEXT NOT NULL DEFAULT ''
);
-- One open request per account: pending, or approved but not yet in effect.
CREATE UNIQUE INDEX unbind_requests_one_open ON unbind_requests (uid)
	WHERE state = 'pending' OR (state = 'approved' AND applied_at IS NULL);
CREATE INDEX unbind_requests_queue ON unbind_requests (state, due_at);
CREATE INDEX unbind_requests_due_effect ON unbind_requests (effective_at) WHERE state = 'approved' AND applied_at IS NULL;

-- Uploaded evidence: one row per file of a subject ("idv:ID" or
-- "unbind:ID"). blob_id is the file as uploaded, view_blob_id the copy staff
-- see (images re-encoded without metadata). The files themselves are in the
-- blob store, encrypted; deleted_at is set when retention removed them.
CREATE TABLE evidence_files (
	subject      TEXT NOT NULL,
	role         TEXT NOT NULL,
	blob_id      TEXT NOT NULL UNIQUE,
	view_blob_id TEXT NOT NULL DEFAULT '',
	content_type TEXT NOT NULL,
	size         BIGINT NOT NULL,
	created_at   BIGINT NOT NULL,
	deleted_at   BIGINT,
	PRIMARY KEY (subject, role)
);

-- Who read which evidence and who decided what: evidence, append-only like
-- the security log.
CREATE TABLE review_audit (
	id         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	subject    TEXT NOT NULL,
	actor_uid  TEXT NOT NULL,
	action     TEXT NOT NULL,
	detail     TEXT NOT NULL DEFAULT '',
	created_at BIGINT NOT NULL
);
CREATE INDEX review_audit_subject ON review_audit (subject, id);
CREATE TRIGGER review_audit_no_update_delete BEFORE UPDATE OR DELETE ON review_audit
	FOR EACH ROW EXECUTE FUNCTION security_events_append_only();
CREATE TRIGGER review_audit_no_truncate BEFORE TRUNCATE ON review_audit
	FOR EACH STATEMENT EXECUTE FUNCTION security_events_append_only();
