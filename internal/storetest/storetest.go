// Package storetest is the conformance suite of account.Store. Every store
// (sqlstore on SQLite and PostgreSQL, the in-memory fake) runs the same
// assertions, which is what proves the fake honest. Import it only from
// _test.go files.
package storetest

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// t0 is the suite's "now". It has microseconds, so a store that drops
// them fails, and every row a subtest creates outside DeleteExpired
// expires at least an hour after it, so DeleteExpired(t0) in one subtest
// never removes another's rows from the shared store.
var t0 = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

// later is a comfortable expiry for rows that must stay live.
var later = t0.Add(24 * time.Hour)

// Run runs the conformance suite against the store open returns. open is
// called once per Run; the subtests share that store and each uses
// identifiers of its own, so the store may hold other data, but it must
// not be shared with anything else running at the same time.
func Run(t *testing.T, open func(t *testing.T) account.Store) {
	x := &suite{s: open(t), run: randomUint32() % 1000}
	for _, group := range []struct {
		name string
		fn   func(t *testing.T, x *suite)
	}{
		{"CreateUser", testCreateUser},
		{"UserByUID", testUserByUID},
		{"UserByVerifiedEmail", testUserByVerifiedEmail},
		{"UserByVerifiedPhone", testUserByVerifiedPhone},
		{"SetVerifiedEmail", testSetVerifiedEmail},
		{"SetVerifiedPhone", testSetVerifiedPhone},
		{"SetPasswordHash", testSetPasswordHash},
		{"SetLanguage", testSetLanguage},
		{"Roles", testRoles},
		{"CreateFlow", testCreateFlow},
		{"FinishFlow", testFinishFlow},
		{"FailFlow", testFailFlow},
		{"PutCode", testPutCode},
		{"FailCode", testFailCode},
		{"ConsumeCode", testConsumeCode},
		{"CreateSession", testCreateSession},
		{"TouchSession", testTouchSession},
		{"SetSessionPrivilege", testSetSessionPrivilege},
		{"ListSessions", testListSessions},
		{"DeleteSession", testDeleteSession},
		{"DeleteUserSessions", testDeleteUserSessions},
		{"DeleteExpired", testDeleteExpired},
		{"PutPendingTOTP", testPutPendingTOTP},
		{"ActivateTOTP", testActivateTOTP},
		{"SetTOTPOffset", testSetTOTPOffset},
		{"DeleteTOTP", testDeleteTOTP},
		{"UseTOTPStep", testUseTOTPStep},
		{"RecoveryCodes", testRecoveryCodes},
		{"EnqueueMessage", testEnqueueMessage},
		{"Events", testEvents},
		{"Atomic", testAtomic},
		{"AfterCommit", testAfterCommit},
		{"Credentials", testCredentials},
	} {
		t.Run(group.name, func(t *testing.T) { group.fn(t, x) })
	}
}

// suite is the shared store plus a source of identifiers no other subtest
// uses.
type suite struct {
	s   account.Store
	run uint32 // distinguishes the phone numbers of concurrent runs
	seq atomic.Int64
}

func (x *suite) next() int64 { return x.seq.Add(1) }

func (x *suite) uid() string { return fmt.Sprintf("uid-%d-%d", x.run, x.next()) }

// email returns a fresh address with upper-case letters and its key.
func (x *suite) email() (addr, key string) {
	addr = fmt.Sprintf("User%d.R%d@Example.COM", x.next(), x.run)
	return addr, strings.ToLower(addr)
}

func (x *suite) phone() string { return fmt.Sprintf("+1%03d%07d", x.run, x.next()) }

// bytes returns 32 random bytes: an ID hash, token hash or code hash.
func (x *suite) bytes() []byte {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return b
}

// user returns an account with an unverified email and phone, not stored.
func (x *suite) user() *account.User {
	email, key := x.email()
	return &account.User{
		UID:          x.uid(),
		Email:        email,
		EmailKey:     key,
		Phone:        x.phone(),
		PasswordHash: "$argon2id$v=19$m=65536,t=1,p=4$c2FsdA$aGFzaA",
		CreatedAt:    t0,
	}
}

// createUser stores a fresh user and returns it.
func (x *suite) createUser(t *testing.T) *account.User {
	t.Helper()
	u := x.user()
	if err := x.s.CreateUser(t.Context(), u); err != nil {
		t.Fatalf("CreateUser: %v", err)
	}
	return u
}

