package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/api"
	"github.com/watchword/watchword/internal/email"
	"github.com/watchword/watchword/internal/metrics"
	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/outbox"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sessioncache"
	"github.com/watchword/watchword/internal/sms"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/web"
)

// newLogger returns a JSON logger, or a text one when stderr is a terminal.
// Every line logged with a request's context names the request's id and
// client IP.
// The lines go through a logWriter, which the caller closes.
func newLogger(w io.Writer, level string) (*slog.Logger, *logWriter, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	out := newLogWriter(w)
	var h slog.Handler = slog.NewJSONHandler(out, opts)
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			h = slog.NewTextHandler(out, opts)
		}
	}
	return slog.New(middleware.ContextLogHandler(h)), out, nil
}

// app is the wired server: built by build, run by serve, closed by Close.
type app struct {
	cfg      *Config
	log      *slog.Logger
	db       *sqlstore.DB
	redis    *redis.Client
	svc      *account.Service
	reviews  *review.Service
	evidence *evidenceStore
	worker   *outbox.Worker
	dev      *outbox.Dev
	metrics  *metrics.Metrics
	web      *web.Server
	handler  http.Handler
	// cache keeps sessions in memory; listener (PostgreSQL only) keeps
	// it in step with the other instances (internal/sessioncache).
	cache    *sessioncache.Cache
	listener *sessioncache.Listener
}

// openStore opens the database and the encryption box from cfg.
func openStore(ctx context.Context, cfg *Config) (*sqlstore.DB, [][]byte, error) {
	keys, err := loadKeys(cfg.SecretKeyFile, cfg.generateKey, func(b []byte) error { _, err := rand.Read(b); return err })
	if err != nil {
		return nil, nil, err
	}
	box, err := newBox(keys)
	if err != nil {
		return nil, nil, err
	}
	db, err := sqlstore.Open(ctx, cfg.DB, box)
	if err != nil {
		return nil, nil, err
	}
	return db, keys, nil
}

// openMigrated opens the store and applies pending migrations.
func openMigrated(ctx context.Context, cfg *Config) (*sqlstore.DB, [][]byte, error) {
	db, keys, err := openStore(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	if err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, nil, fmt.Errorf("migrate: %w", err)
	}
	return db, keys, nil
}

// newBox builds the at-rest cipher. A key's id is derived from the key, so
// rotating means adding a new first line and keeping the old ones; two
// keys whose ids collide (1 in 256) are refused at start: make another.
func newBox(keys [][]byte) (*secretbox.Box, error) {
	var ks []secretbox.Key
	for _, k := range keys {
		sub := secretbox.DeriveKey(k, "at-rest")
		ks = append(ks, secretbox.Key{ID: secretbox.DeriveKey(k, "key-id")[0], Secret: sub})
	}
	return secretbox.New(ks[0], ks[1:]...)
}

// tokenKeys derives the keys of token hashes from every key of the key
// file, the current first: tokens, flows, codes and recovery codes hashed
// before a rotation are still recognized.
func tokenKeys(keys [][]byte) [][]byte {
	out := make([][]byte, len(keys))
	for i, k := range keys {
		out[i] = secretbox.DeriveKey(k, "token-hash")
	}
	return out
}

