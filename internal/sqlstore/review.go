package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/review"
)

// ReviewStore is the review's store on db: the same transaction type
// serves account.Tx and review.Tx, so a decision and its effect on the
// account commit together.
type ReviewStore struct {
	*store
	db *DB
}

var _ review.Store = ReviewStore{}

// Review returns the review's store on db.
func (db *DB) Review() ReviewStore { return ReviewStore{store: db.store, db: db} }

// Atomic runs fn in one transaction.
func (r ReviewStore) Atomic(ctx context.Context, fn func(tx review.Tx) error) error {
	return AtomicAs(ctx, r.db, fn)
}

// Sealed columns are bound to their row, so a ciphertext copied onto
// another row does not open.
func idvNameAD(id string) []byte   { return []byte("idv-name:" + id) }
func idvNumberAD(id string) []byte { return []byte("idv-number:" + id) }
func unbindIDAD(id string) []byte  { return []byte("unbind-id-number:" + id) }

const idvColumns = `id, uid, state, full_name_sealed, document_type, document_number_sealed, reason,
	submitted_at, decided_at, decided_by`

// CreateIdentityVerification inserts v, its name and number sealed.
// ErrConflict when the account already has one pending.
func (s *store) CreateIdentityVerification(ctx context.Context, v *review.IdentityVerification) error {
	name, err := s.sealer.Seal([]byte(v.FullName), idvNameAD(v.ID))
	if err != nil {
		return fail("create identity verification", err)
	}
	number, err := s.sealer.Seal([]byte(v.DocumentNumber), idvNumberAD(v.ID))
	if err != nil {
		return fail("create identity verification", err)
	}
	// The partial unique index on (uid) WHERE state = 'pending' is what
	// keeps one pending submission per account.
	n, err := s.execAffected(ctx, `INSERT INTO identity_verifications (`+idvColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		v.ID, v.UID, string(v.State), name, string(v.DocumentType), number, v.Reason,
		micros(v.SubmittedAt), nullMicros(v.DecidedAt), v.DecidedBy)
	if err != nil {
		return fail("create identity verification", err)
	}
	if n == 0 {
		return conflict("create identity verification")
	}
	return nil
}

func (s *store) scanIdentityVerification(r scanner) (*review.IdentityVerification, error) {
	var v review.IdentityVerification
	var state, docType string
	var name, number []byte
	var submitted int64
	var decided sql.NullInt64
	if err := r.Scan(&v.ID, &v.UID, &state, &name, &docType, &number, &v.Reason, &submitted, &decided, &v.DecidedBy); err != nil {
		return nil, err
	}
	plainName, err := s.sealer.Open(name, idvNameAD(v.ID))
	if err != nil {
		return nil, fmt.Errorf("open name: %w", err)
	}
	plainNumber, err := s.sealer.Open(number, idvNumberAD(v.ID))
	if err != nil {
		return nil, fmt.Errorf("open document number: %w", err)
	}
	v.State, v.DocumentType = review.State(state), review.DocumentType(docType)
	v.FullName, v.DocumentNumber = string(plainName), string(plainNumber)
	v.SubmittedAt, v.DecidedAt = fromMicros(submitted), fromNullMicros(decided)
	return &v, nil
}

func (s *store) identityVerificationWhere(ctx context.Context, op, where string, args ...any) (*review.IdentityVerification, error) {
	v, err := s.scanIdentityVerification(s.queryRow(ctx, `SELECT `+idvColumns+` FROM identity_verifications WHERE `+where, args...))
	if err != nil {
		return nil, fail(op, err)
	}
	return v, nil
}

// LatestIdentityVerification returns the account's newest submission.
func (s *store) LatestIdentityVerification(ctx context.Context, uid string) (*review.IdentityVerification, error) {
	// A pending one is always the newest: no other can be submitted while
	// it waits. Saying so first keeps two submissions of the same instant
	// in order.
	return s.identityVerificationWhere(ctx, "latest identity verification",
		`uid = ? ORDER BY CASE WHEN state = 'pending' THEN 0 ELSE 1 END, submitted_at DESC, decided_at DESC, id DESC LIMIT 1`, uid)
}

