package review_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/secretbox"
	"github.com/watchword/watchword/internal/sqlstore"
	"github.com/watchword/watchword/internal/storetest"
	"github.com/watchword/watchword/internal/totp"
)

// clock is a fake time source moved by hand.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// memEvidence is an honest in-memory blob store: it keeps what it is
// given and refuses nothing. Type and size checks are package evidence's
// and are tested there and end to end.
type memEvidence struct {
	mu    sync.Mutex
	blobs map[string][]byte
	n     int
}

func (m *memEvidence) Ingest(ctx context.Context, kind review.Kind, r io.Reader) (*review.Stored, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n++
	id := fmt.Sprintf("blob%04d", m.n)
	m.blobs[id] = b
	st := &review.Stored{BlobID: id, ContentType: "video/mp4", Size: int64(len(b))}
	if kind == review.KindImage {
		m.n++
		view := fmt.Sprintf("blob%04d", m.n)
		m.blobs[view] = append([]byte("view of "), b...)
		st.ViewBlobID, st.ContentType = view, "image/jpeg"
	}
	return st, nil
}

func (m *memEvidence) Open(ctx context.Context, id string) (io.ReadCloser, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.blobs[id]
	if !ok {
		return nil, errors.New("no such blob")
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (m *memEvidence) Delete(ctx context.Context, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.blobs, id)
	return nil
}

func (m *memEvidence) count() int { m.mu.Lock(); defer m.mu.Unlock(); return len(m.blobs) }

type env struct {
	t     *testing.T
	acc   *account.Service
	rev   *review.Service
	db    *sqlstore.DB
	clock *clock
	ev    *memEvidence
	cfg   review.Config
	users int
}

var databases = []struct {
	name string
	dsn  func(t *testing.T) string
}{
	{"sqlite", func(t *testing.T) string { return "sqlite:" + t.TempDir() + "/w.db" }},
	{"postgres", func(t *testing.T) string { return storetest.OpenPostgres(t) }},
}

// onBoth runs test on SQLite and PostgreSQL.
func onBoth(t *testing.T, cfg review.Config, test func(t *testing.T, e *env)) {
	for _, db := range databases {
		t.Run(db.name, func(t *testing.T) { test(t, newEnv(t, db.dsn(t), cfg)) })
	}
}

func newEnv(t *testing.T, dsn string, cfg review.Config) *env {
	t.Helper()
	box, err := secretbox.New(secretbox.Key{ID: 1, Secret: bytes.Repeat([]byte{7}, 32)})
	if err != nil {
		t.Fatal(err)
	}
	db, err := sqlstore.Open(context.Background(), dsn, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := &clock{now: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)} // a Tuesday
	keys := [][]byte{bytes.Repeat([]byte{9}, 32)}
	log := slog.New(slog.DiscardHandler)
	acc := account.New(account.Deps{
		Store: db, Limiter: limiter{ratelimit.NewMemory(c.Now)}, Passwords: password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1}),
		Policy: password.DefaultPolicy, TokenKeys: keys, Random: rand.Reader, Now: c.Now, Log: log,
	}, account.Config{})
	ev := &memEvidence{blobs: map[string][]byte{}}
	cal, _ := review.NewCalendar(time.UTC, "2026-11-26") // a Thursday holiday
	rev := review.New(review.Deps{
		Store: db.Review(), Accounts: acc, Evidence: ev, Calendar: cal, TokenKeys: keys, Random: rand.Reader, Now: c.Now, Log: log,
	}, cfg)
	return &env{t: t, acc: acc, rev: rev, db: db, clock: c, ev: ev, cfg: cfg}
}

type limiter struct{ l ratelimit.Limiter }

func (a limiter) Take(ctx context.Context, key string, n int, w time.Duration) (bool, time.Duration, error) {
	d, err := a.l.Take(ctx, key, n, w)
	return d.Allowed, d.RetryAfter, err
}
func (a limiter) Undo(ctx context.Context, key string, w time.Duration) error {
	return a.l.Undo(ctx, key, w)
}

func (a limiter) Peek(ctx context.Context, key string, n int) (bool, time.Duration, error) {
	d, err := a.l.Peek(ctx, key, n)
	return d.Allowed, d.RetryAfter, err
}