// build wires every part of the server from cfg.
func build(ctx context.Context, cfg *Config, log *slog.Logger) (*app, error) {
	a := &app{cfg: cfg, log: log, metrics: metrics.New()}
	params, err := password.ParseParams(cfg.PasswordHash)
	if err != nil {
		return nil, fmt.Errorf("--password-hash: %w", err)
	}
	trusted, err := middleware.ParseTrustedProxies(cfg.TrustedProxies)
	if err != nil {
		return nil, fmt.Errorf("--trusted-proxies: %w", err)
	}
	db, keys, err := openMigrated(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a.db = db

	var limiter ratelimit.Limiter = ratelimit.NewMemory(time.Now)
	if cfg.RedisURL != "" {
		opt, err := redis.ParseURL(cfg.RedisURL)
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("--redis-url: %w", err)
		}
		a.redis = redis.NewClient(opt)
		if err := a.redis.Ping(ctx).Err(); err != nil {
			a.Close()
			return nil, fmt.Errorf("redis: %w", err)
		}
		limiter = ratelimit.NewRedis(a.redis, "watchword:rl:")
	}

	guard, err := a.smsGuard(limiter)
	if err != nil {
		a.Close()
		return nil, err
	}
	senders, err := a.senders()
	if err != nil {
		a.Close()
		return nil, err
	}
	for ch, what := range map[account.Channel]string{account.ChannelEmail: "email", account.ChannelPhone: "SMS"} {
		if senders[ch] == nil {
			log.Warn("no "+what+" delivery configured: addresses of this kind are refused wherever a message would go to them",
				"channel", string(ch))
		}
	}
	a.worker = outbox.NewWorker(db, senders, log, outbox.Options{Metrics: a.metrics})

	a.cache = sessioncache.New(0)
	db.OnChange(a.cache.Changed)
	if db.Dialect() == "postgres" {
		a.listener = sessioncache.NewListener(a.cache, cfg.DB, log)
	}

	policy := password.DefaultPolicy
	policy.MinLength = cfg.PasswordMinLength
	a.svc = account.New(account.Deps{
		Store:     db,
		Limiter:   limiterAdapter{limiter},
		Passwords: password.NewHasherLimit(params, cfg.PasswordHashConcurrency),
		Policy:    policy,
		TokenKeys: tokenKeys(keys),
		Random:    rand.Reader,
		Now:       time.Now,
		Log:       log,
		Waker:     a.worker,
		Metrics:   a.metrics,
		SMSGuard:  guard,
		Cache:     a.cache,
	}, account.Config{
		Limits:          codeLoginLimit(cfg.CodeLoginLimit),
		Issuer:          cfg.Issuer,
		SessionIdle:     cfg.SessionIdle,
		SessionLifetime: cfg.SessionLifetime,
		StepUpLifetime:  cfg.StepUpLifetime,
		SecurityHold:    cfg.SecurityHold,
		// Only channels with a sender: an address on another is refused
		// where a message would go, never accepted and then dropped.
		Channels: slices.Sorted(maps.Keys(senders)),
	})
	if err := a.buildReview(ctx, keys); err != nil {
		a.Close()
		return nil, err
	}
	a.web, err = web.New(web.Deps{
		Accounts: a.svc, Reviews: a.reviews, Log: log,
		// The pages' cookies (CSRF tokens, sealed flows) under a key of
		// their own; after a key rotation open forms just start again.
		Key:    secretbox.DeriveKey(keys[0], "web-cookies"),
		Random: rand.Reader, Now: time.Now,
	}, web.Config{
		PublicURL: cfg.PublicURL, Product: cfg.Issuer, PasswordMinLength: cfg.PasswordMinLength,
		Channels: slices.Sorted(maps.Keys(senders)), Dev: a.dev != nil,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	a.handler = a.routes(middleware.NewClientIP(trusted))
	return a, nil
}

// buildReview wires the lost-authenticator review: its calendar, the
// evidence store and its service on the same database and keys.
func (a *app) buildReview(ctx context.Context, keys [][]byte) error {
	cfg := a.cfg
	loc, err := time.LoadLocation(cfg.BusinessTimezone)
	if err != nil {
		return fmt.Errorf("--business-timezone: %w", err)
	}
	var holidays []string
	if cfg.HolidaysFile != "" {
		if holidays, err = readHolidays(cfg.HolidaysFile); err != nil {
			return fmt.Errorf("--holidays: %w", err)
		}
	}
	cal, err := review.NewCalendar(loc, holidays...)
	if err != nil {
		return fmt.Errorf("--holidays: %w", err)
	}
	if a.evidence, err = openEvidence(ctx, a.db, cfg.DataDir, keys); err != nil {
		return err
	}
	publicURL := cfg.PublicURL
	if publicURL == "" {
		publicURL = "http://" + cfg.Addr
	}
	a.reviews = review.New(review.Deps{
		Store: a.db.Review(), Accounts: a.svc, Evidence: a.evidence, Calendar: cal,
		TokenKeys: tokenKeys(keys), Random: rand.Reader, Now: time.Now, Log: a.log,
	}, review.Config{
		PublicURL: publicURL, UnbindDelay: cfg.UnbindDelay, FourEyes: cfg.FourEyes, Retention: cfg.EvidenceRetention,
	})
	a.metrics.ReviewQueue(func(ctx context.Context) (review.QueueStats, error) { return a.reviews.QueueStats(ctx) })
	return nil
}

// senders chooses a sender per channel. Without real delivery for a
// channel, or in dev mode, messages go to the development outbox (the log
// and /dev/outbox).
func (a *app) senders() (map[account.Channel]outbox.Sender, error) {
	cfg := a.cfg
	if !cfg.emailConfigured() && !cfg.smsConfigured() {
		cfg.Dev = true
	}
	senders := map[account.Channel]outbox.Sender{}
	if cfg.Dev {
		a.dev = outbox.NewDev(a.log, 200)
		a.log.Warn("DEVELOPMENT MODE: codes are written to this log and shown on /dev/outbox; never run this in production",
			"email_delivery", cfg.emailConfigured(), "sms_delivery", cfg.smsConfigured())
	}
	withDev := func(s outbox.Sender) outbox.Sender {
		switch {
		case s == nil && a.dev == nil:
			return nil
		case s == nil:
			return a.dev
		case a.dev == nil:
			return s
		}
		return outbox.Tee(s, a.dev)
	}
	var mail outbox.Sender
	if cfg.emailConfigured() {
		s, err := email.NewSMTP(cfg.SMTPURL, cfg.MailFrom, a.log)
		if err != nil {
			return nil, fmt.Errorf("--smtp-url: %w", err)
		}
		mail = s
	}
	var text outbox.Sender
	client := &http.Client{Timeout: 20 * time.Second}
	switch {
	case cfg.TwilioSID != "":
		if cfg.TwilioToken == "" || cfg.TwilioFrom == "" {
			return nil, errors.New("--twilio-account-sid needs --twilio-auth-token and --twilio-from")
		}
		text = sms.NewTwilio(cfg.TwilioSID, cfg.TwilioToken, cfg.TwilioFrom, client)
	case cfg.SMSWebhookURL != "":
		text = sms.NewWebhook(cfg.SMSWebhookURL, client)
	}
	if s := withDev(mail); s != nil {
		senders[account.ChannelEmail] = s
	}
	if s := withDev(text); s != nil {
		senders[account.ChannelPhone] = s
	}
	return senders, nil
}

// routes builds the HTTP handler: the API, the service endpoints and, in
// dev mode, the development outbox, behind the middleware chain.
func (a *app) routes(clientIP *middleware.ClientIP) http.Handler {
	mux := http.NewServeMux()
	api.New(a.svc, a.reviews, a.log).Register(mux)
	a.web.Register(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /readyz", readyHandler(a.log, a.dependencies(), 2*time.Second))
	// GET /metrics is served on --metrics-addr only, by metricsHandler.
	if a.dev != nil {
		mux.Handle("GET /dev/outbox", a.dev.Handler())
		mux.Handle("GET /dev/outbox.css", a.dev.StyleHandler())
	}
	var h http.Handler = mux
	h = middleware.SecurityHeaders(h)
	if strings.HasPrefix(a.cfg.PublicURL, "https://") {
		h = middleware.StrictTransport(h)
	}
	h = middleware.Recover(a.log, renderPanic(a.web), h)
	h = middleware.AccessLog(a.log, h)
	h = a.metrics.Middleware(h)
	h = clientIP.Handler(h)
	h = middleware.RequestID(h)
	h = middleware.NoStore(h) // outermost: even net/http's own 404 and 405 carry it
	return h
}

// renderPanic answers a panic in the shape of the delivery that was
// serving: the API's JSON under /api/v1, the HTML error page (in the
// user's language) everywhere else.
func renderPanic(pages *web.Server) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == api.Prefix || strings.HasPrefix(r.URL.Path, api.Prefix+"/") {
			api.RenderInternalError(w, r)
			return
		}
		pages.RenderInternalError(w, r)
	}
}

// metricsHandler serves the --metrics-addr listener: GET /metrics, and
// Go's profiles under /debug/pprof/ (a CPU profile is how a gap to a
// performance goal is explained; take it with ?seconds=10, under the
// listener's 30 s write timeout). /debug/pprof/cmdline is left out: the
// command line may hold a password (--smtp-url, --db).
func (a *app) metricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", a.metrics.Handler())
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("GET /debug/pprof/cmdline", http.NotFound)
	return middleware.NoStore(middleware.SecurityHeaders(mux))
}

