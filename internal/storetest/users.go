package storetest

import (
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/account"
	"github.com/watchword/watchword/internal/i18n"
)

func testCreateUser(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.user()
		u.EmailVerified, u.PhoneVerified = true, true
		if err := x.s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "user", got, u)
	})
	t.Run("WithRoles", func(t *testing.T) {
		u := x.user()
		u.Roles = []string{"staff", "admin"}
		if err := x.s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		got, err := x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "roles", got.Roles, []string{"admin", "staff"})
	})
	t.Run("ConflictUID", func(t *testing.T) {
		u := x.createUser(t)
		v := x.user()
		v.UID = u.UID
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, v), account.ErrConflict)
		got, err := x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "user", got, u)
	})
	t.Run("ConflictVerifiedEmail", func(t *testing.T) {
		u := x.user()
		u.EmailVerified = true
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		v := x.user()
		v.Email, v.EmailKey, v.EmailVerified = strings.ToUpper(u.Email), u.EmailKey, true
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, v), account.ErrConflict)
		_, err := x.s.UserByUID(ctx, v.UID)
		wantErr(t, "UserByUID of the refused user", err, account.ErrNoRows)
	})
	t.Run("ConflictVerifiedPhone", func(t *testing.T) {
		u := x.user()
		u.PhoneVerified = true
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		v := x.user()
		v.Phone, v.PhoneVerified = u.Phone, true
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, v), account.ErrConflict)
	})
	t.Run("UnverifiedCopiesAllowed", func(t *testing.T) {
		// Anyone may type someone else's address; only verifying it is
		// exclusive.
		u := x.user()
		u.EmailVerified, u.PhoneVerified = true, true
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		for range 2 {
			v := x.user()
			v.Email, v.EmailKey, v.Phone = u.Email, u.EmailKey, u.Phone
			wantErr(t, "CreateUser with unverified copies", x.s.CreateUser(ctx, v), nil)
		}
	})
}

func testUserByUID(t *testing.T, x *suite) {
	t.Run("NotFound", func(t *testing.T) {
		u, err := x.s.UserByUID(t.Context(), x.uid())
		wantErr(t, "UserByUID", err, account.ErrNoRows)
		if u != nil {
			t.Errorf("got user %+v with the error, want nil", u)
		}
	})
}

func testUserByVerifiedEmail(t *testing.T, x *suite) {
	ctx := t.Context()
	verified := x.user()
	verified.EmailVerified = true
	if err := x.s.CreateUser(ctx, verified); err != nil {
		t.Fatal(err)
	}
	unverified := x.createUser(t)
	for _, tc := range []struct {
		name string
		key  string
		want *account.User
		err  error
	}{
		{"OK", verified.EmailKey, verified, nil},
		{"Unverified", unverified.EmailKey, nil, account.ErrNoRows},
		{"NotFound", "nobody-" + x.uid() + "@example.com", nil, account.ErrNoRows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := x.s.UserByVerifiedEmail(ctx, tc.key)
			wantErr(t, "UserByVerifiedEmail", err, tc.err)
			wantEqual(t, "user", got, tc.want)
		})
	}
}

func testUserByVerifiedPhone(t *testing.T, x *suite) {
	ctx := t.Context()
	verified := x.user()
	verified.PhoneVerified = true
	verified.Roles = []string{"b", "a"}
	if err := x.s.CreateUser(ctx, verified); err != nil {
		t.Fatal(err)
	}
	verified.Roles = []string{"a", "b"}
	unverified := x.createUser(t)
	for _, tc := range []struct {
		name  string
		phone string
		want  *account.User
		err   error
	}{
		{"OK", verified.Phone, verified, nil},
		{"Unverified", unverified.Phone, nil, account.ErrNoRows},
		{"NotFound", x.phone(), nil, account.ErrNoRows},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := x.s.UserByVerifiedPhone(ctx, tc.phone)
			wantErr(t, "UserByVerifiedPhone", err, tc.err)
			wantEqual(t, "user", got, tc.want)
		})
	}
}

