package password_test

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"testing"

	"golang.org/x/crypto/argon2"

	"github.com/watchword/watchword/internal/password"
)

// Spellings of the same passwords that different keyboards and input
// methods send.
const (
	dessertNFC = "caf\u00e9-cr\u00e8me-br\u00fbl\u00e9e"               // precomposed, as most keyboards send it
	dessertNFD = "cafe\u0301-cre\u0300me-bru\u0302le\u0301e"           // base letters plus combining accents
	hangulNFC  = "\ud55c\uad6d\uc5b4 \ube44\ubc00\ubc88\ud638"         // 한국어 비밀번호 as precomposed syllables
	hangulJamo = "\u1112\u1161\u11ab\u1100\u116e\u11a8\u110b\u1165 " + // the same as conjoining jamo
		"\u1107\u1175\u1106\u1175\u11af\u1107\u1165\u11ab\u1112\u1169"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"NFCUnchanged", dessertNFC, dessertNFC},
		{"NFDComposed", dessertNFD, dessertNFC},
		{"HangulJamoComposed", hangulJamo, hangulNFC},
		{"ASCIIUnchanged", "correct horse battery staple", "correct horse battery staple"},
		// NFC, not NFKC: characters that look or type differently stay
		// apart, so these do not collapse into ASCII.
		{"FullwidthKept", "\uff50\uff41\uff53\uff53", "\uff50\uff41\uff53\uff53"},
		{"LigatureKept", "\ufb01ve", "\ufb01ve"},
		{"SuperscriptKept", "x\u00b2", "x\u00b2"},
		{"InvalidUTF8Kept", "abc\xffdef", "abc\xffdef"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := password.Normalize(tc.in); got != tc.want {
				t.Fatalf("Normalize(%+q) = %+q, want %+q", tc.in, got, tc.want)
			}
		})
	}
}

// rawHash makes a hash the way Hash did before it normalized: from the
// password's bytes as given. It builds the PHC string itself, so it also
// checks that Verify reads the format other implementations write.
func rawHash(t *testing.T, pw string) string {
	t.Helper()
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		t.Fatal(err)
	}
	key := argon2.IDKey([]byte(pw), salt, cheap.Time, cheap.Memory, cheap.Threads, 32)
	b64 := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$%s$%s$%s", cheap, b64.EncodeToString(salt), b64.EncodeToString(key))
}

func TestVerifyNormalizes(t *testing.T) {
	h := password.NewHasher(cheap)
	tests := []struct {
		name    string
		hashed  string // the password given to Hash
		attempt string
		want    bool
	}{
		{"NFCHashNFDAttempt", dessertNFC, dessertNFD, true},
		{"NFDHashNFCAttempt", dessertNFD, dessertNFC, true},
		{"NFDHashNFDAttempt", dessertNFD, dessertNFD, true},
		{"JamoHashSyllableAttempt", hangulJamo, hangulNFC, true},
		{"SyllableHashJamoAttempt", hangulNFC, hangulJamo, true},
		{"AccentDropped", dessertNFC, "cafe-creme-brulee", false},
		{"FullwidthIsNotASCII", "\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44", "password", false},
		{"LigatureIsNotLetters", "\ufb01ve-\ufb01ve-\ufb01ve", "five-five-five", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			encoded := mustHash(t, h, tc.hashed)
			ok, rehash, err := h.VerifyRehash(encoded, tc.attempt)
			if err != nil || ok != tc.want || rehash {
				t.Fatalf("VerifyRehash(hash of %+q, %+q) = %v, %v, %v; want %v, false, nil", tc.hashed, tc.attempt, ok, rehash, err, tc.want)
			}
			if ok, err := h.Verify(encoded, tc.attempt); err != nil || ok != tc.want {
				t.Fatalf("Verify(hash of %+q, %+q) = %v, %v; want %v, nil", tc.hashed, tc.attempt, ok, err, tc.want)
			}
		})
	}
}

// TestVerifyRawLegacyHash checks that hashes made before normalization,
// from a password sent decomposed, still verify and ask to be replaced.
func TestVerifyRawLegacyHash(t *testing.T) {
	h := password.NewHasher(cheap)
	tests := []struct {
		name       string
		raw        string // what the old Hash was given
		attempt    string
		wantOK     bool
		wantRehash bool
	}{
		{"NFDTypedAgain", dessertNFD, dessertNFD, true, true},
		{"JamoTypedAgain", hangulJamo, hangulJamo, true, true},
		// An NFC hash made the old way is what the new Hash makes: nothing
		// to upgrade.
		{"NFCTypedAgain", dessertNFC, dessertNFC, true, false},
		{"NFDHashNFDAttemptWrong", dessertNFD, "cafe\u0301-cre\u0300me-bru\u0302le\u0301e!", false, false},
		// The old hash of the decomposed bytes cannot be matched by a
		// precomposed attempt: that device never worked and still does not,
		// until a login from the original device upgrades the hash.
		{"NFDHashNFCAttempt", dessertNFD, dessertNFC, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			encoded := rawHash(t, tc.raw)
			ok, rehash, err := h.VerifyRehash(encoded, tc.attempt)
			if err != nil || ok != tc.wantOK || rehash != tc.wantRehash {
				t.Fatalf("VerifyRehash(raw hash of %+q, %+q) = %v, %v, %v; want %v, %v, nil", tc.raw, tc.attempt, ok, rehash, err, tc.wantOK, tc.wantRehash)
			}
			if !ok || !rehash {
				return
			}
			// What the caller does next: store a fresh hash, which every
			// spelling now matches without a rehash.
			upgraded := mustHash(t, h, tc.attempt)
			for _, attempt := range []string{tc.attempt, password.Normalize(tc.attempt)} {
				if ok, rehash, err := h.VerifyRehash(upgraded, attempt); !ok || rehash || err != nil {
					t.Fatalf("VerifyRehash(upgraded, %+q) = %v, %v, %v; want true, false, nil", attempt, ok, rehash, err)
				}
			}
		})
	}
}

func TestVerifyRehash(t *testing.T) {
	h := password.NewHasher(cheap)
	const pw = "correct horse battery staple"
	tests := []struct {
		name       string
		encoded    string
		attempt    string
		wantOK     bool
		wantRehash bool
	}{
		{"Current", mustHash(t, h, pw), pw, true, false},
		{"CurrentWrong", mustHash(t, h, pw), pw + "!", false, false},
		{"OtherParams", mustHash(t, password.NewHasher(password.Params{Memory: 128, Time: 1, Threads: 1}), pw), pw, true, true},
		{"OtherParamsWrong", mustHash(t, password.NewHasher(password.Params{Memory: 128, Time: 1, Threads: 1}), pw), "x", false, false},
		{"RawNFD", rawHash(t, dessertNFD), dessertNFD, true, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, rehash, err := h.VerifyRehash(tc.encoded, tc.attempt)
			if err != nil || ok != tc.wantOK || rehash != tc.wantRehash {
				t.Fatalf("VerifyRehash = %v, %v, %v; want %v, %v, nil", ok, rehash, err, tc.wantOK, tc.wantRehash)
			}
		})
	}
	t.Run("Malformed", func(t *testing.T) {
		ok, rehash, err := h.VerifyRehash("not a hash", dessertNFD)
		if ok || rehash || !errors.Is(err, password.ErrMalformedHash) {
			t.Fatalf("VerifyRehash(malformed) = %v, %v, %v; want false, false, ErrMalformedHash", ok, rehash, err)
		}
	})
}