func (a limiter) Strike(ctx context.Context, key string, idle time.Duration) (int, error) {
	return a.l.Strike(ctx, key, idle)
}

func (a limiter) Reset(ctx context.Context, key string) error { return a.l.Reset(ctx, key) }

const pw = "correct horse battery staple"

var secret = bytes.Repeat([]byte{42}, 20)

var hasher = password.NewHasher(password.Params{Memory: 64, Time: 1, Threads: 1})

// user creates an account with a verified email, a password and an
// authenticator, and returns its uid.
func (e *env) user(email string, roles ...string) string {
	e.t.Helper()
	ctx := context.Background()
	h, err := hasher.Hash(pw)
	if err != nil {
		e.t.Fatal(err)
	}
	e.users++
	uid := fmt.Sprintf("%010d", 1_000_000_000+e.users)
	u := &account.User{UID: uid, Email: email, EmailKey: email, EmailVerified: true, PasswordHash: h, CreatedAt: e.clock.Now(), Roles: roles}
	if err := e.db.CreateUser(ctx, u); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.PutPendingTOTP(ctx, &account.TOTPBinding{UID: uid, Secret: secret, CreatedAt: e.clock.Now()}); err != nil {
		e.t.Fatal(err)
	}
	if err := e.db.ActivateTOTP(ctx, uid, 0, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
	return uid
}

// mfaFlow logs email in with the password: the flow waits for the authenticator.
func (e *env) mfaFlow(email string) string {
	e.t.Helper()
	res, err := e.acc.LoginPassword(context.Background(), account.Client{IP: "192.0.2.1"}, email, pw)
	if err != nil || res.MFAFlowID == "" {
		e.t.Fatalf("login of %s: %+v, %v", email, res, err)
	}
	return res.MFAFlowID
}

// session logs email in with password and authenticator, half a minute
// later than the last login so that its code is of a step not yet spent.
func (e *env) session(email string) *account.Session {
	e.t.Helper()
	e.clock.Advance(30 * time.Second)
	tok, err := e.acc.CompleteTOTPLogin(context.Background(), account.Client{IP: "192.0.2.1"}, e.mfaFlow(email),
		totp.Code(secret, totp.Step(e.clock.Now())))
	if err != nil {
		e.t.Fatalf("totp login of %s: %v", email, err)
	}
	sess, err := e.acc.Authenticate(context.Background(), tok)
	if err != nil {
		e.t.Fatal(err)
	}
	return sess
}

func (e *env) reviewer(email string) *review.Reviewer {
	e.t.Helper()
	e.user(email, account.RoleReviewer)
	rv, err := e.rev.Reviewer(context.Background(), e.session(email))
	if err != nil {
		e.t.Fatalf("reviewer %s: %v", email, err)
	}
	return rv
}

// file files an unbind request for email's account (uid) with ID number.
func (e *env) file(email, uid, idNumber string) *review.Filed {
	e.t.Helper()
	ctx := context.Background()
	c := account.Client{IP: "192.0.2.1"}
	flow := e.mfaFlow(email)
	if _, err := e.rev.Challenge(ctx, c, flow); err != nil {
		e.t.Fatal(err)
	}
	d, err := e.rev.BeginUnbind(ctx, c, review.UnbindForm{FlowID: flow, UID: uid, IDNumber: idNumber})
	if err != nil {
		e.t.Fatalf("begin unbind: %v", err)
	}
	if err := d.Add(ctx, review.RolePhoto, strings.NewReader("photo bytes")); err != nil {
		e.t.Fatal(err)
	}
	if err := d.Add(ctx, review.RoleVideo, strings.NewReader("video bytes")); err != nil {
		e.t.Fatal(err)
	}
	f, err := d.Submit(ctx)
	if err != nil {
		e.t.Fatalf("submit unbind: %v", err)
	}
	return f
}

// verify submits and approves an identity verification for email.
func (e *env) verify(email, number string, rv *review.Reviewer, uid string) {
	e.t.Helper()
	ctx := context.Background()
	d, err := e.rev.BeginIdentityVerification(ctx, account.Client{IP: "192.0.2.1"}, e.session(email),
		review.IdentityForm{FullName: "Ada Lovelace", DocumentType: "passport", DocumentNumber: number})
	if err != nil {
		e.t.Fatal(err)
	}
	for _, role := range []review.Role{review.RoleDocumentFront, review.RoleDocumentBack, review.RoleSelfie} {
		if err := d.Add(ctx, role, strings.NewReader(string(role))); err != nil {
			e.t.Fatal(err)
		}
	}
	if err := d.Submit(ctx); err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.rev.ApproveIdentity(ctx, rv, account.Client{}, uid); err != nil {
		e.t.Fatal(err)
	}
}

func wantCode(t *testing.T, what string, err error, want account.Code) {
	t.Helper()
	if got := account.ErrorCode(err); err == nil || got != want {
		t.Fatalf("%s: got %v, want %s", what, err, want)
	}
}

func mustOK(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// hasTOTP reports whether uid still has an authenticator.
func (e *env) hasTOTP(uid string) bool {
	_, err := e.db.ActiveTOTP(context.Background(), uid)
	return err == nil
}

// TestUnbindApproved: an approved request removes the authenticator and
// its recovery codes, ends every session and sets the security hold; the
// case shows the ID number match, the files, the events and the trail.
func TestUnbindApproved(t *testing.T) {
	onBoth(t, review.Config{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		uid := e.user("ada@example.com")
		rv := e.reviewer("rita@example.com")
		e.verify("ada@example.com", "E 1234-567", rv, uid)
		old := e.session("ada@example.com")
		filed := e.file("ada@example.com", uid, "e1234567")
		// Filed on Tuesday; Thursday is a holiday: due on Monday at the same time.
		st, err := e.rev.UnbindStatus(ctx, filed.RequestID, filed.RequestToken)
		mustOK(t, "status", err)
		if want := st.SubmittedAt.AddDate(0, 0, 6); filed.State != review.StatePending || !filed.DueAt.Equal(want) {
			t.Fatalf("filed %s due %s, want pending and due %s", st.SubmittedAt, filed.DueAt, want)
		}
		cs, err := e.rev.UnbindCase(ctx, rv, filed.RequestID)
		mustOK(t, "case", err)
		if cs.IDNumberMatches == nil || !*cs.IDNumberMatches {
			t.Fatalf("id_number_matches = %v, want true (E 1234-567 is e1234567)", cs.IDNumberMatches)
		}
		if len(cs.Files) != 3 || cs.Request.Challenge == "" || len(cs.Events) == 0 {
			t.Fatalf("case: %d files, challenge %q, %d events", len(cs.Files), cs.Request.Challenge, len(cs.Events))
		}
		for _, role := range []review.Role{review.RolePhoto, review.RoleVideo, review.RoleSelfie} {
			_, rc, err := e.rev.OpenUnbindEvidence(ctx, rv, filed.RequestID, role)
			mustOK(t, "open "+string(role), err)
			rc.Close()
		}
		got, err := e.rev.ApproveUnbind(ctx, rv, account.Client{}, filed.RequestID, "video matches the selfie")
		mustOK(t, "approve", err)
		if got.State != review.StateApproved || got.AppliedAt == nil {
			t.Fatalf("after approval: %+v", got)
		}
		if e.hasTOTP(uid) {
			t.Fatal("the authenticator survived the approval")
		}
		if left, _ := e.db.ListSessions(ctx, uid); len(left) != 0 {
			t.Fatalf("%d sessions (%s among them?) survived the approval", len(left), old.ID)
		}
		u, _ := e.db.UserByUID(ctx, uid)
		if hold := e.acc.SecurityHeld(u); hold == nil || !hold.After(e.clock.Now().Add(23*time.Hour)) {
			t.Fatalf("security hold %v, want a day", hold)
		}
		// The password alone logs in now.
		res, err := e.acc.LoginPassword(ctx, account.Client{IP: "192.0.2.9"}, "ada@example.com", pw)
		if err != nil || res.SessionToken == "" {
			t.Fatalf("password login after the unbind: %+v, %v", res, err)
		}
		cs, _ = e.rev.UnbindCase(ctx, rv, filed.RequestID)
		var actions []string
		for _, a := range cs.Audit {
			actions = append(actions, a.Action)
		}
		if strings.Join(actions, ",") != "read_photo,read_video,read_selfie,approve" {
			t.Fatalf("audit trail %v", actions)
		}
		// Deciding again changes nothing.
		_, err = e.rev.RejectUnbind(ctx, rv, account.Client{}, filed.RequestID, "too late")
		wantCode(t, "reject after approve", err, account.CodeConflict)
		st, err = e.rev.UnbindStatus(ctx, filed.RequestID, filed.RequestToken)
		mustOK(t, "status", err)
		if st.State != review.StateApproved {
			t.Fatalf("status %s", st.State)
		}
		_, err = e.rev.UnbindStatus(ctx, filed.RequestID, "not the token")
		wantCode(t, "status with a wrong token", err, account.CodeNotFound)
	})
}

// TestUnbindRejected: a rejected request leaves the authenticator guarding
// the login, and the user learns why.
func TestUnbindRejected(t *testing.T) {
	onBoth(t, review.Config{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		uid := e.user("bob@example.com")
		rv := e.reviewer("rita@example.com")
		filed := e.file("bob@example.com", uid, "X123")
		_, err := e.rev.RejectUnbind(ctx, rv, account.Client{}, filed.RequestID, "")
		wantCode(t, "reject without a reason", err, account.CodeInvalidRequest)
		r, err := e.rev.RejectUnbind(ctx, rv, account.Client{}, filed.RequestID, "the face does not match")
		mustOK(t, "reject", err)
		if r.State != review.StateRejected || !e.hasTOTP(uid) {
			t.Fatalf("after rejection: state %s, authenticator %v", r.State, e.hasTOTP(uid))
		}
		res, err := e.acc.LoginPassword(ctx, account.Client{IP: "192.0.2.9"}, "bob@example.com", pw)
		if err != nil || res.MFAFlowID == "" {
			t.Fatalf("login after a rejection: %+v, %v; want the authenticator asked", res, err)
		}
		st, _ := e.rev.UnbindStatus(ctx, filed.RequestID, filed.RequestToken)
		if st.Reason != "the face does not match" {
			t.Fatalf("reason %q", st.Reason)
		}
		// A new request may be filed after a rejection.
		e.file("bob@example.com", uid, "X123")
	})
}

// TestUnbindRules: one open request per account, a challenge first, the
// flow's own UID, no decision about one's own account, staff only.
func TestUnbindRules(t *testing.T) {
	onBoth(t, review.Config{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		c := account.Client{IP: "192.0.2.1"}
		uid := e.user("cy@example.com")
		flow := e.mfaFlow("cy@example.com")
		_, err := e.rev.BeginUnbind(ctx, c, review.UnbindForm{FlowID: flow, UID: uid, IDNumber: "A1"})
		wantCode(t, "no challenge", err, account.CodeInvalidRequest)
		_, err = e.rev.Challenge(ctx, c, "no-such-flow")
		wantCode(t, "challenge of an unknown flow", err, account.CodeNotFound)
		_, err = e.rev.Challenge(ctx, c, flow)
		mustOK(t, "challenge", err)
		_, err = e.rev.BeginUnbind(ctx, c, review.UnbindForm{FlowID: flow, UID: "1234567890", IDNumber: "A1"})
		wantCode(t, "another UID", err, account.CodeInvalidRequest)
		d, err := e.rev.BeginUnbind(ctx, c, review.UnbindForm{FlowID: flow, UID: uid, IDNumber: "A1"})
		mustOK(t, "begin", err)
		mustOK(t, "photo", d.Add(ctx, review.RolePhoto, strings.NewReader("p")))
		_, err = d.Submit(ctx)
		wantCode(t, "without the video", err, account.CodeInvalidRequest)
		if n := e.ev.count(); n != 0 {
			t.Fatalf("%d blobs left after a failed submission", n)
		}
		e.file("cy@example.com", uid, "A1")
		flow = e.mfaFlow("cy@example.com")
		_, _ = e.rev.Challenge(ctx, c, flow)
		_, err = e.rev.BeginUnbind(ctx, c, review.UnbindForm{FlowID: flow, UID: uid, IDNumber: "A1"})
		wantCode(t, "a second open request", err, account.CodeConflict)

		// Staff: a reviewer cannot decide their own case; a user is no staff.
		rv := e.reviewer("rex@example.com")
		own := e.file("rex@example.com", rv.UID(), "R1")
		_, err = e.rev.ApproveUnbind(ctx, rv, c, own.RequestID, "")
		wantCode(t, "approve one's own", err, account.CodeForbidden)
		_, err = e.rev.Reviewer(ctx, e.session("cy@example.com"))
		wantCode(t, "a user as staff", err, account.CodeForbidden)
		// A staff member without an authenticator is refused.
		e.user("nofa@example.com", account.RoleAdmin)
		sess := e.session("nofa@example.com")
		mustOK(t, "delete totp", e.db.DeleteTOTP(ctx, sess.UID))
		_, err = e.rev.Reviewer(ctx, sess)
		wantCode(t, "staff without an authenticator", err, account.CodeForbidden)
	})
}

// TestUnbindRaces: two reviewers approving at once, and an approval
// racing the owner's cancellation, give exactly one outcome.
func TestUnbindRaces(t *testing.T) {
	onBoth(t, review.Config{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.reviewer("ann@example.com"), e.reviewer("ben@example.com")
		for i := range 3 {
			email := fmt.Sprintf("race%d@example.com", i)
			uid := e.user(email)
			filed := e.file(email, uid, "Z9")
			var wg sync.WaitGroup
			errs := make([]error, 2)
			for j, rv := range []*review.Reviewer{a, b} {
				wg.Go(func() { _, errs[j] = e.rev.ApproveUnbind(ctx, rv, account.Client{}, filed.RequestID, "") })
			}
			wg.Wait()
			if (errs[0] == nil) == (errs[1] == nil) {
				t.Fatalf("round %d: approve/approve gave %v and %v; want exactly one success", i, errs[0], errs[1])
			}
			for _, err := range errs {
				if err != nil && account.ErrorCode(err) != account.CodeConflict {
					t.Fatalf("the loser got %v, want conflict", err)
				}
			}
		}
		for i := range 3 {
			email := fmt.Sprintf("cancel%d@example.com", i)
			uid := e.user(email)
			filed, cancelToken := e.fileWithCancel(email, uid)
			var wg sync.WaitGroup
			var approveErr, cancelErr error
			wg.Go(func() { _, approveErr = e.rev.ApproveUnbind(ctx, a, account.Client{}, filed.RequestID, "") })
			wg.Go(func() { _, cancelErr = e.rev.CancelUnbind(ctx, account.Client{}, cancelToken) })
			wg.Wait()
			if (approveErr == nil) == (cancelErr == nil) {
				t.Fatalf("round %d: approve/cancel gave %v and %v; want exactly one success", i, approveErr, cancelErr)
			}
			st, _ := e.rev.UnbindStatus(ctx, filed.RequestID, filed.RequestToken)
			if (approveErr == nil) != (st.State == review.StateApproved) || (approveErr == nil) == e.hasTOTP(uid) {
				t.Fatalf("round %d: state %s and authenticator %v do not match the winner", i, st.State, e.hasTOTP(uid))
			}
		}
	})
}

// fileWithCancel files a request and reads the cancel token from the
// notice sent to the account's email.
func (e *env) fileWithCancel(email, uid string) (*review.Filed, string) {
	e.t.Helper()
	filed := e.file(email, uid, "Q1")
	msgs, err := e.db.ClaimMessages(context.Background(), e.clock.Now().Add(time.Hour), time.Hour, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, m := range msgs {
		if m.To == email && strings.Contains(m.Text, "/unbind/cancel/") {
			i := strings.Index(m.Text, "/unbind/cancel/") + len("/unbind/cancel/")
			return filed, strings.Fields(m.Text[i:])[0]
		}
	}
	e.t.Fatalf("no notice with a cancel link to %s", email)
	return nil, ""
}

// TestFourEyesAndDelay: with four-eyes the first approval changes nothing
// and the same reviewer cannot give the second; with a delay the owner can
// cancel an approved request until it takes effect, after which Tick
// applies it.
func TestFourEyesAndDelay(t *testing.T) {
	onBoth(t, review.Config{FourEyes: true, UnbindDelay: 48 * time.Hour}, func(t *testing.T, e *env) {
		ctx := context.Background()
		a, b := e.reviewer("ann@example.com"), e.reviewer("ben@example.com")
		uid := e.user("dee@example.com")
		filed, cancel := e.fileWithCancel("dee@example.com", uid)
		r, err := e.rev.ApproveUnbind(ctx, a, account.Client{}, filed.RequestID, "first look")
		mustOK(t, "first approval", err)
		if r.State != review.StatePending || !e.hasTOTP(uid) {
			t.Fatalf("after one approval: %s, authenticator %v", r.State, e.hasTOTP(uid))
		}
		_, err = e.rev.ApproveUnbind(ctx, a, account.Client{}, filed.RequestID, "again")
		wantCode(t, "the same reviewer twice", err, account.CodeForbidden)
		r, err = e.rev.ApproveUnbind(ctx, b, account.Client{}, filed.RequestID, "agree")
		mustOK(t, "second approval", err)
		if r.State != review.StateApproved || !e.hasTOTP(uid) {
			t.Fatalf("after two approvals within the delay: %s, authenticator %v", r.State, e.hasTOTP(uid))
		}
		// Within the delay the owner can still cancel.
		_, err = e.rev.CancelUnbind(ctx, account.Client{}, cancel)
		mustOK(t, "cancel during the delay", err)
		e.clock.Advance(49 * time.Hour)
		mustOK(t, "tick", e.rev.Tick(ctx))
		if !e.hasTOTP(uid) {
			t.Fatal("a cancelled request took effect")
		}

		// Another request runs its course: Tick applies it after the delay.
		filed = e.file("dee@example.com", uid, "Q2")
		_, err = e.rev.ApproveUnbind(ctx, a, account.Client{}, filed.RequestID, "")
		mustOK(t, "first", err)
		_, err = e.rev.ApproveUnbind(ctx, b, account.Client{}, filed.RequestID, "")
		mustOK(t, "second", err)
		mustOK(t, "tick before the delay", e.rev.Tick(ctx))
		if !e.hasTOTP(uid) {
			t.Fatal("the approval took effect before its delay")
		}
		e.clock.Advance(48*time.Hour + time.Second)
		mustOK(t, "tick after the delay", e.rev.Tick(ctx))
		if e.hasTOTP(uid) {
			t.Fatal("the approval did not take effect after its delay")
		}
		st, _ := e.rev.UnbindStatus(ctx, filed.RequestID, filed.RequestToken)
		if st.AppliedAt == nil {
			t.Fatal("applied_at not set")
		}
	})
}

// TestRetention deletes evidence files after the retention time and keeps
// the decision and its trail.
func TestRetention(t *testing.T) {
	onBoth(t, review.Config{Retention: 24 * time.Hour}, func(t *testing.T, e *env) {
		ctx := context.Background()
		rv := e.reviewer("rita@example.com")
		uid := e.user("eve@example.com")
		filed := e.file("eve@example.com", uid, "P1")
		before := e.ev.count()
		_, err := e.rev.RejectUnbind(ctx, rv, account.Client{}, filed.RequestID, "no video of a face")
		mustOK(t, "reject", err)
		e.clock.Advance(23 * time.Hour)
		mustOK(t, "tick", e.rev.Tick(ctx))
		if e.ev.count() != before {
			t.Fatal("evidence deleted before its retention time")
		}
		e.clock.Advance(2 * time.Hour)
		mustOK(t, "tick", e.rev.Tick(ctx))
		if got := e.ev.count(); got != before-3 { // photo and its view copy, video
			t.Fatalf("%d blobs left of %d, want the request's three deleted", got, before)
		}
		cs, err := e.rev.UnbindCase(ctx, rv, filed.RequestID)
		mustOK(t, "case after retention", err)
		if cs.Request.State != review.StateRejected || len(cs.Audit) == 0 {
			t.Fatalf("the decision or its trail is gone: %s, %d entries", cs.Request.State, len(cs.Audit))
		}
		_, _, err = e.rev.OpenUnbindEvidence(ctx, rv, filed.RequestID, review.RoleVideo)
		wantCode(t, "evidence after retention", err, account.CodeNotFound)
		mustOK(t, "tick again", e.rev.Tick(ctx))
	})
}

// TestIdentityVerification: approve, reject, resubmit after a rejection,
// one pending at a time.
func TestIdentityVerification(t *testing.T) {
	onBoth(t, review.Config{}, func(t *testing.T, e *env) {
		ctx := context.Background()
		rv := e.reviewer("rita@example.com")
		uid := e.user("fay@example.com")
		sess := e.session("fay@example.com")
		st, _, err := e.rev.IdentityStatus(ctx, sess)
		if err != nil || st != review.StateNone {
			t.Fatalf("status before: %s, %v", st, err)
		}
		c := account.Client{IP: "192.0.2.1"}
		form := review.IdentityForm{FullName: "Fay Wu", DocumentType: "id_card", DocumentNumber: "11010519491231002X"}
		_, err = e.rev.BeginIdentityVerification(ctx, c, sess, review.IdentityForm{FullName: "Fay", DocumentType: "licence", DocumentNumber: "1"})
		wantCode(t, "unknown document type", err, account.CodeInvalidRequest)
		submit := func() error {
			d, err := e.rev.BeginIdentityVerification(ctx, c, sess, form)
			if err != nil {
				return err
			}
			for _, role := range []review.Role{review.RoleDocumentFront, review.RoleDocumentBack, review.RoleSelfie} {
				mustOK(t, "add", d.Add(ctx, role, strings.NewReader("img")))
			}
			return d.Submit(ctx)
		}
		mustOK(t, "submit", submit())
		wantCode(t, "a second pending", submit(), account.CodeConflict)
		_, err = e.rev.RejectIdentity(ctx, rv, c, uid, "the photo is blurred")
		mustOK(t, "reject", err)
		st, reason, _ := e.rev.IdentityStatus(ctx, sess)
		if st != review.StateRejected || reason != "the photo is blurred" {
			t.Fatalf("after rejection: %s %q", st, reason)
		}
		e.clock.Advance(time.Hour)
		mustOK(t, "submit again", submit())
		_, err = e.rev.ApproveIdentity(ctx, rv, c, uid)
		mustOK(t, "approve", err)
		_, err = e.rev.ApproveIdentity(ctx, rv, c, uid)
		wantCode(t, "approve twice", err, account.CodeConflict)
		st, _, _ = e.rev.IdentityStatus(ctx, sess)
		if st != review.StateApproved {
			t.Fatalf("after approval: %s", st)
		}
		cs, err := e.rev.IdentityCase(ctx, rv, uid)
		mustOK(t, "case", err)
		if cs.Verification.DocumentNumber != "11010519491231002X" || cs.Verification.FullName != "Fay Wu" || len(cs.Files) != 3 {
			t.Fatalf("case: %+v, %d files", cs.Verification, len(cs.Files))
		}
		_, err = e.rev.ApproveIdentity(ctx, rv, c, rv.UID())
		wantCode(t, "one's own", err, account.CodeForbidden)
	})
}

// TestRetentionWaitsForTheEffect: an approval whose delay is longer than
// the retention keeps its evidence until it takes effect.
func TestRetentionWaitsForTheEffect(t *testing.T) {
	e := newEnv(t, "sqlite:"+t.TempDir()+"/w.db", review.Config{Retention: time.Hour, UnbindDelay: 48 * time.Hour})
	ctx := context.Background()
	rv := e.reviewer("rita@example.com")
	uid := e.user("gus@example.com")
	filed := e.file("gus@example.com", uid, "G1")
	_, err := e.rev.ApproveUnbind(ctx, rv, account.Client{}, filed.RequestID, "")
	mustOK(t, "approve", err)
	e.clock.Advance(2 * time.Hour)
	mustOK(t, "tick", e.rev.Tick(ctx))
	if _, rc, err := e.rev.OpenUnbindEvidence(ctx, rv, filed.RequestID, review.RoleVideo); err != nil {
		t.Fatalf("evidence of an approval not yet in effect was deleted: %v", err)
	} else {
		rc.Close()
	}
	e.clock.Advance(47 * time.Hour)
	mustOK(t, "tick: the approval takes effect", e.rev.Tick(ctx))
	mustOK(t, "tick: then retention applies", e.rev.Tick(ctx))
	_, _, err = e.rev.OpenUnbindEvidence(ctx, rv, filed.RequestID, review.RoleVideo)
	wantCode(t, "evidence after the effect and the retention", err, account.CodeNotFound)
}
