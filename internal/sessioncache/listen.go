package sessioncache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// Channel is the PostgreSQL notification channel on which the triggers of
// migration 0005 send the uid of every changed account.
const Channel = "watchword_changed"

const (
	// heartbeatEvery is how often the listener notifies itself.
	heartbeatEvery = 250 * time.Millisecond
	// Staleness is the bound: the cache is used only while a heartbeat
	// sent less than this long ago has been heard. PostgreSQL delivers
	// notifications in commit order, so every change committed before
	// that heartbeat was sent has been applied: a session revoked on
	// another instance is served here at most Staleness after the
	// revocation commits.
	Staleness = time.Second
	// retryEvery paces reconnection after the channel is lost.
	retryEvery = 500 * time.Millisecond
)

// Listener keeps a Cache in step with the changes every instance commits
// to one PostgreSQL database. It holds two connections of its own (one
// listening, one sending heartbeats), outside the store's pool, so a busy
// pool cannot delay a heartbeat into a false alarm. Until Run has heard
// its first heartbeat, and whenever one is late, the cache is bypassed.
type Listener struct {
	cache *Cache
	dsn   string
	log   *slog.Logger
	start time.Time // heartbeat times are monotonic nanoseconds since start
	// token tells this listener's heartbeats from other instances'.
	token string
	// heard is the send time (clock) of the newest own
	// heartbeat heard; 0 while the channel is down.
	heard atomic.Int64
	// pid is the backend process id of the listening connection, for
	// tests that cut it.
	pid atomic.Uint32
}

// NewListener returns a listener for cache on the PostgreSQL database at
// dsn, and gates the cache on its health. Start it with Run.
func NewListener(cache *Cache, dsn string, log *slog.Logger) *Listener {
	var b [8]byte
	rand.Read(b[:])
	l := &Listener{cache: cache, dsn: dsn, log: log, start: time.Now(), token: hex.EncodeToString(b[:])}
	cache.Gate(l.Healthy)
	return l
}

// Healthy reports whether the channel is vouched for: a heartbeat sent
// less than Staleness ago was heard.
func (l *Listener) Healthy() bool {
	h := l.heard.Load()
	return h != 0 && l.clock()-h < int64(Staleness)
}

// clock reads the monotonic clock (never 0), immune to wall-clock steps.
func (l *Listener) clock() int64 { return int64(time.Since(l.start)) + 1 }

// BackendPID returns the PostgreSQL backend of the listening connection (0
// when not connected).
func (l *Listener) BackendPID() uint32 { return l.pid.Load() }

// Run listens until ctx ends, reconnecting after any failure.
func (l *Listener) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := l.listen(ctx)
		l.heard.Store(0)
		l.pid.Store(0)
		if ctx.Err() != nil {
			return
		}
		l.log.Warn("session cache: invalidation channel lost; reading sessions from the database until it is back", "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(retryEvery):
		}
	}
}

// listen runs one connection's life: LISTEN, heartbeats, notifications.
func (l *Listener) listen(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	conn, err := pgx.Connect(ctx, l.dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	beat, err := pgx.Connect(ctx, l.dsn)
	if err != nil {
		return err
	}
	defer beat.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+Channel); err != nil {
		return err
	}
	l.pid.Store(conn.PgConn().PID())
	// Whatever was cached before this connection listened may have
	// missed a change: start empty. The cache stays bypassed until the
	// first heartbeat proves the channel delivers.
	l.cache.Flush()

	beatErr := make(chan error, 1)
	go func() { beatErr <- l.heartbeat(ctx, beat) }()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			cancel()
			<-beatErr
			return err
		}
		sent, ok := l.ownHeartbeat(n.Payload)
		if !ok {
			// A uid, or another instance's heartbeat.
			if !strings.HasPrefix(n.Payload, heartbeatPrefix) {
				l.cache.Changed(n.Payload)
			}
			continue
		}
		if !l.Healthy() {
			// Back after a stall: flush what was cached before it.
			l.cache.Flush()
		}
		l.heard.Store(sent)
	}
}

const heartbeatPrefix = "heartbeat:"

// heartbeat notifies the channel every heartbeatEvery with its send time;
// hearing it back proves the channel delivers.
func (l *Listener) heartbeat(ctx context.Context, conn *pgx.Conn) error {
	t := time.NewTicker(heartbeatEvery)
	defer t.Stop()
	for {
		payload := heartbeatPrefix + l.token + ":" + strconv.FormatInt(l.clock(), 10)
		if _, err := conn.Exec(ctx, "SELECT pg_notify($1, $2)", Channel, payload); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// ownHeartbeat returns the send time of one of this listener's heartbeats.
func (l *Listener) ownHeartbeat(payload string) (int64, bool) {
	rest, ok := strings.CutPrefix(payload, heartbeatPrefix+l.token+":")
	if !ok {
		return 0, false
	}
	sent, err := strconv.ParseInt(rest, 10, 64)
	return sent, err == nil
}
