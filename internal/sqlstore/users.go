package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
	"github.com/watchword/watchword/internal/identifier"
)

const userColumns = `uid, email, email_key, email_verified, phone, phone_verified, password_hash, cred_version, security_hold_until, lang, created_at`

// CreateUser inserts u. ErrConflict when u.UID exists or a verified email
// or phone of u is verified on another account.
func (s *store) CreateUser(ctx context.Context, u *account.User) error {
	err := s.atomically(ctx, func(s *store) error {
		// ON CONFLICT DO NOTHING with no target covers the primary key and
		// both partial unique indexes, and leaves a PostgreSQL
		// transaction usable; zero rows written means a conflict.
		n, err := s.execAffected(ctx, `INSERT INTO users (`+userColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			u.UID, u.Email, u.EmailKey, u.EmailVerified, u.Phone, u.PhoneVerified, u.PasswordHash, u.CredVersion,
			nullMicros(u.SecurityHoldUntil), string(u.Lang), micros(u.CreatedAt))
		if err != nil {
			return err
		}
		if n == 0 {
			return account.ErrConflict
		}
		for _, role := range u.Roles {
			if err := s.grantRole(ctx, u.UID, role); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fail("create user", err)
	}
	return nil
}

// UserByUID returns the user with that UID, roles included.
func (s *store) UserByUID(ctx context.Context, uid string) (*account.User, error) {
	return s.userWhere(ctx, "user by uid", `uid = ?`, uid)
}

// UserByVerifiedEmail returns the user whose verified email has that key.
func (s *store) UserByVerifiedEmail(ctx context.Context, emailKey string) (*account.User, error) {
	// "AND email_verified" matches the partial index's predicate word for
	// word, which is what lets SQLite's planner use it.
	return s.userWhere(ctx, "user by verified email", `email_key = ? AND email_verified`, emailKey)
}

// UserByVerifiedPhone returns the user whose verified phone is phone.
func (s *store) UserByVerifiedPhone(ctx context.Context, phone string) (*account.User, error) {
	return s.userWhere(ctx, "user by verified phone", `phone = ? AND phone_verified`, phone)
}

// FindUser looks a user up for staff tools, by exactly one of email
// (case-insensitive, verified or not), phone (exact E.164, verified or not)
// or uid. When unverified copies of an identifier sit on several accounts,
// the account that verified it wins, then the oldest. ErrNoRows if none.
func (db *DB) FindUser(ctx context.Context, email, phone, uid string) (*account.User, error) {
	given := 0
	for _, v := range []string{email, phone, uid} {
		if v != "" {
			given++
		}
	}
	if given != 1 {
		return nil, errors.New("sqlstore: find user: give exactly one of email, phone and uid")
	}
	switch {
	case email != "":
		// The same folding the domain applies to make EmailKey.
		key := identifier.EmailKey(strings.TrimSpace(email))
		return db.userWhere(ctx, "find user by email", `email_key = ? ORDER BY email_verified DESC, created_at, uid LIMIT 1`, key)
	case phone != "":
		return db.userWhere(ctx, "find user by phone", `phone = ? ORDER BY phone_verified DESC, created_at, uid LIMIT 1`, phone)
	default:
		return db.userWhere(ctx, "find user by uid", `uid = ?`, uid)
	}
}

// userWhere returns the first user matching where, with its roles. The
// roles come in the same statement, joined by commas (role names are a
// closed set of words): a user is read on every login and code request,
// and a second round trip to the database for roles that almost nobody
// has cost as much as the user row itself.
func (s *store) userWhere(ctx context.Context, op, where string, args ...any) (*account.User, error) {
	var u account.User
	var created int64
	var hold sql.NullInt64
	var lang string
	var roles sql.NullString
	err := s.queryRow(ctx, `SELECT `+userColumns+`,
		(SELECT string_agg(role, ',' ORDER BY role) FROM user_roles WHERE user_roles.uid = users.uid)
		FROM users WHERE `+where, args...).Scan(
		&u.UID, &u.Email, &u.EmailKey, &u.EmailVerified, &u.Phone, &u.PhoneVerified, &u.PasswordHash, &u.CredVersion,
		&hold, &lang, &created, &roles)
	if err != nil {
		return nil, fail(op, err)
	}
	u.CreatedAt, u.SecurityHoldUntil, u.Lang = fromMicros(created), fromNullMicros(hold), i18n.Lang(lang)
	if roles.Valid && roles.String != "" {
		u.Roles = strings.Split(roles.String, ",")
	}
	return &u, nil
}

// SetVerifiedEmail replaces the user's email with a verified one.
// ErrConflict when another account has it verified; ErrNoRows when uid
// does not exist.
func (s *store) SetVerifiedEmail(ctx context.Context, uid, email, emailKey string) error {
	n, err := s.execGuarded(ctx, `UPDATE users SET email = ?, email_key = ?, email_verified = TRUE WHERE uid = ?`,
		email, emailKey, uid)
	if err != nil {
		return fail("set verified email", err)
	}
	if n == 0 {
		return noRows("set verified email")
	}
	s.userChanged(uid)
	return nil
}

// SetVerifiedPhone replaces the user's phone with a verified one.
// ErrConflict when another account has it verified; ErrNoRows when uid
// does not exist.
func (s *store) SetVerifiedPhone(ctx context.Context, uid, phone string) error {
	n, err := s.execGuarded(ctx, `UPDATE users SET phone = ?, phone_verified = TRUE WHERE uid = ?`, phone, uid)
	if err != nil {
		return fail("set verified phone", err)
	}
	if n == 0 {
		return noRows("set verified phone")
	}
	s.userChanged(uid)
	return nil
}

// SetPasswordHash replaces the user's password hash. ErrNoRows when uid
// does not exist.
func (s *store) SetPasswordHash(ctx context.Context, uid, hash string) error {
	n, err := s.execAffected(ctx, `UPDATE users SET password_hash = ? WHERE uid = ?`, hash, uid)
	if err != nil {
		return fail("set password hash", err)
	}
	if n == 0 {
		return noRows("set password hash")
	}
	s.userChanged(uid)
	return nil
}

// RehashPassword replaces the hash only while it is still oldHash: the
// condition, not a prior read, keeps a login that verified the old
// password from writing it back over a new one. ErrConflict otherwise.
func (s *store) RehashPassword(ctx context.Context, uid, oldHash, newHash string) error {
	n, err := s.execAffected(ctx, `UPDATE users SET password_hash = ? WHERE uid = ? AND password_hash = ?`,
		newHash, uid, oldHash)
	if err != nil {
		return fail("rehash password", err)
	}
	if n == 0 {
		return conflict("rehash password")
	}
	s.userChanged(uid)
	return nil
}

// SetLanguage sets the language of uid's messages. The condition on the
// current language makes the usual login, in the same language as the
// last, a statement that writes nothing; zero rows is therefore no error.
func (s *store) SetLanguage(ctx context.Context, uid string, lang i18n.Lang) error {
	n, err := s.execAffected(ctx, `UPDATE users SET lang = ? WHERE uid = ? AND lang <> ?`, string(lang), uid, string(lang))
	if err != nil {
		return fail("set language", err)
	}
	if n > 0 {
		s.userChanged(uid)
	}
	return nil
}

// SetSecurityHold sets the security hold of uid until that time.
// ErrNoRows when uid does not exist.
func (s *store) SetSecurityHold(ctx context.Context, uid string, until time.Time) error {
	n, err := s.execAffected(ctx, `UPDATE users SET security_hold_until = ? WHERE uid = ?`, micros(until), uid)
	if err != nil {
		return fail("set security hold", err)
	}
	if n == 0 {
		return noRows("set security hold")
	}
	s.userChanged(uid)
	return nil
}

// BumpCredentials increments the credentials version of uid. ErrNoRows
// when uid does not exist.
func (s *store) BumpCredentials(ctx context.Context, uid string) error {
	n, err := s.execAffected(ctx, `UPDATE users SET cred_version = cred_version + 1 WHERE uid = ?`, uid)
	if err != nil {
		return fail("bump credentials", err)
	}
	if n == 0 {
		return noRows("bump credentials")
	}
	s.userChanged(uid)
	return nil
}

// CheckCredentials succeeds while uid's credentials version is version.
// On PostgreSQL it locks the row FOR NO KEY UPDATE until commit: a password
// or identifier change (an UPDATE of the row) waits for the caller's
// transaction, and under READ COMMITTED a read that waited for a change
// re-reads the row as committed, so the change commits wholly before (and
// this fails) or wholly after (and ends what the caller made). The lock is
// exclusive, as the no-op UPDATE it replaces was, so two logins of one
// account that both go on to write the row (a password rehash, the
// language) queue rather than deadlock on two shared locks; unlike that
// UPDATE it writes no row version. It does not block the key-share locks
// that the session's foreign key takes. SQLite transactions here begin
// IMMEDIATE and never interleave, so a plain read does.
func (s *store) CheckCredentials(ctx context.Context, uid string, version int64) error {
	lock := ""
	if s.dialect == dialectPostgres {
		lock = " FOR NO KEY UPDATE"
	}
	var one int
	err := s.queryRow(ctx, `SELECT 1 FROM users WHERE uid = ? AND cred_version = ?`+lock, uid, version).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return conflict("check credentials")
	}
	if err != nil {
		return fail("check credentials", err)
	}
	return nil
}

// GrantRole gives uid the role; granting it again is a no-op. ErrNoRows
// when uid does not exist.
func (s *store) GrantRole(ctx context.Context, uid, role string) error {
	if err := s.grantRole(ctx, uid, role); err != nil {
		return fail("grant role", err)
	}
	s.userChanged(uid)
	return nil
}

func (s *store) grantRole(ctx context.Context, uid, role string) error {
	// Inserting from a SELECT on users turns a missing user into zero
	// rows rather than a foreign-key error, which the two drivers report
	// differently. Zero rows is also an existing grant: tell them apart.
	n, err := s.execAffected(ctx, `INSERT INTO user_roles (uid, role) SELECT uid, ? FROM users WHERE uid = ?
		ON CONFLICT DO NOTHING`, role, uid)
	if err != nil || n > 0 {
		return err
	}
	var users int
	if err := s.queryRow(ctx, `SELECT COUNT(*) FROM users WHERE uid = ?`, uid).Scan(&users); err != nil {
		return err
	}
	if users == 0 {
		return account.ErrNoRows
	}
	return nil
}

// RevokeRoles removes all of uid's roles.
func (s *store) RevokeRoles(ctx context.Context, uid string) error {
	if _, err := s.exec(ctx, `DELETE FROM user_roles WHERE uid = ?`, uid); err != nil {
		return fail("revoke roles", err)
	}
	s.userChanged(uid)
	return nil
}
