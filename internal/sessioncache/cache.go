// Package sessioncache keeps sessions (by token hash) and the "me" view of
// accounts (by uid) in memory, so that checking a session costs no
// database round trip. It is bounded (an LRU per shard) and invalidated
// exactly: the store reports every committed change to a uid's sessions,
// user row, roles or authenticator (Changed), and with PostgreSQL a
// Listener hears the changes other instances commit. While the listener
// cannot vouch for the channel, Epoch reports the cache unusable and the
// account service reads the database.
package sessioncache

import (
	"container/list"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// DefaultSize is the number of sessions (and of "me" views) kept when New
// is given 0: at most about 50 MB, at the 1 KB per session and view that
// TestCacheBytesPerSession measures.
const DefaultSize = 50_000

const shardCount = 16

// Cache implements account.SessionCache. It is safe for concurrent use.
type Cache struct {
	seed   maphash.Seed
	shards [shardCount]shard
	// epoch counts invalidations. A value read from the database is kept
	// only if no invalidation happened since the read began: otherwise a
	// read that raced a revocation could put back what it revoked.
	epoch atomic.Uint64
	// usable, when set, says whether the invalidation channel is up; a
	// cache without it (SQLite, one instance) is always usable.
	usable atomic.Pointer[func() bool]
}

type shard struct {
	mu       sync.Mutex
	sessions lru[string, account.Session]
	byUID    map[string]map[string]struct{} // uid → token hashes held in this shard
	users    lru[string, me]
}

type me struct {
	user    account.User
	hasTOTP bool
}

var _ account.SessionCache = (*Cache)(nil)

// New returns a cache of at most size sessions and size "me" views.
func New(size int) *Cache {
	if size <= 0 {
		size = DefaultSize
	}
	per := max(size/shardCount, 1)
	c := &Cache{seed: maphash.MakeSeed()}
	for i := range c.shards {
		sh := &c.shards[i]
		sh.byUID = map[string]map[string]struct{}{}
		sh.sessions = newLRU[string, account.Session](per, func(key string, s account.Session) { sh.unindex(s.UID, key) })
		sh.users = newLRU[string, me](per, nil)
	}
	return c
}

func (c *Cache) shard(key string) *shard {
	return &c.shards[maphash.String(c.seed, key)%shardCount]
}

// Gate makes the cache usable only while usable returns true (the
// Listener's health); nil removes the gate.
func (c *Cache) Gate(usable func() bool) {
	if usable == nil {
		c.usable.Store(nil)
		return
	}
	c.usable.Store(&usable)
}

// Epoch returns the invalidation count to pass to the Put methods after a
// database read, and whether the cache may be used at all.
func (c *Cache) Epoch() (uint64, bool) {
	e := c.epoch.Load()
	if f := c.usable.Load(); f != nil && !(*f)() {
		return e, false
	}
	return e, true
}

// Session returns the cached session of a token hash.
func (c *Cache) Session(tokenHash []byte) (account.Session, bool) {
	key := string(tokenHash)
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.sessions.get(key)
}

// PutSession caches s under its token hash unless something was
// invalidated since epoch was read.
func (c *Cache) PutSession(epoch uint64, tokenHash []byte, s account.Session) {
	key := string(tokenHash)
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	sh.sessions.put(key, s)
	ids := sh.byUID[s.UID]
	if ids == nil {
		ids = map[string]struct{}{}
		sh.byUID[s.UID] = ids
	}
	ids[key] = struct{}{}
}

// SeenSession records activity on a cached session, so that it is not
// touched again before touchEvery; the database learns it from the
// service's coalesced touches.
func (c *Cache) SeenSession(tokenHash []byte, at time.Time) {
	key := string(tokenHash)
	sh := c.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.sessions.update(key, func(s *account.Session) {
		if at.After(s.LastSeenAt) {
			s.LastSeenAt = at
		}
	})
}

// Me returns the cached "me" view of uid.
func (c *Cache) Me(uid string) (account.User, bool, bool) {
	sh := c.shard(uid)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	m, ok := sh.users.get(uid)
	return m.user, m.hasTOTP, ok
}

// PutMe caches the "me" view of u unless something was invalidated since
// epoch was read.
func (c *Cache) PutMe(epoch uint64, u account.User, hasTOTP bool) {
	sh := c.shard(u.UID)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if c.epoch.Load() != epoch {
		return
	}
	sh.users.put(u.UID, me{user: u, hasTOTP: hasTOTP})
}

// Changed drops everything cached about uid: its sessions and its "me"
// view. The store calls it after a commit that changed them.
func (c *Cache) Changed(uid string) {
	// The epoch moves before the entries go, under the same locks the
	// Put methods check it under: a read that began before this call
	// either finds the new epoch or has its entry removed here.
	c.epoch.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		for key := range sh.byUID[uid] {
			sh.sessions.remove(key)
		}
		if sh == c.shard(uid) {
			sh.users.remove(uid)
		}
		sh.mu.Unlock()
	}
}

// Flush drops everything: when the invalidation channel comes back after
// an outage, nothing cached before it can be trusted.
func (c *Cache) Flush() {
	c.epoch.Add(1)
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sh.sessions.clear()
		sh.users.clear()
		clear(sh.byUID)
		sh.mu.Unlock()
	}
}

// Len returns the numbers of cached sessions and "me" views.
func (c *Cache) Len() (sessions, users int) {
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.Lock()
		sessions += sh.sessions.len()
		users += sh.users.len()
		sh.mu.Unlock()
	}
	return sessions, users
}

func (sh *shard) unindex(uid, key string) {
	ids := sh.byUID[uid]
	delete(ids, key)
	if len(ids) == 0 {
		delete(sh.byUID, uid)
	}
}

// lru is a map with a bound: past it, the least recently used entry goes.
// It is not safe for concurrent use (the shard's lock guards it).
type lru[K comparable, V any] struct {
	max     int
	order   *list.List // front: most recently used; elements hold *entry[K, V]
	items   map[K]*list.Element
	evicted func(K, V) // also called on remove
}

type entry[K comparable, V any] struct {
	key K
	val V
}

func newLRU[K comparable, V any](max int, evicted func(K, V)) lru[K, V] {
	return lru[K, V]{max: max, order: list.New(), items: map[K]*list.Element{}, evicted: evicted}
}

func (l *lru[K, V]) get(k K) (V, bool) {
	e, ok := l.items[k]
	if !ok {
		var zero V
		return zero, false
	}
	l.order.MoveToFront(e)
	return e.Value.(*entry[K, V]).val, true
}

func (l *lru[K, V]) update(k K, fn func(*V)) {
	if e, ok := l.items[k]; ok {
		fn(&e.Value.(*entry[K, V]).val)
	}
}

func (l *lru[K, V]) put(k K, v V) {
	if e, ok := l.items[k]; ok {
		e.Value.(*entry[K, V]).val = v
		l.order.MoveToFront(e)
		return
	}
	l.items[k] = l.order.PushFront(&entry[K, V]{k, v})
	if l.order.Len() > l.max {
		l.removeElement(l.order.Back())
	}
}

func (l *lru[K, V]) remove(k K) {
	if e, ok := l.items[k]; ok {
		l.removeElement(e)
	}
}

func (l *lru[K, V]) removeElement(e *list.Element) {
	en := l.order.Remove(e).(*entry[K, V])
	delete(l.items, en.key)
	if l.evicted != nil {
		l.evicted(en.key, en.val)
	}
}

func (l *lru[K, V]) clear() {
	l.order.Init()
	clear(l.items)
}

func (l *lru[K, V]) len() int { return l.order.Len() }