// dependency is one thing /readyz checks: a name that is safe to show
// (never a URL, which may hold a password) and a ping.
type dependency struct {
	name string
	ping func(context.Context) error
}

// dependencies lists what the server needs to answer: the database and,
// when configured, Redis (without it no rate limit can be checked, and
// requests are refused).
func (a *app) dependencies() []dependency {
	deps := []dependency{{"database", a.db.Ping}}
	if a.redis != nil {
		deps = append(deps, dependency{"redis", func(ctx context.Context) error { return a.redis.Ping(ctx).Err() }})
	}
	return deps
}

// readyHandler answers 200 when every dependency answers its ping within
// timeout, else 503 with the names of those that did not. The pings run
// at once, and the answer never waits longer than timeout, even for a ping
// that ignores its context.
func readyHandler(log *slog.Logger, deps []dependency, timeout time.Duration) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		type result struct {
			i   int
			err error
		}
		results := make(chan result, len(deps)) // buffered: a late ping never blocks
		for i, d := range deps {
			go func() { results <- result{i, d.ping(ctx)} }()
		}
		errs := make([]error, len(deps))
		for i := range errs {
			errs[i] = context.DeadlineExceeded // until it answers
		}
	wait:
		for range deps {
			select {
			case res := <-results:
				errs[res.i] = res.err
			case <-ctx.Done():
				break wait
			}
		}
		var down []string
		for i, err := range errs {
			if err != nil {
				down = append(down, deps[i].name)
				log.WarnContext(r.Context(), "not ready", "dependency", deps[i].name, "err", err)
			}
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if len(down) > 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintf(w, "%s unreachable\n", strings.Join(down, ", "))
			return
		}
		fmt.Fprintln(w, "ready")
	})
}