func testSetVerifiedEmail(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		email, key := x.email()
		wantErr(t, "SetVerifiedEmail", x.s.SetVerifiedEmail(ctx, u.UID, email, key), nil)
		u.Email, u.EmailKey, u.EmailVerified = email, key, true
		got, err := x.s.UserByVerifiedEmail(ctx, key)
		wantErr(t, "UserByVerifiedEmail", err, nil)
		wantEqual(t, "user", got, u)
	})
	t.Run("Again", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "SetVerifiedEmail", x.s.SetVerifiedEmail(ctx, u.UID, u.Email, u.EmailKey), nil)
		wantErr(t, "SetVerifiedEmail again", x.s.SetVerifiedEmail(ctx, u.UID, u.Email, u.EmailKey), nil)
	})
	t.Run("Conflict", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		wantErr(t, "SetVerifiedEmail", x.s.SetVerifiedEmail(ctx, u.UID, u.Email, u.EmailKey), nil)
		wantErr(t, "SetVerifiedEmail taken", x.s.SetVerifiedEmail(ctx, v.UID, strings.ToUpper(u.Email), u.EmailKey), account.ErrConflict)
		got, err := x.s.UserByUID(ctx, v.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "refused user", got, v)
	})
	t.Run("UnverifiedElsewhere", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		wantErr(t, "SetVerifiedEmail", x.s.SetVerifiedEmail(ctx, v.UID, u.Email, u.EmailKey), nil)
	})
	t.Run("NotFound", func(t *testing.T) {
		email, key := x.email()
		wantErr(t, "SetVerifiedEmail", x.s.SetVerifiedEmail(ctx, x.uid(), email, key), account.ErrNoRows)
	})
	t.Run("Concurrent", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		email, key := x.email()
		uids := []string{u.UID, v.UID}
		errs := race(2, func(i int) error { return x.s.SetVerifiedEmail(ctx, uids[i], email, key) })
		w := wantOneWinner(t, "SetVerifiedEmail", errs)
		got, err := x.s.UserByVerifiedEmail(ctx, key)
		wantErr(t, "UserByVerifiedEmail", err, nil)
		if got.UID != uids[w] {
			t.Errorf("verified email belongs to %s, want the winner %s", got.UID, uids[w])
		}
	})
}

func testSetVerifiedPhone(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		phone := x.phone()
		wantErr(t, "SetVerifiedPhone", x.s.SetVerifiedPhone(ctx, u.UID, phone), nil)
		u.Phone, u.PhoneVerified = phone, true
		got, err := x.s.UserByVerifiedPhone(ctx, phone)
		wantErr(t, "UserByVerifiedPhone", err, nil)
		wantEqual(t, "user", got, u)
	})
	t.Run("Conflict", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		wantErr(t, "SetVerifiedPhone", x.s.SetVerifiedPhone(ctx, u.UID, u.Phone), nil)
		wantErr(t, "SetVerifiedPhone taken", x.s.SetVerifiedPhone(ctx, v.UID, u.Phone), account.ErrConflict)
		got, err := x.s.UserByUID(ctx, v.UID)
		wantErr(t, "UserByUID", err, nil)
		wantEqual(t, "refused user", got, v)
	})
	t.Run("UnverifiedElsewhere", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		wantErr(t, "SetVerifiedPhone", x.s.SetVerifiedPhone(ctx, v.UID, u.Phone), nil)
	})
	t.Run("NotFound", func(t *testing.T) {
		wantErr(t, "SetVerifiedPhone", x.s.SetVerifiedPhone(ctx, x.uid(), x.phone()), account.ErrNoRows)
	})
	t.Run("Concurrent", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		phone := x.phone()
		uids := []string{u.UID, v.UID}
		errs := race(2, func(i int) error { return x.s.SetVerifiedPhone(ctx, uids[i], phone) })
		w := wantOneWinner(t, "SetVerifiedPhone", errs)
		got, err := x.s.UserByVerifiedPhone(ctx, phone)
		wantErr(t, "UserByVerifiedPhone", err, nil)
		if got.UID != uids[w] {
			t.Errorf("verified phone belongs to %s, want the winner %s", got.UID, uids[w])
		}
	})
}

