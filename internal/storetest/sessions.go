package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

func testCreateSession(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		s := x.session(u.UID)
		until := t0.Add(5 * time.Minute)
		s.PrivilegedUntil = &until
		wantErr(t, "CreateSession", x.s.CreateSession(ctx, s), nil)
		got, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash", err, nil)
		wantEqual(t, "session", got, s)
	})
	t.Run("ConflictID", func(t *testing.T) {
		u := x.createUser(t)
		s := x.createSession(t, u.UID)
		d := x.session(u.UID)
		d.ID = s.ID
		wantErr(t, "CreateSession", x.s.CreateSession(ctx, d), account.ErrConflict)
	})
	t.Run("ConflictTokenHash", func(t *testing.T) {
		u := x.createUser(t)
		s := x.createSession(t, u.UID)
		d := x.session(u.UID)
		d.TokenHash = s.TokenHash
		wantErr(t, "CreateSession", x.s.CreateSession(ctx, d), account.ErrConflict)
	})
	t.Run("NotFound", func(t *testing.T) {
		s, err := x.s.SessionByTokenHash(ctx, x.bytes())
		wantErr(t, "SessionByTokenHash", err, account.ErrNoRows)
		if s != nil {
			t.Errorf("got session %+v with the error, want nil", s)
		}
	})
}

func testTouchSession(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		s := x.createSession(t, u.UID)
		now := t0.Add(3 * time.Minute)
		wantErr(t, "TouchSession", x.s.TouchSession(ctx, s.ID, now), nil)
		got, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash", err, nil)
		s.LastSeenAt = now
		wantEqual(t, "session", got, s)
	})
	t.Run("NotFound", func(t *testing.T) {
		wantErr(t, "TouchSession", x.s.TouchSession(ctx, "no-such-session", t0), account.ErrNoRows)
	})
}

func testSetSessionPrivilege(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		s, other := x.createSession(t, u.UID), x.createSession(t, u.UID)
		until := t0.Add(10 * time.Minute)
		wantErr(t, "SetSessionPrivilege", x.s.SetSessionPrivilege(ctx, s.ID, until), nil)
		got, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash", err, nil)
		s.PrivilegedUntil = &until
		wantEqual(t, "session", got, s)
		got, err = x.s.SessionByTokenHash(ctx, other.TokenHash)
		wantErr(t, "SessionByTokenHash", err, nil)
		wantEqual(t, "other session of the user", got, other)
	})
	t.Run("NotFound", func(t *testing.T) {
		wantErr(t, "SetSessionPrivilege", x.s.SetSessionPrivilege(ctx, "no-such-session", t0), account.ErrNoRows)
	})
}

func testListSessions(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("NewestFirst", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		var want []*account.Session
		for i := range 3 {
			s := x.session(u.UID)
			s.CreatedAt = t0.Add(time.Duration(i) * time.Minute)
			wantErr(t, "CreateSession", x.s.CreateSession(ctx, s), nil)
			want = append([]*account.Session{s}, want...)
		}
		x.createSession(t, v.UID)
		got, err := x.s.ListSessions(ctx, u.UID)
		wantErr(t, "ListSessions", err, nil)
		wantEqual(t, "sessions", got, want)
	})
	t.Run("None", func(t *testing.T) {
		u := x.createUser(t)
		got, err := x.s.ListSessions(ctx, u.UID)
		wantErr(t, "ListSessions", err, nil)
		if len(got) != 0 {
			t.Errorf("got %d sessions, want none", len(got))
		}
	})
}

func testDeleteSession(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		s, keep := x.createSession(t, u.UID), x.createSession(t, u.UID)
		wantErr(t, "DeleteSession", x.s.DeleteSession(ctx, u.UID, s.ID), nil)
		_, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash of the deleted session", err, account.ErrNoRows)
		_, err = x.s.SessionByTokenHash(ctx, keep.TokenHash)
		wantErr(t, "SessionByTokenHash of the other session", err, nil)
		wantErr(t, "DeleteSession again", x.s.DeleteSession(ctx, u.UID, s.ID), account.ErrNoRows)
	})
	t.Run("OtherUsersSession", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		s := x.createSession(t, v.UID)
		wantErr(t, "DeleteSession", x.s.DeleteSession(ctx, u.UID, s.ID), account.ErrNoRows)
		_, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash", err, nil)
	})
}

