package sqlstore_test

import (
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// BenchmarkSessionByTokenHash measures the look-up every authenticated
// request makes.
func BenchmarkSessionByTokenHash(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			ctx := b.Context()
			db := openMigrated(b, be)
			now := time.Now()
			if err := db.CreateUser(ctx, &account.User{UID: "u", CreatedAt: now}); err != nil {
				b.Fatal(err)
			}
			hash := []byte("0123456789abcdef0123456789abcdef")
			s := &account.Session{ID: "s", TokenHash: hash, UID: "u", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := db.CreateSession(ctx, s); err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if _, err := db.SessionByTokenHash(ctx, hash); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