func testSetPasswordHash(t *testing.T, x *suite) {
	ctx := t.Context()
	t.Run("OK", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "SetPasswordHash", x.s.SetPasswordHash(ctx, u.UID, "new-hash"), nil)
		got, err := x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID", err, nil)
		if got.PasswordHash != "new-hash" {
			t.Errorf("got hash %q, want %q", got.PasswordHash, "new-hash")
		}
	})
	t.Run("Clear", func(t *testing.T) {
		u := x.createUser(t)
		wantErr(t, "SetPasswordHash", x.s.SetPasswordHash(ctx, u.UID, ""), nil)
		got, err := x.s.UserByUID(ctx, u.UID)
		wantErr(t, "UserByUID", err, nil)
		if got.PasswordHash != "" {
			t.Errorf("got hash %q, want none", got.PasswordHash)
		}
	})
	t.Run("NotFound", func(t *testing.T) {
		wantErr(t, "SetPasswordHash", x.s.SetPasswordHash(ctx, x.uid(), "h"), account.ErrNoRows)
	})
}

// testSetLanguage: the language of an account's messages is kept at
// creation and replaced by SetLanguage, which is no error when nothing
// changes or nobody has that uid.
func testSetLanguage(t *testing.T, x *suite) {
	ctx := t.Context()
	lang := func(t *testing.T, uid string) i18n.Lang {
		t.Helper()
		u, err := x.s.UserByUID(ctx, uid)
		wantErr(t, "UserByUID", err, nil)
		return u.Lang
	}
	t.Run("KeptAtCreation", func(t *testing.T) {
		u := x.user()
		u.Lang = i18n.Chinese
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		wantEqual(t, "language", lang(t, u.UID), i18n.Chinese)
	})
	t.Run("Changed", func(t *testing.T) {
		u, v := x.user(), x.user()
		u.Lang, v.Lang = i18n.English, i18n.English
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, v), nil)
		wantErr(t, "SetLanguage", x.s.SetLanguage(ctx, u.UID, i18n.Chinese), nil)
		wantEqual(t, "language", lang(t, u.UID), i18n.Chinese)
		wantEqual(t, "language of another user", lang(t, v.UID), i18n.English)
		wantErr(t, "SetLanguage back", x.s.SetLanguage(ctx, u.UID, i18n.English), nil)
		wantEqual(t, "language", lang(t, u.UID), i18n.English)
	})
	t.Run("Unchanged", func(t *testing.T) {
		u := x.user()
		u.Lang = i18n.Chinese
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		wantErr(t, "SetLanguage to the same", x.s.SetLanguage(ctx, u.UID, i18n.Chinese), nil)
		wantEqual(t, "language", lang(t, u.UID), i18n.Chinese)
	})
	t.Run("InTransaction", func(t *testing.T) {
		u := x.createUser(t)
		err := x.s.Atomic(ctx, func(tx account.Tx) error { return tx.SetLanguage(ctx, u.UID, i18n.Chinese) })
		wantErr(t, "Atomic SetLanguage", err, nil)
		wantEqual(t, "language", lang(t, u.UID), i18n.Chinese)
	})
	t.Run("NotFound", func(t *testing.T) {
		wantErr(t, "SetLanguage of nobody", x.s.SetLanguage(ctx, x.uid(), i18n.Chinese), nil)
	})
}

