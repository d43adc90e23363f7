package sqlstore_test

import (
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/sqlstore"
)

// TestConcurrentWriters runs 32 sign-up-shaped transactions at once, again
// and again: each reads (is the address taken? the code), then writes (user,
// session, code consumed, event). On SQLite writers must queue for the one
// write lock (BEGIN IMMEDIATE, busy_timeout) rather than fail with
// "database is locked"; on PostgreSQL they queue for the pool. Any error
// fails the test.
func TestConcurrentWriters(t *testing.T) {
	forEach(t, func(t *testing.T, b backend) {
		db := openMigrated(t, b)
		ctx := t.Context()
		const writers, rounds = 32, 8
		now := time.Now().UTC().Truncate(time.Second)
		run := rand.Text()[:8]
		var wg sync.WaitGroup
		errs := make(chan error, writers*rounds)
		for w := range writers {
			wg.Go(func() {
				for r := range rounds {
					if err := signUpShaped(t, db, fmt.Sprintf("%s-%d-%d", run, w, r), now); err != nil {
						errs <- fmt.Errorf("writer %d round %d: %w", w, r, err)
					}
				}
			})
		}
		// Plain autocommit writes beside the transactions, as the session
		// touches and the outbox worker make.
		wg.Go(func() {
			for i := range writers * rounds {
				m := &account.Message{Channel: account.ChannelEmail, To: fmt.Sprintf("%s-%d@example.com", run, i),
					Subject: "s", Text: "t", CreatedAt: now, NextAttemptAt: now}
				if err := db.EnqueueMessage(ctx, m); err != nil {
					errs <- fmt.Errorf("enqueue %d: %w", i, err)
				}
			}
		})
		wg.Wait()
		close(errs)
		n := 0
		for err := range errs {
			if n < 5 {
				t.Error(err)
			}
			n++
		}
		if n > 0 {
			t.Fatalf("%d of %d concurrent writes failed", n, writers*rounds)
		}
	})
}

// signUpShaped is the store side of a sign-up: a code to consume, an
// address to check, then a user, a session and an event in one transaction.
func signUpShaped(t *testing.T, db *sqlstore.DB, id string, now time.Time) error {
	ctx := t.Context()
	email := "w-" + id + "@example.com"
	flowHash, codeHash, tokenHash := randomBytes(), randomBytes(), randomBytes()
	code := &account.OneTimeCode{Purpose: account.PurposeVerifyEmail, AddressKey: email, FlowIDHash: flowHash,
		Hash: codeHash, CreatedAt: now, ExpiresAt: now.Add(10 * time.Minute)}
	if err := db.PutCode(ctx, code); err != nil {
		return fmt.Errorf("PutCode: %w", err)
	}
	return db.Atomic(ctx, func(tx account.Tx) error {
		if _, err := tx.UserByVerifiedEmail(ctx, email); !errors.Is(err, account.ErrNoRows) {
			return fmt.Errorf("UserByVerifiedEmail: %v, want no rows", err)
		}
		if _, err := tx.CodeFor(ctx, account.PurposeVerifyEmail, email); err != nil {
			return fmt.Errorf("CodeFor: %w", err)
		}
		if err := tx.ConsumeCode(ctx, account.PurposeVerifyEmail, email, flowHash, 5, now); err != nil {
			return fmt.Errorf("ConsumeCode: %w", err)
		}
		u := &account.User{UID: "u" + id, Email: email, EmailKey: email, EmailVerified: true,
			PasswordHash: "$argon2id$v=19$m=1024,t=1,p=1$c2FsdA$aGFzaA", CreatedAt: now}
		if err := tx.CreateUser(ctx, u); err != nil {
			return fmt.Errorf("CreateUser: %w", err)
		}
		s := &account.Session{ID: "s" + id, TokenHash: tokenHash, UID: u.UID, CreatedAt: now, LastSeenAt: now,
			ExpiresAt: now.Add(time.Hour), IP: "192.0.2.1", UserAgent: "concurrency test"}
		if err := tx.CreateSession(ctx, s); err != nil {
			return fmt.Errorf("CreateSession: %w", err)
		}
		if err := tx.RecordEvent(ctx, &account.Event{UID: u.UID, Kind: account.EventSignUp, CreatedAt: now}); err != nil {
			return fmt.Errorf("RecordEvent: %w", err)
		}
		return nil
	})
}

func randomBytes() []byte {
	b := make([]byte, 32)
	rand.Read(b)
	return b
}