// Close releases the database and Redis connections.
func (a *app) Close() {
	if a.db != nil {
		a.db.Close()
	}
	if a.redis != nil {
		a.redis.Close()
	}
}

// serve runs the server until ctx is cancelled (SIGINT or SIGTERM), then
// drains requests and stops the delivery worker after its current message.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, fs, err := parseFlags("serve", args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, "Runs the server; migrates the database first.")
		return nil
	}
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.resolve()
	log, logOut, err := newLogger(stderr, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer logOut.Close()
	a, err := build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	srv := newServer(a.handler, log)
	servers := []*http.Server{srv}
	listeners := []net.Listener{ln}
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("--metrics-addr: %w", err)
		}
		servers = append(servers, newServer(a.metricsHandler(), log))
		listeners = append(listeners, mln)
	}

	workerCtx, stopWorker := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := a.worker.Run(workerCtx); err != nil {
			log.Error("delivery worker stopped", "err", err)
		}
	})
	wg.Go(func() { a.janitor(workerCtx) })
	wg.Go(func() { a.flushTouches(workerCtx) })
	if a.listener != nil {
		wg.Go(func() { a.listener.Run(workerCtx) })
	}

	serveErr := make(chan error, len(servers))
	for i, s := range servers {
		go func() { serveErr <- s.Serve(listeners[i]) }()
	}
	log.Info("watchword listening", "addr", ln.Addr().String(), "version", versionString(),
		"db", dbKind(cfg.DB), "redis", cfg.RedisURL != "", "dev", a.dev != nil)
	if len(listeners) > 1 {
		log.Info("metrics listening", "addr", listeners[1].Addr().String(), "path", "/metrics")
	}

	// Either listener failing stops both: a server without its metrics
	// must not run on unnoticed.
	select {
	case err = <-serveErr:
	case <-ctx.Done():
		log.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	var shut sync.WaitGroup
	shutErrs := make([]error, len(servers))
	for i, s := range servers {
		shut.Go(func() { shutErrs[i] = s.Shutdown(sctx) })
	}
	shut.Wait()
	cancel()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	err = errors.Join(append([]error{err}, shutErrs...)...)
	stopWorker()
	wg.Wait()
	log.Info("stopped")
	return err
}

