package totp_test

import (
	"bytes"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp"
	pqtotp "github.com/pquerna/otp/totp"

	"github.com/watchword/watchword/internal/totp"
)

// FuzzURI builds the otpauth:// URI from hostile labels (the account half
// is the user's own email or phone, the issuer is configuration) and reads
// it back the way an authenticator app would: net/url and pquerna/otp must
// both recover the issuer, the account and the secret unchanged, and a code
// that pquerna computes from the parsed URI must pass totp.Verify. A label
// that could move the issuer/account split, end the path early or add a
// query parameter fails here.
func FuzzURI(f *testing.F) {
	secret := []byte("12345678901234567890")
	for _, seed := range []struct{ issuer, account string }{
		{"Watchword", "alice@example.com"},
		{"My Bank", "+8613800138000"},
		{"A:B&C=D", "x/y?z#w"},
		{"Bänk", "zoë@bücher.de"},
		{"", ""},
		{"%41", "%3A:?secret=AAAA&issuer=evil"},
		{"iss\x00uer", "\xff\xfe"},
		{"plus+sign", "a+b@example.com&secret=x"},
		{"\u202eevil", "victim@example.com#fragment"},
		{"Watchword", "../../../etc/passwd"},
	} {
		f.Add(seed.issuer, seed.account, secret, int64(1_111_111_109))
	}
	f.Add("Watchword", "bob@example.com", bytes.Repeat([]byte{0xff}, 64), int64(20_000_000_000))
	f.Add("Watchword", "bob@example.com", []byte{}, int64(0))
	f.Fuzz(func(t *testing.T, issuer, account string, secret []byte, unix int64) {
		uri := totp.URI(issuer, account, secret)
		u, err := url.Parse(uri)
		if err != nil {
			t.Fatalf("URI(%q, %q) = %q does not parse: %v", issuer, account, uri, err)
		}
		if u.Scheme != "otpauth" || u.Host != "totp" || u.Fragment != "" || u.User != nil {
			t.Fatalf("URI(%q, %q) = %q: scheme %q host %q fragment %q", issuer, account, uri, u.Scheme, u.Host, u.Fragment)
		}
		if want := "/" + issuer + ":" + account; u.Path != want {
			t.Fatalf("path %q, want %q", u.Path, want)
		}
		// The one literal colon of the escaped label is the separator.
		label := strings.TrimPrefix(u.EscapedPath(), "/")
		if strings.Count(label, ":") != 1 {
			t.Fatalf("escaped label %q has %d colons, want 1", label, strings.Count(label, ":"))
		}
		rawIssuer, rawAccount, _ := strings.Cut(label, ":")
		if got, err := url.PathUnescape(rawIssuer); err != nil || got != issuer {
			t.Fatalf("label issuer %q, want %q (%v)", got, issuer, err)
		}
		if got, err := url.PathUnescape(rawAccount); err != nil || got != account {
			t.Fatalf("label account %q, want %q (%v)", got, account, err)
		}

		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			t.Fatalf("query %q: %v", u.RawQuery, err)
		}
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range q {
				if !yield(k) {
					return
				}
			}
		})
		if !slices.Equal(keys, []string{"algorithm", "digits", "issuer", "period", "secret"}) {
			t.Fatalf("query parameters %v", keys)
		}
		for k, v := range q {
			if len(v) != 1 {
				t.Fatalf("parameter %s given %d times", k, len(v))
			}
		}
		if q.Get("issuer") != issuer || q.Get("algorithm") != "SHA1" || q.Get("digits") != "6" || q.Get("period") != "30" {
			t.Fatalf("query %v", q)
		}
		if q.Get("secret") != totp.EncodeSecret(secret) {
			t.Fatalf("secret %q, want %q", q.Get("secret"), totp.EncodeSecret(secret))
		}

		// pquerna/otp stands in for an app. It splits the decoded path at
		// the first colon, so an issuer with a colon is ambiguous to it
		// (the issuer parameter still wins); the configured issuer has none.
		k, err := otp.NewKeyFromURL(uri)
		if err != nil {
			t.Fatal(err)
		}
		if k.Type() != "totp" || k.Secret() != totp.EncodeSecret(secret) ||
			k.Algorithm() != otp.AlgorithmSHA1 || k.Digits() != otp.DigitsSix || k.Period() != 30 {
			t.Fatalf("pquerna read type %s secret %s alg %v digits %v period %d",
				k.Type(), k.Secret(), k.Algorithm(), k.Digits(), k.Period())
		}
		if issuer != "" && k.Issuer() != issuer {
			t.Fatalf("pquerna issuer %q, want %q", k.Issuer(), issuer)
		}
		if !strings.Contains(issuer, ":") && k.AccountName() != account {
			t.Fatalf("pquerna account %q, want %q", k.AccountName(), account)
		}

		// The app's code from the parsed secret passes Verify at that time.
		now := time.Unix(unix&(1<<36-1), 0) // pquerna counts in uint64: no negative times
		code, err := pqtotp.GenerateCodeCustom(k.Secret(), now, pqtotp.ValidateOpts{
			Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
		})
		if err != nil {
			t.Fatalf("pquerna cannot use the secret %q: %v", k.Secret(), err)
		}
		m, ok := totp.Verify(secret, code, now, 0, 0)
		if len(secret) == 0 { // no secret, no match: documented
			if ok {
				t.Fatalf("an empty secret matched %s", code)
			}
			return
		}
		if !ok || m.Offset != 0 {
			t.Fatalf("the app's code %s at %d was refused (%+v)", code, now.Unix(), m)
		}
	})
}