// ApprovedIdentityVerification returns the account's newest approved one.
func (s *store) ApprovedIdentityVerification(ctx context.Context, uid string) (*review.IdentityVerification, error) {
	return s.identityVerificationWhere(ctx, "approved identity verification",
		`uid = ? AND state = 'approved' ORDER BY decided_at DESC, id DESC LIMIT 1`, uid)
}

// ListIdentityVerifications returns submissions in state, oldest first.
func (s *store) ListIdentityVerifications(ctx context.Context, state review.State, limit int) ([]*review.IdentityVerification, error) {
	rows, err := s.query(ctx, `SELECT `+idvColumns+` FROM identity_verifications WHERE state = ?
		ORDER BY submitted_at, id LIMIT ?`, string(state), limit)
	if err != nil {
		return nil, fail("list identity verifications", err)
	}
	defer rows.Close()
	var out []*review.IdentityVerification
	for rows.Next() {
		v, err := s.scanIdentityVerification(rows)
		if err != nil {
			return nil, fail("list identity verifications", err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("list identity verifications", err)
	}
	return out, nil
}

// DecideIdentityVerification moves a pending submission to state; the
// state condition, not a prior read, lets one decision win.
func (s *store) DecideIdentityVerification(ctx context.Context, id string, state review.State, by, reason string, now time.Time) error {
	n, err := s.execAffected(ctx, `UPDATE identity_verifications SET state = ?, decided_by = ?, reason = ?, decided_at = ?
		WHERE id = ? AND state = 'pending'`, string(state), by, reason, micros(now), id)
	if err != nil {
		return fail("decide identity verification", err)
	}
	if n == 0 {
		return conflict("decide identity verification")
	}
	return nil
}

// PutChallenge stores the challenge of a flow, replacing an earlier one.
func (s *store) PutChallenge(ctx context.Context, c *review.Challenge) error {
	_, err := s.exec(ctx, `INSERT INTO unbind_challenges (flow_id_hash, uid, phrase, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (flow_id_hash) DO UPDATE SET
		uid = excluded.uid, phrase = excluded.phrase, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.FlowIDHash, c.UID, c.Phrase, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return fail("put challenge", err)
	}
	return nil
}

// ChallengeFor returns the challenge of a flow.
func (s *store) ChallengeFor(ctx context.Context, flowIDHash []byte) (*review.Challenge, error) {
	var c review.Challenge
	var created, expires int64
	err := s.queryRow(ctx, `SELECT flow_id_hash, uid, phrase, created_at, expires_at FROM unbind_challenges
		WHERE flow_id_hash = ?`, flowIDHash).Scan(&c.FlowIDHash, &c.UID, &c.Phrase, &created, &expires)
	if err != nil {
		return nil, fail("challenge for", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return &c, nil
}

const unbindColumns = `id, token_hash, cancel_token_hash, uid, id_number_sealed, challenge, state, submitted_at, due_at,
	first_approver, first_note, decided_by, decided_at, note, reason, effective_at, applied_at, ip, user_agent`

// CreateUnbindRequest inserts r, its ID number sealed. ErrConflict when
// the account has an open request: the partial unique index on (uid) for
// pending and approved-but-not-applied rows is what enforces one.
func (s *store) CreateUnbindRequest(ctx context.Context, r *review.UnbindRequest) error {
	number, err := s.sealer.Seal([]byte(r.IDNumber), unbindIDAD(r.ID))
	if err != nil {
		return fail("create unbind request", err)
	}
	n, err := s.execAffected(ctx, `INSERT INTO unbind_requests (`+unbindColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		r.ID, r.TokenHash, r.CancelTokenHash, r.UID, number, r.Challenge, string(r.State), micros(r.SubmittedAt),
		micros(r.DueAt), r.FirstApprover, r.FirstNote, r.DecidedBy, nullMicros(r.DecidedAt), r.Note, r.Reason,
		nullMicros(r.EffectiveAt), nullMicros(r.AppliedAt), r.IP, r.UserAgent)
	if err != nil {
		return fail("create unbind request", err)
	}
	if n == 0 {
		return conflict("create unbind request")
	}
	return nil
}

func (s *store) scanUnbindRequest(row scanner) (*review.UnbindRequest, error) {
	var r review.UnbindRequest
	var state string
	var number []byte
	var submitted, due int64
	var decided, effective, applied sql.NullInt64
	err := row.Scan(&r.ID, &r.TokenHash, &r.CancelTokenHash, &r.UID, &number, &r.Challenge, &state, &submitted, &due,
		&r.FirstApprover, &r.FirstNote, &r.DecidedBy, &decided, &r.Note, &r.Reason, &effective, &applied, &r.IP, &r.UserAgent)
	if err != nil {
		return nil, err
	}
	plain, err := s.sealer.Open(number, unbindIDAD(r.ID))
	if err != nil {
		return nil, fmt.Errorf("open id number: %w", err)
	}
	r.IDNumber, r.State = string(plain), review.State(state)
	r.SubmittedAt, r.DueAt = fromMicros(submitted), fromMicros(due)
	r.DecidedAt, r.EffectiveAt, r.AppliedAt = fromNullMicros(decided), fromNullMicros(effective), fromNullMicros(applied)
	return &r, nil
}

func (s *store) unbindRequestWhere(ctx context.Context, op, where string, args ...any) (*review.UnbindRequest, error) {
	r, err := s.scanUnbindRequest(s.queryRow(ctx, `SELECT `+unbindColumns+` FROM unbind_requests WHERE `+where, args...))
	if err != nil {
		return nil, fail(op, err)
	}
	return r, nil
}

// OpenUnbindRequest returns the account's open request.
func (s *store) OpenUnbindRequest(ctx context.Context, uid string) (*review.UnbindRequest, error) {
	return s.unbindRequestWhere(ctx, "open unbind request",
		`uid = ? AND (state = 'pending' OR (state = 'approved' AND applied_at IS NULL))`, uid)
}

// UnbindRequestByID returns the request with that id.
func (s *store) UnbindRequestByID(ctx context.Context, id string) (*review.UnbindRequest, error) {
	return s.unbindRequestWhere(ctx, "unbind request by id", `id = ?`, id)
}

// UnbindRequestByTokenHash returns the request whose follow token has that hash.
func (s *store) UnbindRequestByTokenHash(ctx context.Context, hash []byte) (*review.UnbindRequest, error) {
	return s.unbindRequestWhere(ctx, "unbind request by token", `token_hash = ?`, hash)
}

// UnbindRequestByCancelTokenHash returns the request whose cancel token has that hash.
func (s *store) UnbindRequestByCancelTokenHash(ctx context.Context, hash []byte) (*review.UnbindRequest, error) {
	return s.unbindRequestWhere(ctx, "unbind request by cancel token", `cancel_token_hash = ?`, hash)
}

// ListUnbindRequests returns requests in state, by due date.
func (s *store) ListUnbindRequests(ctx context.Context, state review.State, limit int) ([]*review.UnbindRequest, error) {
	rows, err := s.query(ctx, `SELECT `+unbindColumns+` FROM unbind_requests WHERE state = ?
		ORDER BY due_at, id LIMIT ?`, string(state), limit)
	if err != nil {
		return nil, fail("list unbind requests", err)
	}
	return s.collectUnbindRequests("list unbind requests", rows)
}

func (s *store) collectUnbindRequests(op string, rows *sql.Rows) ([]*review.UnbindRequest, error) {
	defer rows.Close()
	var out []*review.UnbindRequest
	for rows.Next() {
		r, err := s.scanUnbindRequest(rows)
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}

// guarded runs a state-machine transition: an UPDATE whose WHERE states
// the only states it may leave, with its row count checked. ErrConflict
// when no row was in such a state.
func (s *store) guarded(ctx context.Context, op, query string, args ...any) error {
	n, err := s.execAffected(ctx, query, args...)
	if err != nil {
		return fail(op, err)
	}
	if n == 0 {
		return conflict(op)
	}
	return nil
}

// FirstApproveUnbind records the first of two approvals.
func (s *store) FirstApproveUnbind(ctx context.Context, id, by, note string, now time.Time) error {
	return s.guarded(ctx, "first approve unbind", `UPDATE unbind_requests SET first_approver = ?, first_note = ?
		WHERE id = ? AND state = 'pending' AND first_approver = ''`, by, note, id)
}

// ApproveUnbind approves a pending request; with needFirst, only one whose
// first approval is by another reviewer.
func (s *store) ApproveUnbind(ctx context.Context, id, by, note string, needFirst bool, effective, now time.Time) error {
	cond := ``
	args := []any{by, note, micros(now), micros(effective), id}
	if needFirst {
		cond = ` AND first_approver <> '' AND first_approver <> ?`
		args = append(args, by)
	}
	return s.guarded(ctx, "approve unbind", `UPDATE unbind_requests SET state = 'approved', decided_by = ?, note = ?,
		decided_at = ?, effective_at = ? WHERE id = ? AND state = 'pending'`+cond, args...)
}

// RejectUnbind rejects a pending request.
func (s *store) RejectUnbind(ctx context.Context, id, by, reason string, now time.Time) error {
	return s.guarded(ctx, "reject unbind", `UPDATE unbind_requests SET state = 'rejected', decided_by = ?, reason = ?,
		decided_at = ? WHERE id = ? AND state = 'pending'`, by, reason, micros(now), id)
}

// CancelUnbind cancels a request that is pending, or approved and not yet
// applied.
func (s *store) CancelUnbind(ctx context.Context, id string, now time.Time) error {
	return s.guarded(ctx, "cancel unbind", `UPDATE unbind_requests SET state = 'cancelled', decided_at = ?
		WHERE id = ? AND (state = 'pending' OR (state = 'approved' AND applied_at IS NULL))`, micros(now), id)
}

// MarkUnbindApplied records that an approved request took effect.
func (s *store) MarkUnbindApplied(ctx context.Context, id string, now time.Time) error {
	return s.guarded(ctx, "mark unbind applied", `UPDATE unbind_requests SET applied_at = ?
		WHERE id = ? AND state = 'approved' AND applied_at IS NULL AND effective_at <= ?`, micros(now), id, micros(now))
}

// DueUnbindRequests returns approved requests whose effect is due.
func (s *store) DueUnbindRequests(ctx context.Context, now time.Time, limit int) ([]*review.UnbindRequest, error) {
	rows, err := s.query(ctx, `SELECT `+unbindColumns+` FROM unbind_requests
		WHERE state = 'approved' AND applied_at IS NULL AND effective_at <= ? ORDER BY effective_at LIMIT ?`, micros(now), limit)
	if err != nil {
		return nil, fail("due unbind requests", err)
	}
	return s.collectUnbindRequests("due unbind requests", rows)
}

// UnbindQueueStats counts pending requests at now.
func (s *store) UnbindQueueStats(ctx context.Context, now time.Time) (review.QueueStats, error) {
	var st review.QueueStats
	var overdue sql.NullInt64
	var oldest sql.NullInt64
	err := s.queryRow(ctx, `SELECT COUNT(*), SUM(CASE WHEN due_at < ? THEN 1 ELSE 0 END), MIN(submitted_at)
		FROM unbind_requests WHERE state = 'pending'`, micros(now)).Scan(&st.Pending, &overdue, &oldest)
	if err != nil {
		return st, fail("unbind queue stats", err)
	}
	st.Overdue = int(overdue.Int64)
	if oldest.Valid {
		st.Oldest = now.Sub(fromMicros(oldest.Int64))
	}
	return st, nil
}

// AddFile records f. ErrConflict when its subject already has the role.
func (s *store) AddFile(ctx context.Context, f *review.File) error {
	n, err := s.execAffected(ctx, `INSERT INTO evidence_files
		(subject, role, blob_id, view_blob_id, content_type, size, created_at, deleted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		f.Subject, string(f.Role), f.BlobID, f.ViewBlobID, f.ContentType, f.Size, micros(f.CreatedAt), nullMicros(f.DeletedAt))
	if err != nil {
		return fail("add file", err)
	}
	if n == 0 {
		return conflict("add file")
	}
	return nil
}

const fileColumns = `subject, role, blob_id, view_blob_id, content_type, size, created_at, deleted_at`

func scanFile(r scanner) (*review.File, error) {
	var f review.File
	var role string
	var created int64
	var deleted sql.NullInt64
	if err := r.Scan(&f.Subject, &role, &f.BlobID, &f.ViewBlobID, &f.ContentType, &f.Size, &created, &deleted); err != nil {
		return nil, err
	}
	f.Role, f.CreatedAt, f.DeletedAt = review.Role(role), fromMicros(created), fromNullMicros(deleted)
	return &f, nil
}

func (s *store) files(ctx context.Context, op, query string, args ...any) ([]*review.File, error) {
	rows, err := s.query(ctx, query, args...)
	if err != nil {
		return nil, fail(op, err)
	}
	defer rows.Close()
	var out []*review.File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fail(op, err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(op, err)
	}
	return out, nil
}

// FilesOf returns the files of a subject.
func (s *store) FilesOf(ctx context.Context, subject string) ([]*review.File, error) {
	return s.files(ctx, "files of", `SELECT `+fileColumns+` FROM evidence_files WHERE subject = ? ORDER BY role`, subject)
}

// ExpiredFiles returns files not yet removed whose subject was decided
// before cutoff: unbind requests decided (an approval only once it took
// effect, so a delay longer than the retention keeps them), rejected identity verifications,
// and approved ones once a newer approval replaced them (the current
// approved one is what later unbind reviews compare against, so it stays).
func (s *store) ExpiredFiles(ctx context.Context, cutoff time.Time, limit int) ([]*review.File, error) {
	c := micros(cutoff)
	return s.files(ctx, "expired files", `SELECT `+fileColumns+` FROM evidence_files f WHERE f.deleted_at IS NULL AND (
		EXISTS (SELECT 1 FROM unbind_requests u WHERE f.subject = 'unbind:' || u.id
			AND u.decided_at IS NOT NULL AND u.decided_at < ? AND NOT (u.state = 'approved' AND u.applied_at IS NULL))
		OR EXISTS (SELECT 1 FROM identity_verifications v WHERE f.subject = 'idv:' || v.id
			AND v.decided_at IS NOT NULL AND v.decided_at < ? AND (v.state = 'rejected' OR EXISTS (
				SELECT 1 FROM identity_verifications w WHERE w.uid = v.uid AND w.state = 'approved'
					AND w.decided_at > v.decided_at AND w.decided_at < ?))))
		ORDER BY f.created_at LIMIT ?`, c, c, c, limit)
}

// MarkFileDeleted records that retention removed the file's bytes.
func (s *store) MarkFileDeleted(ctx context.Context, blobID string, now time.Time) error {
	if _, err := s.exec(ctx, `UPDATE evidence_files SET deleted_at = ? WHERE blob_id = ? AND deleted_at IS NULL`,
		micros(now), blobID); err != nil {
		return fail("mark file deleted", err)
	}
	return nil
}

// RecordAudit appends e and sets its ID.
func (s *store) RecordAudit(ctx context.Context, e *review.AuditEntry) error {
	err := s.queryRow(ctx, `INSERT INTO review_audit (subject, actor_uid, action, detail, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, e.Subject, e.ActorUID, e.Action, e.Detail, micros(e.CreatedAt)).Scan(&e.ID)
	if err != nil {
		return fail("record audit", err)
	}
	return nil
}

// AuditOf returns the trail of a subject, oldest first.
func (s *store) AuditOf(ctx context.Context, subject string) ([]*review.AuditEntry, error) {
	rows, err := s.query(ctx, `SELECT id, subject, actor_uid, action, detail, created_at FROM review_audit
		WHERE subject = ? ORDER BY id`, subject)
	if err != nil {
		return nil, fail("audit of", err)
	}
	defer rows.Close()
	var out []*review.AuditEntry
	for rows.Next() {
		var e review.AuditEntry
		var created int64
		if err := rows.Scan(&e.ID, &e.Subject, &e.ActorUID, &e.Action, &e.Detail, &created); err != nil {
			return nil, fail("audit of", err)
		}
		e.CreatedAt = fromMicros(created)
		out = append(out, &e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail("audit of", err)
	}
	return out, nil
}

var _ account.Tx = (*store)(nil)