// newServer returns an http.Server for h with timeouts fit for a JSON API:
// a slow or stalled client cannot hold a connection for long.
func newServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// flushTouches writes the sessions' recorded activity every
// account.FlushTouchesEvery, and once more when ctx ends (after the
// servers have stopped, so no request's activity is lost).
func (a *app) flushTouches(ctx context.Context) {
	t := time.NewTicker(account.FlushTouchesEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := a.svc.FlushTouches(fctx); err != nil {
				a.log.Warn("writing session activity failed", "err", err)
			}
			return
		case <-t.C:
			if err := a.svc.FlushTouches(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("writing session activity failed", "err", err)
			}
		}
	}
}

// janitor deletes expired sessions, flows and codes every few minutes,
// and runs the review's background work (approvals whose delay is over,
// evidence past its retention) every half minute. Every step is safe with
// several instances running it.
func (a *app) janitor(ctx context.Context) {
	cleanup := time.NewTicker(5 * time.Minute)
	defer cleanup.Stop()
	tick := time.NewTicker(a.cfg.reviewTick())
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-cleanup.C:
			if err := a.svc.Cleanup(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("cleanup failed", "err", err)
			}
			if n, err := a.evidence.removeIncomplete(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("removing incomplete uploads failed", "err", err)
			} else if n > 0 {
				a.log.Info("removed incomplete uploads", "count", n)
			}
		case <-tick.C:
			if err := a.reviews.Tick(ctx); err != nil && ctx.Err() == nil {
				a.log.Warn("review background work failed", "err", err)
			}
		}
	}
}

func dbKind(dsn string) string {
	if strings.HasPrefix(dsn, "sqlite:") {
		return "sqlite"
	}
	return "postgres"
}

// migrate applies pending migrations and exits.
func migrate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cfg, fs, err := parseFlags("migrate", args, getenv)
	if errors.Is(err, flag.ErrHelp) {
		printHelp(stdout, fs, "Applies pending migrations and exits. It reads the same settings as serve.")
		return nil
	}
	if err != nil {
		return err
	}
	if err := cfg.validate(); err != nil {
		return err
	}
	cfg.resolve()
	db, _, err := openMigrated(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	fmt.Fprintln(stderr, "migrations applied")
	return nil
}

// limiterAdapter lets the domain use a ratelimit.Limiter without
// importing the package (and Redis with it).
type limiterAdapter struct{ l ratelimit.Limiter }

func (a limiterAdapter) Take(ctx context.Context, key string, limit int, window time.Duration) (bool, time.Duration, error) {
	d, err := a.l.Take(ctx, key, limit, window)
	return d.Allowed, d.RetryAfter, err
}

func (a limiterAdapter) Undo(ctx context.Context, key string, window time.Duration) error {
	return a.l.Undo(ctx, key, window)
}

func (a limiterAdapter) Peek(ctx context.Context, key string, limit int) (bool, time.Duration, error) {
	d, err := a.l.Peek(ctx, key, limit)
	return d.Allowed, d.RetryAfter, err
}

func (a limiterAdapter) Strike(ctx context.Context, key string, idle time.Duration) (int, error) {
	return a.l.Strike(ctx, key, idle)
}

func (a limiterAdapter) Reset(ctx context.Context, key string) error { return a.l.Reset(ctx, key) }

// codeLoginLimit returns the default limits with n code logins per hour
// over all clients.
func codeLoginLimit(n int) account.Limits {
	l := account.DefaultConfig().Limits
	l.CodeLoginsGlobal.N = n
	return l
}
