package sessioncache_test

import (
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/sessioncache"
)

// session returns a session shaped like a real one: 16-byte ids, a
// 32-byte token hash, a browser's user agent.
func session(i int) ([]byte, account.Session) {
	hash := []byte(fmt.Sprintf("%032d", i))
	now := time.Now()
	return hash, account.Session{
		ID: fmt.Sprintf("s%015d", i), TokenHash: hash, UID: fmt.Sprintf("u%015d", i),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(12 * time.Hour),
		IP: "203.0.113.77", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0 Safari/537.36",
	}
}

func TestCacheBounded(t *testing.T) {
	c := sessioncache.New(160)
	e, _ := c.Epoch()
	for i := range 1000 {
		h, s := session(i)
		c.PutSession(e, h, s)
		c.PutMe(e, account.User{UID: s.UID}, false)
	}
	if n, u := c.Len(); n > 160 || u > 160 {
		t.Errorf("%d sessions and %d views cached, want at most 160 each", n, u)
	}
	h, _ := session(999)
	if _, ok := c.Session(h); !ok {
		t.Error("the most recent session was evicted")
	}
}

func TestCacheChangedDropsTheUID(t *testing.T) {
	c := sessioncache.New(0)
	e, _ := c.Epoch()
	h1, s1 := session(1)
	h2, s2 := session(2)
	h3, s3 := session(3)
	s2.UID = s1.UID // two sessions of one account
	for _, x := range []struct {
		h []byte
		s account.Session
	}{{h1, s1}, {h2, s2}, {h3, s3}} {
		c.PutSession(e, x.h, x.s)
	}
	c.PutMe(e, account.User{UID: s1.UID}, true)
	c.Changed(s1.UID)
	for _, h := range [][]byte{h1, h2} {
		if _, ok := c.Session(h); ok {
			t.Errorf("session %s still cached after Changed", h)
		}
	}
	if _, _, ok := c.Me(s1.UID); ok {
		t.Error("me view still cached after Changed")
	}
	if _, ok := c.Session(h3); !ok {
		t.Error("another account's session was dropped")
	}
}

// A read that began before an invalidation must not put back what the
// invalidation removed.
func TestCacheStalePutIgnored(t *testing.T) {
	c := sessioncache.New(0)
	e, _ := c.Epoch()
	h, s := session(1)
	c.Changed(s.UID) // commits while the read is in flight
	c.PutSession(e, h, s)
	c.PutMe(e, account.User{UID: s.UID}, false)
	if _, ok := c.Session(h); ok {
		t.Error("stale session cached")
	}
	if _, _, ok := c.Me(s.UID); ok {
		t.Error("stale me view cached")
	}
}

func TestCacheGate(t *testing.T) {
	c := sessioncache.New(0)
	up := false
	c.Gate(func() bool { return up })
	if _, ok := c.Epoch(); ok {
		t.Error("usable while the gate is shut")
	}
	up = true
	if _, ok := c.Epoch(); !ok {
		t.Error("unusable while the gate is open")
	}
}

// TestCacheBytesPerSession measures the heap a cached session costs, with
// its index entry and a "me" view per account; the README quotes it.
func TestCacheBytesPerSession(t *testing.T) {
	const n = 50_000
	c := sessioncache.New(n)
	e, _ := c.Epoch()
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		h, s := session(i)
		c.PutSession(e, h, s)
		c.PutMe(e, account.User{UID: s.UID, Email: strings.Repeat("x", 24) + "@example.com", EmailVerified: true, Roles: nil}, false)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	per := float64(after.HeapAlloc-before.HeapAlloc) / n
	t.Logf("%.0f bytes per cached session with its account's me view", per)
	if per > 4096 {
		t.Errorf("%.0f bytes per cached session", per)
	}
	runtime.KeepAlive(c)
}
