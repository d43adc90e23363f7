package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

const (
	outboxPoll    = 20 * time.Millisecond
	outboxTimeout = 30 * time.Second
	// codeBudget is the login codes one user may ask for: the server sends
	// an address at most five codes an hour, and registration spent one.
	codeBudget = 4
	// codeSpacing keeps one user's login codes more than the server's 60 s
	// apart.
	codeSpacing = 61 * time.Second
)

// codeRE finds a code: the only standalone run of exactly six digits.
var codeRE = regexp.MustCompile(`(?:^|[^0-9])([0-9]{6})(?:[^0-9]|$)`)

// benchBase is the first address of 198.18.0.0/15 (RFC 2544), the range
// the simulated users' X-Forwarded-For addresses come from.
var benchBase = netip.MustParseAddr("198.18.0.0")

const benchSize = 1 << 17

// apiResult is the outcome of one API call that got an answer.
type apiResult struct {
	status     int
	code       string // error code of a non-2xx JSON error body
	message    string
	retryAfter time.Duration
}

// client calls the API.
type client struct {
	base string
	hc   *http.Client
}

func newClient(base string, conns int, timeout time.Duration) *client {
	tr := &http.Transport{
		Proxy:               nil, // never send loopback traffic through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     90 * time.Second,
		ForceAttemptHTTP2:   false,
	}
	return &client{base: base, hc: &http.Client{Transport: tr, Timeout: timeout}}
}

func (c *client) close() { c.hc.CloseIdleConnections() }

