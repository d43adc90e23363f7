package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// CreateFlow inserts f. ErrConflict when a flow with that ID hash exists.
func (s *store) CreateFlow(ctx context.Context, f *account.Flow) error {
	n, err := s.execAffected(ctx, `INSERT INTO flows
		(id_hash, purpose, uid, channel, address, session_id, method, factors, cred_version, failures, created_at, expires_at, done_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT DO NOTHING`,
		f.IDHash, string(f.Purpose), f.UID, string(f.Channel), f.Address, f.SessionID, f.Method,
		joinFactors(f.Factors), f.CredVersion, micros(f.CreatedAt), micros(f.ExpiresAt), nullMicros(f.DoneAt))
	if err != nil {
		return fail("create flow", err)
	}
	if n == 0 {
		return conflict("create flow")
	}
	return nil
}

// FlowByIDHash returns the flow, finished or not, expired or not.
func (s *store) FlowByIDHash(ctx context.Context, idHash []byte) (*account.Flow, error) {
	var f account.Flow
	var purpose, channel, factors string
	var created, expires int64
	var done sql.NullInt64
	err := s.queryRow(ctx, `SELECT id_hash, purpose, uid, channel, address, session_id, method, factors, cred_version,
		created_at, expires_at, done_at FROM flows WHERE id_hash = ?`, idHash).Scan(
		&f.IDHash, &purpose, &f.UID, &channel, &f.Address, &f.SessionID, &f.Method, &factors, &f.CredVersion,
		&created, &expires, &done)
	if err != nil {
		return nil, fail("flow by id hash", err)
	}
	f.Purpose, f.Channel, f.Factors = account.Purpose(purpose), account.Channel(channel), splitFactors(factors)
	f.CreatedAt, f.ExpiresAt, f.DoneAt = fromMicros(created), fromMicros(expires), fromNullMicros(done)
	return &f, nil
}

func joinFactors(fs []account.Factor) string {
	parts := make([]string, len(fs))
	for i, f := range fs {
		parts[i] = string(f)
	}
	return strings.Join(parts, ",")
}

func splitFactors(s string) []account.Factor {
	if s == "" {
		return nil
	}
	var fs []account.Factor
	for _, p := range strings.Split(s, ",") {
		fs = append(fs, account.Factor(p))
	}
	return fs
}

// FinishFlow marks the flow done. ErrConflict when it already was;
// ErrNoRows when there is no such flow.
func (s *store) FinishFlow(ctx context.Context, idHash []byte, now time.Time) error {
	// The done_at IS NULL condition, not a prior read, is what lets only
	// one of two concurrent callers finish the flow.
	n, err := s.execAffected(ctx, `UPDATE flows SET done_at = ? WHERE id_hash = ? AND done_at IS NULL`, micros(now), idHash)
	if err != nil {
		return fail("finish flow", err)
	}
	if n == 1 {
		return nil
	}
	var exists int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM flows WHERE id_hash = ?`, idHash).Scan(&exists); err != nil {
		return fail("finish flow", err)
	}
	if exists == 0 {
		return noRows("finish flow")
	}
	return conflict("finish flow")
}

// FailFlow counts one wrong second-factor try against the flow and returns
// the new count. ErrNoRows when there is no such flow.
func (s *store) FailFlow(ctx context.Context, idHash []byte) (int, error) {
	// Incremented by the database, so concurrent failures are all counted.
	var n int
	err := s.queryRow(ctx, `UPDATE flows SET failures = failures + 1 WHERE id_hash = ? RETURNING failures`, idHash).Scan(&n)
	if err != nil {
		return 0, fail("fail flow", err)
	}
	return n, nil
}

// PutCode stores c, replacing any code of the same purpose and address,
// with its attempts and use: the earlier flow's code is gone.
func (s *store) PutCode(ctx context.Context, c *account.OneTimeCode) error {
	_, err := s.exec(ctx, `INSERT INTO codes
		(purpose, address_key, flow_id_hash, hash, attempts, created_at, expires_at, consumed_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (purpose, address_key) DO UPDATE SET
			flow_id_hash = excluded.flow_id_hash, hash = excluded.hash, attempts = excluded.attempts,
			created_at = excluded.created_at, expires_at = excluded.expires_at, consumed_at = excluded.consumed_at`,
		string(c.Purpose), c.AddressKey, c.FlowIDHash, c.Hash, c.Attempts,
		micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.ConsumedAt))
	if err != nil {
		return fail("put code", err)
	}
	return nil
}

// CodeFor returns the code of that purpose and address, used or not,
// expired or not.
func (s *store) CodeFor(ctx context.Context, purpose account.Purpose, addressKey string) (*account.OneTimeCode, error) {
	var c account.OneTimeCode
	var p string
	var created, expires int64
	var consumed sql.NullInt64
	err := s.queryRow(ctx, `SELECT purpose, address_key, flow_id_hash, hash, attempts, created_at, expires_at, consumed_at
		FROM codes WHERE purpose = ? AND address_key = ?`, string(purpose), addressKey).Scan(
		&p, &c.AddressKey, &c.FlowIDHash, &c.Hash, &c.Attempts, &created, &expires, &consumed)
	if err != nil {
		return nil, fail("code for", err)
	}
	c.Purpose = account.Purpose(p)
	c.CreatedAt, c.ExpiresAt, c.ConsumedAt = fromMicros(created), fromMicros(expires), fromNullMicros(consumed)
	return &c, nil
}

// FailCode counts one wrong try against the code that flowIDHash holds and
// returns the new count. ErrNoRows when that flow no longer holds it.
func (s *store) FailCode(ctx context.Context, purpose account.Purpose, addressKey string, flowIDHash []byte) (int, error) {
	var n int
	err := s.queryRow(ctx, `UPDATE codes SET attempts = attempts + 1
		WHERE purpose = ? AND address_key = ? AND flow_id_hash = ? RETURNING attempts`,
		string(purpose), addressKey, flowIDHash).Scan(&n)
	if err != nil {
		return 0, fail("fail code", err)
	}
	return n, nil
}

// ConsumeCode marks the code used, only if it belongs to flowIDHash, is
// unused, has fewer than maxAttempts wrong tries and has not expired at
// now. ErrConflict otherwise.
func (s *store) ConsumeCode(ctx context.Context, purpose account.Purpose, addressKey string, flowIDHash []byte, maxAttempts int, now time.Time) error {
	// Every condition is in the WHERE clause of one UPDATE, so of any
	// number of concurrent callers exactly one changes the row: this, not
	// a read beforehand, is what makes a code single use.
	n, err := s.execAffected(ctx, `UPDATE codes SET consumed_at = ?
		WHERE purpose = ? AND address_key = ? AND flow_id_hash = ?
		AND consumed_at IS NULL AND attempts < ? AND expires_at > ?`,
		micros(now), string(purpose), addressKey, flowIDHash, maxAttempts, micros(now))
	if err != nil {
		return fail("consume code", err)
	}
	if n == 0 {
		return conflict("consume code")
	}
	return nil
}