func testRoles(t *testing.T, x *suite) {
	ctx := t.Context()
	roles := func(t *testing.T, uid string) []string {
		t.Helper()
		u, err := x.s.UserByUID(ctx, uid)
		wantErr(t, "UserByUID", err, nil)
		return u.Roles
	}
	t.Run("GrantSortedIdempotent", func(t *testing.T) {
		u := x.createUser(t)
		for _, r := range []string{"staff", "admin", "staff"} {
			wantErr(t, "GrantRole "+r, x.s.GrantRole(ctx, u.UID, r), nil)
		}
		wantEqual(t, "roles", roles(t, u.UID), []string{"admin", "staff"})
	})
	t.Run("FilledByVerifiedLookups", func(t *testing.T) {
		u := x.user()
		u.EmailVerified = true
		wantErr(t, "CreateUser", x.s.CreateUser(ctx, u), nil)
		wantErr(t, "GrantRole", x.s.GrantRole(ctx, u.UID, "staff"), nil)
		got, err := x.s.UserByVerifiedEmail(ctx, u.EmailKey)
		wantErr(t, "UserByVerifiedEmail", err, nil)
		wantEqual(t, "roles", got.Roles, []string{"staff"})
	})
	t.Run("RevokeRoles", func(t *testing.T) {
		u, v := x.createUser(t), x.createUser(t)
		for _, uid := range []string{u.UID, v.UID} {
			wantErr(t, "GrantRole", x.s.GrantRole(ctx, uid, "staff"), nil)
			wantErr(t, "GrantRole", x.s.GrantRole(ctx, uid, "admin"), nil)
		}
		wantErr(t, "RevokeRoles", x.s.RevokeRoles(ctx, u.UID), nil)
		wantEqual(t, "roles after revoke", roles(t, u.UID), []string(nil))
		wantEqual(t, "roles of another user", roles(t, v.UID), []string{"admin", "staff"})
		wantErr(t, "RevokeRoles without roles", x.s.RevokeRoles(ctx, u.UID), nil)
	})
	t.Run("GrantNotFound", func(t *testing.T) {
		wantErr(t, "GrantRole", x.s.GrantRole(ctx, x.uid(), "staff"), account.ErrNoRows)
	})
}

// testCredentials: the credentials version guards logins, and a hash
// upgrade is written only over the hash it verified.
func testCredentials(t *testing.T, x *suite) {
	ctx := t.Context()
	u := x.createUser(t)
	got, err := x.s.UserByUID(ctx, u.UID)
	wantErr(t, "UserByUID", err, nil)
	if got.CredVersion != 0 {
		t.Errorf("a new user has credentials version %d, want 0", got.CredVersion)
	}
	wantErr(t, "CheckCredentials at the version read", x.s.CheckCredentials(ctx, u.UID, 0), nil)
	wantErr(t, "BumpCredentials", x.s.BumpCredentials(ctx, u.UID), nil)
	wantErr(t, "CheckCredentials at the old version", x.s.CheckCredentials(ctx, u.UID, 0), account.ErrConflict)
	wantErr(t, "CheckCredentials at the new version", x.s.CheckCredentials(ctx, u.UID, 1), nil)
	wantErr(t, "BumpCredentials of nobody", x.s.BumpCredentials(ctx, x.uid()), account.ErrNoRows)
	wantErr(t, "CheckCredentials of nobody", x.s.CheckCredentials(ctx, x.uid(), 0), account.ErrConflict)
	got, _ = x.s.UserByUID(ctx, u.UID)
	if got.CredVersion != 1 {
		t.Errorf("credentials version %d after one bump, want 1", got.CredVersion)
	}

	wantErr(t, "RehashPassword over another hash", x.s.RehashPassword(ctx, u.UID, "not the hash", "new"), account.ErrConflict)
	wantErr(t, "RehashPassword", x.s.RehashPassword(ctx, u.UID, u.PasswordHash, "rehashed"), nil)
	got, _ = x.s.UserByUID(ctx, u.UID)
	if got.PasswordHash != "rehashed" || got.CredVersion != 1 {
		t.Errorf("after rehash: hash %q version %d, want rehashed and 1 (a rehash is no change of credentials)", got.PasswordHash, got.CredVersion)
	}

	// A login flow keeps its factors and the version it was checked at.
	f := x.flow(u.UID)
	f.Purpose, f.Factors, f.CredVersion = account.PurposeLoginMFA, []account.Factor{account.FactorTOTP, account.FactorRecoveryCode}, 7
	wantErr(t, "CreateFlow", x.s.CreateFlow(ctx, f), nil)
	back, err := x.s.FlowByIDHash(ctx, f.IDHash)
	wantErr(t, "FlowByIDHash", err, nil)
	if back.CredVersion != 7 || len(back.Factors) != 2 || back.Factors[0] != account.FactorTOTP || back.Factors[1] != account.FactorRecoveryCode {
		t.Errorf("flow read back with factors %v and version %d", back.Factors, back.CredVersion)
	}
}
