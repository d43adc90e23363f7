package account_test

import (
	"context"
	"io"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/sqlstore"
)

// benchService is a Service on a SQLite file in b.TempDir(), on the real
// clock, with limits high enough that a benchmark never meets them.
type benchService struct {
	b   *testing.B
	svc *account.Service
	db  *sqlstore.DB
}

func newBenchService(b *testing.B, params password.Params) *benchService {
	b.Helper()
	huge := account.Limit{N: 1 << 30, Window: time.Hour}
	cfg := account.Config{Limits: account.Limits{
		PasswordPerIdentifier: huge, PasswordPerIP: huge, SignUpsPerIP: huge,
		CodeResend: huge, CodesPerAddress: huge, SignedInCodes: huge,
		TOTPPerAccount: huge, TOTPPerFlow: 5,
	}}
	svc, db := newService(b, "sqlite:"+b.TempDir()+"/w.db", params, cfg, time.Now, io.Discard)
	return &benchService{b: b, svc: svc, db: db}
}

// code drains the outbox and returns the code of its last message.
func (s *benchService) code() string {
	s.b.Helper()
	ctx := context.Background()
	var last *account.Message
	for {
		batch, err := s.db.ClaimMessages(ctx, time.Now().Add(time.Hour), time.Hour, 100)
		if err != nil {
			s.b.Fatal(err)
		}
		if len(batch) == 0 {
			break
		}
		for _, m := range batch {
			if err := s.db.MarkSent(ctx, time.Now(), m.ID); err != nil {
				s.b.Fatal(err)
			}
			last = m
		}
	}
	if last == nil {
		s.b.Fatal("no message in the outbox")
	}
	found := sixDigits.FindAllStringSubmatch(last.Text, -1)
	if len(found) != 1 {
		s.b.Fatalf("want one code in %q", last.Text)
	}
	return found[0][1]
}

// signUp registers email with goodPassword.
func (s *benchService) signUp(email string) {
	s.b.Helper()
	ctx := context.Background()
	flow, _, err := s.svc.StartRegistration(ctx, client, email, "")
	if err != nil {
		s.b.Fatal(err)
	}
	if _, _, err := s.svc.CompleteRegistration(ctx, client, flow, s.code(), goodPassword); err != nil {
		s.b.Fatal(err)
	}
}

// BenchmarkCodeIssueAndVerify measures a code login: issue a code (flow,
// code and outbox message in one transaction), then check and consume it
// and start a session. Reading the code from the outbox is not timed.
func BenchmarkCodeIssueAndVerify(b *testing.B) {
	s := newBenchService(b, password.Params{Memory: 64, Time: 1, Threads: 1})
	s.signUp("bench@example.com")
	ctx := context.Background()
	for b.Loop() {
		flow, err := s.svc.StartCodeLogin(ctx, client, "bench@example.com")
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		code := s.code()
		b.StartTimer()
		res, err := s.svc.CompleteCodeLogin(ctx, client, flow, code)
		if err != nil {
			b.Fatal(err)
		}
		if res.SessionToken == "" {
			b.Fatal("no session token")
		}
	}
}

// BenchmarkPasswordLogin measures a successful password login with the
// default argon2id parameters; compare it with BenchmarkArgon2Bare, the
// hash alone, to see what the rest of the login costs.
func BenchmarkPasswordLogin(b *testing.B) { benchmarkPasswordLogin(b, password.DefaultParams) }

// BenchmarkPasswordLoginCheapHash is BenchmarkPasswordLogin with a
// negligible hash: what a login costs besides argon2id (limiter, look-up,
// session and event in one transaction).
func BenchmarkPasswordLoginCheapHash(b *testing.B) {
	benchmarkPasswordLogin(b, password.Params{Memory: 64, Time: 1, Threads: 1})
}

func benchmarkPasswordLogin(b *testing.B, params password.Params) {
	s := newBenchService(b, params)
	s.signUp("bench@example.com")
	ctx := context.Background()
	for b.Loop() {
		res, err := s.svc.LoginPassword(ctx, client, "bench@example.com", goodPassword)
		if err != nil {
			b.Fatal(err)
		}
		if res.SessionToken == "" {
			b.Fatal("no session token")
		}
	}
}

// BenchmarkPasswordLoginWrong measures a refused password login (wrong
// password of a known account), which also runs one hash.
func BenchmarkPasswordLoginWrong(b *testing.B) {
	s := newBenchService(b, password.DefaultParams)
	s.signUp("bench@example.com")
	ctx := context.Background()
	for b.Loop() {
		_, err := s.svc.LoginPassword(ctx, client, "bench@example.com", "wrong password")
		if account.ErrorCode(err) != account.CodeInvalidCredentials {
			b.Fatalf("got %v, want invalid_credentials", err)
		}
	}
}

// BenchmarkArgon2Bare is the bare argon2id verification that a password
// login runs, with the same parameters and password.
func BenchmarkArgon2Bare(b *testing.B) {
	h := password.NewHasher(password.DefaultParams)
	hash, err := h.Hash(goodPassword)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		ok, err := h.Verify(hash, goodPassword)
		if err != nil || !ok {
			b.Fatalf("verify: %v, %v", ok, err)
		}
	}
}
