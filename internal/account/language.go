package account

import (
	"context"
	"fmt"
	"slices"

	"github.com/watchword/watchword/internal/i18n"
)

// userLang is the language of u's messages, English when the stored one
// is not (or no longer) supported.
func userLang(u *User) i18n.Lang {
	if slices.Contains(i18n.Langs, u.Lang) {
		return u.Lang
	}
	return i18n.English
}

// language returns the supported language the client asked for, and
// whether it asked for one. Callers usually pass a negotiated i18n.Lang;
// a looser spelling ("zh", "en-GB") is accepted too.
func (c Client) language() (i18n.Lang, bool) {
	if slices.Contains(i18n.Langs, c.Lang) {
		return c.Lang, true
	}
	return i18n.Parse(string(c.Lang))
}

// requestLang is the language of a message to someone without an account
// yet (a sign-up code): the request's, English when unknown.
func (c Client) requestLang() i18n.Lang {
	if l, ok := c.language(); ok {
		return l
	}
	return i18n.English
}

// rememberLanguage stores the client's language on account uid inside
// the transaction of a login that ends in a session, so that later mails
// and SMS follow the language the user last used. current is the stored
// language when the caller has read it ("" when not): an unchanged
// language then costs no statement. It is not called at a first factor
// that still waits for the authenticator: whoever knows only the password
// must not choose the language of the notices that warn the owner.
func (s *Service) rememberLanguage(ctx context.Context, tx Tx, c Client, uid string, current i18n.Lang) error {
	l, ok := c.language()
	if !ok || l == current {
		return nil
	}
	if err := tx.SetLanguage(ctx, uid, l); err != nil {
		return fmt.Errorf("set language: %w", err)
	}
	return nil
}