func testDeleteUserSessions(t *testing.T, x *suite) {
	ctx := t.Context()
	u, v := x.createUser(t), x.createUser(t)
	var mine []*account.Session
	for range 3 {
		mine = append(mine, x.createSession(t, u.UID))
	}
	theirs := x.createSession(t, v.UID)
	kept := x.createSession(t, u.UID)
	ended, err := x.s.DeleteUserSessions(ctx, u.UID, kept.ID)
	wantErr(t, "DeleteUserSessions", err, nil)
	var want []string
	for _, s := range mine {
		want = append(want, s.ID)
	}
	slices.Sort(ended)
	slices.Sort(want)
	if !slices.Equal(ended, want) {
		t.Errorf("DeleteUserSessions ended %v, want %v", ended, want)
	}
	_, err = x.s.SessionByTokenHash(ctx, kept.TokenHash)
	wantErr(t, "SessionByTokenHash of the kept session", err, nil)
	ended, err = x.s.DeleteUserSessions(ctx, u.UID, "")
	wantErr(t, "DeleteUserSessions of all", err, nil)
	if len(ended) != 1 || ended[0] != kept.ID {
		t.Errorf("DeleteUserSessions of all ended %v, want [%s]", ended, kept.ID)
	}
	for _, s := range mine {
		_, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
		wantErr(t, "SessionByTokenHash of a deleted session", err, account.ErrNoRows)
	}
	_, err = x.s.SessionByTokenHash(ctx, theirs.TokenHash)
	wantErr(t, "SessionByTokenHash of another user's session", err, nil)
	ended, err = x.s.DeleteUserSessions(ctx, u.UID, "")
	wantErr(t, "DeleteUserSessions again", err, nil)
	if len(ended) != 0 {
		t.Errorf("DeleteUserSessions again ended %v, want none", ended)
	}
}

func testDeleteExpired(t *testing.T, x *suite) {
	ctx := t.Context()
	u := x.createUser(t)
	var gone, kept []*account.Session
	var goneFlows, keptFlows []*account.Flow
	var goneCodes, keptCodes []*account.OneTimeCode
	for _, exp := range []time.Time{t0.Add(-time.Second), t0.Add(time.Second)} {
		s := x.session(u.UID)
		s.CreatedAt, s.LastSeenAt, s.ExpiresAt = t0.Add(-time.Hour), t0.Add(-time.Hour), exp
		wantErr(t, "CreateSession", x.s.CreateSession(ctx, s), nil)
		f := x.flow("")
		f.CreatedAt, f.ExpiresAt = t0.Add(-time.Hour), exp
		wantErr(t, "CreateFlow", x.s.CreateFlow(ctx, f), nil)
		_, key := x.email()
		c := &account.OneTimeCode{Purpose: account.PurposeLogin, AddressKey: key, FlowIDHash: f.IDHash,
			Hash: x.bytes(), CreatedAt: t0.Add(-time.Hour), ExpiresAt: exp}
		wantErr(t, "PutCode", x.s.PutCode(ctx, c), nil)
		if exp.Before(t0) {
			gone, goneFlows, goneCodes = append(gone, s), append(goneFlows, f), append(goneCodes, c)
		} else {
			kept, keptFlows, keptCodes = append(kept, s), append(keptFlows, f), append(keptCodes, c)
		}
	}
	wantErr(t, "DeleteExpired", x.s.DeleteExpired(ctx, t0), nil)
	check := func(what string, err error, expired bool) {
		t.Helper()
		if expired {
			wantErr(t, what+" (expired)", err, account.ErrNoRows)
		} else {
			wantErr(t, what+" (live)", err, nil)
		}
	}
	for i, list := range [][]*account.Session{gone, kept} {
		for _, s := range list {
			_, err := x.s.SessionByTokenHash(ctx, s.TokenHash)
			check("SessionByTokenHash", err, i == 0)
		}
	}
	for i, list := range [][]*account.Flow{goneFlows, keptFlows} {
		for _, f := range list {
			_, err := x.s.FlowByIDHash(ctx, f.IDHash)
			check("FlowByIDHash", err, i == 0)
		}
	}
	for i, list := range [][]*account.OneTimeCode{goneCodes, keptCodes} {
		for _, c := range list {
			_, err := x.s.CodeFor(ctx, c.Purpose, c.AddressKey)
			check("CodeFor", err, i == 0)
		}
	}
	if _, err := x.s.UserByUID(ctx, u.UID); err != nil {
		t.Errorf("UserByUID after DeleteExpired: %v", err)
	}
}