func (x *suite) flow(uid string) *account.Flow {
	_, key := x.email()
	return &account.Flow{
		IDHash:    x.bytes(),
		Purpose:   account.PurposeLogin,
		UID:       uid,
		Channel:   account.ChannelEmail,
		Address:   key,
		SessionID: "",
		Method:    "code",
		CreatedAt: t0,
		ExpiresAt: later,
	}
}

func (x *suite) createFlow(t *testing.T) *account.Flow {
	t.Helper()
	f := x.flow("")
	if err := x.s.CreateFlow(t.Context(), f); err != nil {
		t.Fatalf("CreateFlow: %v", err)
	}
	return f
}

// putCode stores a fresh code for a fresh address and returns it.
func (x *suite) putCode(t *testing.T) *account.OneTimeCode {
	t.Helper()
	_, key := x.email()
	c := &account.OneTimeCode{
		Purpose:    account.PurposeVerifyEmail,
		AddressKey: key,
		FlowIDHash: x.bytes(),
		Hash:       x.bytes(),
		CreatedAt:  t0,
		ExpiresAt:  t0.Add(time.Hour),
	}
	if err := x.s.PutCode(t.Context(), c); err != nil {
		t.Fatalf("PutCode: %v", err)
	}
	return c
}

func (x *suite) session(uid string) *account.Session {
	return &account.Session{
		ID:         fmt.Sprintf("sid-%d-%d", x.run, x.next()),
		TokenHash:  x.bytes(),
		UID:        uid,
		CreatedAt:  t0,
		LastSeenAt: t0,
		ExpiresAt:  later,
		IP:         "192.0.2.1",
		UserAgent:  "storetest/1.0",
	}
}

func (x *suite) createSession(t *testing.T, uid string) *account.Session {
	t.Helper()
	s := x.session(uid)
	if err := x.s.CreateSession(t.Context(), s); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	return s
}

// wantErr fails t unless err is nil (want nil) or wraps want.
func wantErr(t *testing.T, op string, err, want error) {
	t.Helper()
	if want == nil && err != nil {
		t.Fatalf("%s: got error %v, want nil", op, err)
	}
	if want != nil && !errors.Is(err, want) {
		t.Fatalf("%s: got error %v, want %v", op, err, want)
	}
}

// checkErr is wantErr without stopping the test, for use inside an Atomic
// callback: stopping there would leave the transaction to the store's
// clean-up.
func checkErr(t *testing.T, op string, err, want error) {
	t.Helper()
	if (want == nil && err != nil) || (want != nil && !errors.Is(err, want)) {
		t.Errorf("%s: got error %v, want %v", op, err, want)
	}
}

// wantEqual fails t unless got and want are deeply equal once times are in
// UTC and empty slices are nil: a store may return either.
func wantEqual(t *testing.T, what string, got, want any) {
	t.Helper()
	g, w := normalize(reflect.ValueOf(got)), normalize(reflect.ValueOf(want))
	if !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got %+v\nwant %+v", what, g, w)
	}
}

var timeType = reflect.TypeFor[time.Time]()

// normalize returns a deep copy of v with times in UTC (without monotonic
// readings) and empty slices as nil, dereferencing pointers for printing.
func normalize(v reflect.Value) any {
	if !v.IsValid() {
		return nil
	}
	return norm(v).Interface()
}

func norm(v reflect.Value) reflect.Value {
	switch {
	case v.Type() == timeType:
		return reflect.ValueOf(v.Interface().(time.Time).UTC().Round(0))
	case v.Kind() == reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(norm(v.Elem()))
		return p
	case v.Kind() == reflect.Struct:
		c := reflect.New(v.Type()).Elem()
		for i := range v.NumField() {
			if c.Field(i).CanSet() {
				c.Field(i).Set(norm(v.Field(i)))
			}
		}
		return c
	case v.Kind() == reflect.Slice && v.Type().Elem().Kind() != reflect.Uint8:
		if v.Len() == 0 {
			return reflect.Zero(v.Type())
		}
		c := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			c.Index(i).Set(norm(v.Index(i)))
		}
		return c
	case v.Kind() == reflect.Slice && v.Len() == 0:
		return reflect.Zero(v.Type())
	}
	return v
}

// race runs fn n times at once, released together to maximise contention,
// and returns the errors.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner fails t unless exactly one of errs is nil and every other
// wraps account.ErrConflict.
func wantOneWinner(t *testing.T, op string, errs []error) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("%s: callers %d and %d both succeeded", op, winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, account.ErrConflict):
			t.Fatalf("%s: caller %d: got error %v, want ErrConflict", op, i, err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no caller succeeded", op)
	}
	return winner
}

func randomUint32() uint32 {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return binary.BigEndian.Uint32(b[:])
}