// call sends one request; in, when not nil, is the JSON body, ip the
// X-Forwarded-For address and token the bearer token. A 2xx body is
// decoded into out when out is not nil. A non-2xx answer is not an error.
func (c *client) call(ctx context.Context, method, path string, in any, ip, token string, out any) (apiResult, error) {
	var res apiResult
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return res, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return res, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "watchword-load")
	if ip != "" {
		req.Header.Set("X-Forwarded-For", ip)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return res, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return res, err
	}
	res.status = resp.StatusCode
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		res.retryAfter = time.Duration(s) * time.Second
	}
	if res.status/100 == 2 {
		if out != nil {
			if err := json.Unmarshal(data, out); err != nil {
				return res, fmt.Errorf("decode answer of %s %s: %w", method, path, err)
			}
		}
		return res, nil
	}
	var e struct {
		Error struct {
			Code    string `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &e) == nil {
		res.code, res.message = e.Error.Code, e.Error.Message
	}
	return res, nil
}

// outcomeError is an unexpected outcome of a measured call.
type outcomeError struct {
	what string // "POST /api/v1/…"
	res  apiResult
	err  error
}

func (e *outcomeError) Error() string {
	if e.err != nil {
		return fmt.Sprintf("%s: %v", e.what, e.err)
	}
	s := fmt.Sprintf("%s: HTTP %d", e.what, e.res.status)
	if e.res.code != "" {
		s += " " + e.res.code
	}
	if e.res.message != "" {
		s += ": " + e.res.message
	}
	return s
}

func (e *outcomeError) Unwrap() error { return e.err }

// kind is the short description an error is counted under.
func (e *outcomeError) kind() string {
	if e.err == nil {
		if e.res.code != "" {
			return fmt.Sprintf("HTTP %d %s", e.res.status, e.res.code)
		}
		return fmt.Sprintf("HTTP %d", e.res.status)
	}
	var ne net.Error
	if errors.As(e.err, &ne) && ne.Timeout() {
		return "timeout"
	}
	var ue *url.Error
	if errors.As(e.err, &ue) {
		return "transport: " + ue.Err.Error()
	}
	return e.err.Error()
}

// message is a message of the development outbox.
type message struct {
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	Subject string    `json:"subject"`
	Text    string    `json:"text"`
	SentAt  time.Time `json:"sent_at"`
}

// outboxWatcher polls /dev/outbox for everyone waiting for a code, so the
// number of waiters does not multiply the polling load. It has its own
// connection, outside the measured pool.
type outboxWatcher struct {
	c     *client
	kick  chan struct{}
	polls atomic.Int64 // GET /dev/outbox requests made

	mu      sync.Mutex
	waiters map[*waiter]struct{}
}

type waiter struct {
	to    string
	since time.Time
	done  chan waitResult // buffered: dispatch never blocks
}

type waitResult struct {
	code string
	err  error
}

func newOutboxWatcher(c *client) *outboxWatcher {
	return &outboxWatcher{c: c, kick: make(chan struct{}, 1), waiters: map[*waiter]struct{}{}}
}

// loop polls while someone waits, until ctx ends.
func (o *outboxWatcher) loop(ctx context.Context) {
	for {
		o.mu.Lock()
		n := len(o.waiters)
		o.mu.Unlock()
		if n == 0 {
			select {
			case <-o.kick:
				continue
			case <-ctx.Done():
				return
			}
		}
		var out struct {
			Messages []message `json:"messages"`
		}
		o.polls.Add(1)
		res, err := o.c.call(ctx, http.MethodGet, "/dev/outbox?format=json", nil, "", "", &out)
		if err == nil && res.status != http.StatusOK {
			err = fmt.Errorf("GET /dev/outbox answered HTTP %d", res.status)
			if res.status == http.StatusNotFound {
				err = errors.New("GET /dev/outbox answered 404: the server must run in development mode " +
					"(no --smtp-url and no SMS delivery configured, or --dev) for the tool to read codes")
			}
		}
		o.dispatch(out.Messages, err)
		t := time.NewTimer(outboxPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// dispatch hands each waiter the newest code sent to its address since it
// started waiting, or err to everyone.
func (o *outboxWatcher) dispatch(msgs []message, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for w := range o.waiters {
		if err != nil {
			w.done <- waitResult{err: err}
			delete(o.waiters, w)
			continue
		}
		for _, m := range msgs { // newest first
			if !strings.EqualFold(m.To, w.to) || m.SentAt.Before(w.since) {
				continue
			}
			if sub := codeRE.FindStringSubmatch(m.Text); sub != nil {
				w.done <- waitResult{code: sub[1]}
				delete(o.waiters, w)
				break
			}
		}
	}
}

// wait returns the code of the first message to address sent at or after
// since.
func (o *outboxWatcher) wait(ctx context.Context, address string, since time.Time) (string, error) {
	w := &waiter{to: address, since: since, done: make(chan waitResult, 1)}
	o.mu.Lock()
	o.waiters[w] = struct{}{}
	o.mu.Unlock()
	select {
	case o.kick <- struct{}{}:
	default:
	}
	t := time.NewTimer(outboxTimeout)
	defer t.Stop()
	select {
	case r := <-w.done:
		return r.code, r.err
	case <-t.C:
		o.forget(w)
		return "", fmt.Errorf("no code for %s on /dev/outbox within %s", address, outboxTimeout)
	case <-ctx.Done():
		o.forget(w)
		return "", ctx.Err()
	}
}

func (o *outboxWatcher) forget(w *waiter) {
	o.mu.Lock()
	delete(o.waiters, w)
	o.mu.Unlock()
}

// user is one simulated account.
type user struct {
	email    string
	password string
	ip       string // X-Forwarded-For
	token    string // session from registration

	// code scenario schedule, guarded by codeSched.mu
	codesLeft int
	nextCode  time.Time
}

// load is one run of the tool.
type load struct {
	cfg      *config
	progress io.Writer
	runID    string
	c        *client // measured pool
	ob       *outboxWatcher
	obStop   context.CancelFunc
	obDone   chan struct{}
	users    []*user
	ipOffset int          // where the run's addresses start in 198.18.0.0/15
	nextUser atomic.Int64 // index of the next user a sign-up run creates
	replays  atomic.Int64 // completed code logins, to pick the ones replayed
}

func newLoad(cfg *config, progress io.Writer) *load {
	l := &load{
		cfg:      cfg,
		progress: progress,
		runID:    strings.ToLower(rand.Text()[:6]),
		c:        newClient(cfg.base, cfg.concurrency, cfg.timeout),
		obDone:   make(chan struct{}),
	}
	l.ob = newOutboxWatcher(newClient(cfg.base, 1, cfg.timeout))
	ctx, cancel := context.WithCancel(context.Background())
	l.obStop = cancel
	go func() {
		defer close(l.obDone)
		l.ob.loop(ctx)
	}()
	return l
}

func (l *load) close() {
	l.obStop()
	<-l.obDone
	l.c.close()
	l.ob.c.close()
}

// checkServer makes sure a server answers at the URL.
func (l *load) checkServer(ctx context.Context) error {
	res, err := l.c.call(ctx, http.MethodGet, "/healthz", nil, "", "", nil)
	if err != nil {
		return fmt.Errorf("no watchword server at %s (start one with: watchword serve --trusted-proxies %s): %w",
			l.cfg.base, l.cfg.host, err)
	}
	if res.status != http.StatusOK {
		return fmt.Errorf("GET %s/healthz answered HTTP %d; is this a watchword server?", l.cfg.base, res.status)
	}
	return nil
}

// trustHint explains what to do when the server does not believe the
// tool's X-Forwarded-For.
func (l *load) trustHint() string {
	return fmt.Sprintf("the server does not take the simulated users' X-Forwarded-For addresses, so all of them share "+
		"the tool's address and its per-IP limits (20 sign-ups per hour, failed logins); "+
		"restart it with --trusted-proxies %s, e.g.: watchword serve --addr %s --trusted-proxies %s",
		l.cfg.host, strings.TrimPrefix(strings.TrimPrefix(l.cfg.base, "http://"), "https://"), l.cfg.host)
}

// worker is one goroutine's view of the run.
type worker struct {
	l    *load
	ctx  context.Context
	rec  *recorder
	stop <-chan struct{}
}

// measure runs one API call and records it under op: want is the expected
// status, 429 is counted apart, anything else is an error. A call cut short
// because ctx ended is not recorded. The error is nil for the expected
// status only.
func (w *worker) measure(op string, want int, method, path string, in any, u *user, token string, out any) (apiResult, error) {
	start := time.Now()
	res, err := w.l.c.call(w.ctx, method, path, in, u.ip, token, out)
	d := time.Since(start)
	if err == nil && res.status == want {
		w.rec.ok(op, d)
		return res, nil
	}
	oe := &outcomeError{what: method + " " + path, res: res, err: err}
	switch {
	case err != nil && w.ctx.Err() != nil:
	case err == nil && res.status == http.StatusTooManyRequests:
		w.rec.limit(op)
	default:
		w.rec.fail(op, oe.kind())
	}
	return res, oe
}

// waitCode waits for the code sent to u since since, recorded under op.
func (w *worker) waitCode(op string, u *user, since time.Time) (string, error) {
	start := time.Now()
	code, err := w.l.ob.wait(w.ctx, u.email, since)
	switch {
	case err == nil:
		w.rec.ok(op, time.Since(start))
	case w.ctx.Err() == nil:
		w.rec.fail(op, err.Error())
	}
	return code, err
}

// makeUsers builds the run's users: their addresses, passphrases and
// X-Forwarded-For addresses, consecutive from a random point of
// 198.18.0.0/15 so that repeated runs do not share per-IP limits.
func (l *load) makeUsers() {
	n := l.setupUsers()
	l.ipOffset = mrand.IntN(benchSize)
	l.users = make([]*user, n)
	for i := range l.users {
		l.users[i] = l.newUser(i)
	}
	l.nextUser.Store(int64(n))
}

// setupUsers is how many users the setup phase registers: a sign-up run
// registers its own, and needs only the first as a check of the server.
func (l *load) setupUsers() int {
	if l.cfg.scenario == scenarioSignup {
		return 1
	}
	return l.cfg.users
}

// newUser returns the run's i-th user, with the i-th address after the
// run's random offset in 198.18.0.0/15, wrapping around.
func (l *load) newUser(i int) *user {
	b := benchBase.As4()
	base := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	a := base + uint32((l.ipOffset+i)%benchSize)
	return &user{
		email:     fmt.Sprintf("load-%s-%d@example.com", l.runID, i),
		password:  "load test passphrase " + strings.ToLower(rand.Text()[:12]),
		ip:        netip.AddrFrom4([4]byte{byte(a >> 24), byte(a >> 16), byte(a >> 8), byte(a)}).String(),
		codesLeft: codeBudget,
	}
}

// register signs u up through the API, recording its steps as op,
// op.outbox and op.complete.
func (w *worker) register(op string, u *user) error {
	since := time.Now()
	var start struct {
		FlowID string `json:"flow_id"`
	}
	res, err := w.measure(op, http.StatusAccepted, http.MethodPost, "/api/v1/registrations",
		map[string]string{"email": u.email}, u, "", &start)
	if res.status == http.StatusTooManyRequests {
		return fmt.Errorf("sign-up of %s answered 429 rate_limited: %s", u.email, w.l.trustHint())
	}
	if err != nil {
		return err
	}
	code, err := w.waitCode(op+".outbox", u, since)
	if err != nil {
		return err
	}
	var done struct {
		UID   string `json:"uid"`
		Token string `json:"session_token"`
	}
	if _, err := w.measure(op+".complete", http.StatusCreated, http.MethodPost,
		"/api/v1/registrations/"+url.PathEscape(start.FlowID)+"/complete",
		map[string]string{"code": code, "password": u.password}, u, "", &done); err != nil {
		return err
	}
	if done.Token == "" {
		return fmt.Errorf("sign-up of %s gave no session_token", u.email)
	}
	u.token = done.Token
	return nil
}

// checkTrust asks the server which address it recorded for u's session;
// when /me/sessions is not there the check is skipped.
func (l *load) checkTrust(ctx context.Context, u *user) error {
	var list struct {
		Items []struct {
			IP      string `json:"ip"`
			Current bool   `json:"current"`
		} `json:"items"`
	}
	res, err := l.c.call(ctx, http.MethodGet, "/api/v1/me/sessions", nil, u.ip, u.token, &list)
	if err != nil || res.status != http.StatusOK {
		return nil
	}
	for _, it := range list.Items {
		if it.Current && it.IP != "" && it.IP != u.ip {
			return fmt.Errorf("the server recorded the first user's session from %s, not its X-Forwarded-For %s: %s",
				it.IP, u.ip, l.trustHint())
		}
	}
	return nil
}

// setup registers every user: the first alone, as a check of the server's
// setup, then the rest with --concurrency workers.
func (l *load) setup(ctx context.Context) (*recorder, time.Duration, error) {
	l.makeUsers()
	start := time.Now()
	total := newRecorder()
	first := &worker{l: l, ctx: ctx, rec: newRecorder()}
	if err := first.register("register", l.users[0]); err != nil {
		return nil, 0, fmt.Errorf("setup: %w", err)
	}
	total.merge(first.rec)
	if err := l.checkTrust(ctx, l.users[0]); err != nil {
		return nil, 0, fmt.Errorf("setup: %w", err)
	}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	next := make(chan *user)
	var wg sync.WaitGroup
	recs := make([]*recorder, min(l.cfg.concurrency, len(l.users)-1))
	for i := range recs {
		w := &worker{l: l, ctx: ctx, rec: newRecorder()}
		recs[i] = w.rec
		wg.Go(func() {
			for u := range next {
				if err := w.register("register", u); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, u := range l.users[1:] {
		select {
		case next <- u:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return nil, 0, fmt.Errorf("setup: %w", err)
	}
	for _, r := range recs {
		total.merge(r)
	}
	return total, time.Since(start), nil
}

// codeSched hands out users for the code scenario within the server's
// sending limits: round-robin, one code per user per codeSpacing,
// codeBudget in all.
type codeSched struct {
	mu    sync.Mutex
	users []*user
	next  int
}

// take returns a user whose next code may be asked for now; otherwise how
// long until one may, or done when every budget is spent.
func (s *codeSched) take(now time.Time) (u *user, wait time.Duration, done bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var soonest time.Time
	for i := range s.users {
		c := s.users[(s.next+i)%len(s.users)]
		if c.codesLeft <= 0 {
			continue
		}
		if !c.nextCode.After(now) {
			c.codesLeft--
			c.nextCode = now.Add(codeSpacing)
			s.next = (s.next + i + 1) % len(s.users)
			return c, 0, false
		}
		if soonest.IsZero() || c.nextCode.Before(soonest) {
			soonest = c.nextCode
		}
	}
	if soonest.IsZero() {
		return nil, 0, true
	}
	return nil, soonest.Sub(now), false
}

// postpone moves u's next code to after the server's Retry-After.
func (s *codeSched) postpone(u *user, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t := time.Now().Add(d); t.After(u.nextCode) {
		u.nextCode = t
	}
}

// runScenario runs the chosen scenario with a fixed pool of workers until
// the duration has passed, the request cap is reached, ctx ends or (code)
// every user's budget is spent.
func (l *load) runScenario(ctx context.Context) (*recorder, time.Duration, []string) {
	stop := make(chan struct{})
	timer := time.AfterFunc(l.cfg.duration, func() { close(stop) })
	defer timer.Stop()
	var issued atomic.Int64
	claim := func() bool {
		return l.cfg.requests == 0 || issued.Add(1) <= int64(l.cfg.requests)
	}
	sched := &codeSched{users: l.users}
	var exhausted atomic.Bool

	start := time.Now()
	var wg sync.WaitGroup
	recs := make([]*recorder, l.cfg.concurrency)
	for i := range recs {
		w := &worker{l: l, ctx: ctx, rec: newRecorder(), stop: stop}
		recs[i] = w.rec
		scenario := l.cfg.scenario
		if scenario == scenarioAll {
			scenario = allRoles[i%len(allRoles)]
		}
		wg.Go(func() {
			for !w.stopped() {
				var more bool
				switch scenario {
				case scenarioCode:
					more = w.codeLogin(sched, claim, &exhausted)
				case scenarioSignup:
					more = claim() && w.signup()
				default:
					more = claim() && w.iterate(scenario)
				}
				if !more {
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	total := newRecorder()
	for _, r := range recs {
		total.merge(r)
	}
	var notes []string
	if l.cfg.scenario == scenarioCode || l.cfg.scenario == scenarioAll {
		notes = append(notes, fmt.Sprintf("code: the server sends an address at most one login code per 60 s and five codes per hour "+
			"(registration spent one), so %d users allow at most %d code logins per minute and %d in all",
			len(l.users), len(l.users), codeBudget*len(l.users)))
		if exhausted.Load() {
			notes = append(notes, "code: every user's code budget was spent before the duration ended")
		}
	}
	if l.cfg.requests > 0 && issued.Load() >= int64(l.cfg.requests) {
		notes = append(notes, fmt.Sprintf("stopped at the --requests cap of %d iterations", l.cfg.requests))
	}
	if ctx.Err() != nil {
		notes = append(notes, "interrupted before the duration ended")
	}
	return total, elapsed, notes
}

func (w *worker) stopped() bool {
	select {
	case <-w.stop:
		return true
	case <-w.ctx.Done():
		return true
	default:
		return false
	}
}

func (w *worker) randomUser() *user { return w.l.users[mrand.IntN(len(w.l.users))] }

// allRoles are the scenarios the workers of the all scenario take turns
// at: worker i runs allRoles[i % 4].
var allRoles = []string{scenarioSignup, scenarioCode, scenarioLogin, scenarioMe}

// iterate runs one iteration of the me, login or mixed scenario.
func (w *worker) iterate(scenario string) bool {
	switch scenario {
	case scenarioMe, scenarioBare:
		w.me(w.randomUser())
	case scenarioLogin:
		w.login(w.randomUser(), false)
	case scenarioMixed:
		switch r := mrand.Float64(); {
		case r < 0.80:
			w.me(w.randomUser())
		case r < 0.95:
			w.login(w.randomUser(), false)
		default:
			w.login(w.randomUser(), true)
		}
	}
	return true
}

// signup registers a new user with an address of its own, so that the
// per-IP sign-up limit (20 per hour) never applies. Its failures are
// recorded; the run goes on.
func (w *worker) signup() bool {
	u := w.l.newUser(int(w.l.nextUser.Add(1) - 1))
	w.register("signup", u)
	return true
}

func (w *worker) me(u *user) {
	var out struct {
		UID string `json:"uid"`
	}
	w.measure("me", http.StatusOK, http.MethodGet, "/api/v1/me", nil, u, u.token, &out)
}

// login signs u in with its password, or with a wrong one (login.fail,
// where 401 invalid_credentials is the expected answer).
func (w *worker) login(u *user, wrong bool) {
	op, pw, want := "login", u.password, http.StatusOK
	if wrong {
		op, pw, want = "login.fail", u.password+" wrong", http.StatusUnauthorized
	}
	var out struct {
		Token string `json:"session_token"`
	}
	w.measure(op, want, http.MethodPost, "/api/v1/login/password",
		map[string]string{"identifier": u.email, "password": pw}, u, "", &out)
}

// codeLogin runs one code login, or waits for a user to become available.
// It reports false when the worker should end.
func (w *worker) codeLogin(sched *codeSched, claim func() bool, exhausted *atomic.Bool) bool {
	u, wait, done := sched.take(time.Now())
	if done {
		exhausted.Store(true)
		return false
	}
	if u == nil {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-w.stop:
			return false
		case <-w.ctx.Done():
			return false
		}
	}
	if !claim() {
		return false
	}
	since := time.Now()
	var start struct {
		FlowID string `json:"flow_id"`
	}
	res, err := w.measure("code.request", http.StatusAccepted, http.MethodPost, "/api/v1/login/code",
		map[string]string{"identifier": u.email}, u, "", &start)
	if res.status == http.StatusTooManyRequests {
		sched.postpone(u, max(res.retryAfter, time.Second))
		return true
	}
	if err != nil {
		return true
	}
	code, err := w.waitCode("code.outbox", u, since)
	if err != nil {
		return true
	}
	var out struct {
		Token string `json:"session_token"`
	}
	path := "/api/v1/login/code/" + url.PathEscape(start.FlowID)
	if _, err := w.measure("code.verify", http.StatusOK, http.MethodPost, path, map[string]string{"code": code}, u, "", &out); err != nil {
		return true
	}
	if w.l.replays.Add(1)%replayEvery == 1 {
		w.replay(path, code, u)
	}
	return true
}

// replayEvery: one code login in this many sends its spent code again.
const replayEvery = 10

// replay sends a spent code to its flow again: any answer but a refusal
// (4xx other than 429) is an error, and a 2xx means a code was accepted
// twice.
func (w *worker) replay(path, code string, u *user) {
	start := time.Now()
	res, err := w.l.c.call(w.ctx, http.MethodPost, path, map[string]string{"code": code}, u.ip, "", nil)
	d := time.Since(start)
	switch {
	case err != nil && w.ctx.Err() != nil:
	case err != nil:
		w.rec.fail("code.replay", (&outcomeError{err: err}).kind())
	case res.status == http.StatusTooManyRequests:
		w.rec.limit("code.replay")
	case res.status/100 == 4:
		w.rec.ok("code.replay", d)
	case res.status/100 == 2:
		w.rec.fail("code.replay", fmt.Sprintf("HTTP %d: spent code accepted twice", res.status))
	default:
		w.rec.fail("code.replay", (&outcomeError{res: res}).kind())
	}
}
