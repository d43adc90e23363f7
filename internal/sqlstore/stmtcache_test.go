package sqlstore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// TestStatementCache: on SQLite a statement is prepared once and then
// reused, also by a statement that first ran inside a transaction (it is
// prepared beside it, for next time, since preparing on the pool from
// inside a transaction could wait for that transaction's own lock); many
// writers at once still all succeed and read back what they wrote.
func TestStatementCache(t *testing.T) {
	for _, name := range []string{":memory:", filepath.Join(t.TempDir(), "w.db")} {
		t.Run(filepath.Base(name), func(t *testing.T) {
			db := open(t, "sqlite:"+name)
			if err := db.Migrate(t.Context()); err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			settled := func() int64 {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
					n, preparing := db.CachedStatements()
					if !preparing {
						return n
					}
					if time.Now().After(deadline) {
						t.Fatal("statements still being prepared after 10 s")
					}
				}
			}
			user := func(i int) *account.User {
				return &account.User{UID: fmt.Sprintf("U%07d", i), Email: fmt.Sprintf("u%d@example.com", i),
					EmailKey: fmt.Sprintf("u%d@example.com", i), EmailVerified: true, CreatedAt: time.Now()}
			}
			if err := db.CreateUser(ctx, user(0)); err != nil { // inside a transaction
				t.Fatal(err)
			}
			first := settled()
			if first <= 0 {
				t.Fatalf("%d statements cached after a transaction, want some", first)
			}
			if err := db.CreateUser(ctx, user(1)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UserByVerifiedEmail(ctx, "u1@example.com"); err != nil {
				t.Fatal(err)
			}
			again := settled()
			if err := db.CreateUser(ctx, user(2)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.UserByVerifiedEmail(ctx, "u2@example.com"); err != nil {
				t.Fatal(err)
			}
			if n := settled(); n != again {
				t.Errorf("the same statements again grew the cache from %d to %d", again, n)
			}

			var wg sync.WaitGroup
			for i := range 32 {
				wg.Go(func() {
					u := user(100 + i)
					if err := db.CreateUser(ctx, u); err != nil {
						t.Error(err)
						return
					}
					got, err := db.UserByVerifiedEmail(ctx, u.EmailKey)
					if err != nil || got.UID != u.UID {
						t.Errorf("read back %s: %+v, %v", u.UID, got, err)
					}
				})
			}
			wg.Wait()
		})
	}
}
