package password_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/password"
)

// cheap keeps the suite fast under -race; tests that need the real cost
// say so.
var cheap = password.Params{Memory: 64, Time: 1, Threads: 1}

func mustHash(t testing.TB, h *password.Hasher, pw string) string {
	t.Helper()
	encoded, err := h.Hash(pw)
	if err != nil {
		t.Fatalf("Hash(%q): %v", pw, err)
	}
	return encoded
}

func TestHashFormat(t *testing.T) {
	encoded := mustHash(t, password.NewHasher(cheap), "correct horse battery staple")
	fields := strings.Split(encoded, "$")
	if len(fields) != 6 || fields[0] != "" || fields[1] != "argon2id" || fields[2] != "v=19" || fields[3] != "m=64,t=1,p=1" {
		t.Fatalf("got %q, want $argon2id$v=19$m=64,t=1,p=1$<salt>$<key>", encoded)
	}
	// 16-byte salt and 32-byte key in unpadded base64.
	if len(fields[4]) != 22 || len(fields[5]) != 43 || strings.Contains(encoded, "=$") {
		t.Fatalf("salt %q (want 22 chars), key %q (want 43 chars)", fields[4], fields[5])
	}
}

func TestHashVerify(t *testing.T) {
	h := password.NewHasher(cheap)
	long := strings.Repeat("0123456789", 10) // 100 bytes, past bcrypt's 72
	tests := []struct {
		name      string
		password  string
		attempts  map[string]bool // attempt -> want match
		wantMatch bool
	}{
		{
			name:     "Passphrase",
			password: "Correct Horse Battery Staple",
			attempts: map[string]bool{
				"Correct Horse Battery Staple":  true,
				"correct horse battery staple":  false, // case changed
				"cORRECT hORSE bATTERY sTAPLE":  false, // caps lock
				"Correct Horse Battery Staple ": false,
				"Correct Horse Battery Stapl":   false,
				"":                              false,
			},
		},
		{
			name:     "SurroundingSpaces",
			password: "  spaced out  ",
			attempts: map[string]bool{
				"  spaced out  ": true,
				"spaced out":     false, // trimmed
				"  spaced out":   false,
			},
		},
		{
			name:     "Long",
			password: long,
			attempts: map[string]bool{
				long:       true,
				long[:72]:  false, // bcrypt-style truncation
				long[:99]:  false,
				long + "x": false,
			},
		},
		{
			name:     "Unicode",
			password: "café-пароль-🐙",
			attempts: map[string]bool{
				"café-пароль-🐙":       true,
				"cafe\u0301-пароль-🐙": true, // NFD: normalized to the same NFC
				"CAFÉ-ПАРОЛЬ-🐙":       false,
				"cafe-пароль-🐙":       false, // accent dropped
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			encoded := mustHash(t, h, tc.password)
			for attempt, want := range tc.attempts {
				got, err := h.Verify(encoded, attempt)
				if err != nil {
					t.Fatalf("Verify(%q): %v", attempt, err)
				}
				if got != want {
					t.Errorf("Verify(%q) = %v, want %v", attempt, got, want)
				}
			}
		})
	}
}

func TestHashIsSalted(t *testing.T) {
	h := password.NewHasher(cheap)
	a, b := mustHash(t, h, "same password"), mustHash(t, h, "same password")
	if a == b {
		t.Fatalf("two hashes of the same password are equal: %q", a)
	}
	for _, encoded := range []string{a, b} {
		if ok, err := h.Verify(encoded, "same password"); !ok || err != nil {
			t.Fatalf("Verify(%q) = %v, %v; want true, nil", encoded, ok, err)
		}
	}
}

// TestVerifyUsesStoredParams checks that raising the cost does not lock out
// users whose hash was made with the old parameters.
func TestVerifyUsesStoredParams(t *testing.T) {
	encoded := mustHash(t, password.NewHasher(cheap), "old cheap hash")
	h := password.NewHasher(password.DefaultParams)
	if ok, err := h.Verify(encoded, "old cheap hash"); !ok || err != nil {
		t.Fatalf("Verify = %v, %v; want true, nil", ok, err)
	}
	if ok, err := h.Verify(encoded, "old cheap hasH"); ok || err != nil {
		t.Fatalf("Verify(wrong) = %v, %v; want false, nil", ok, err)
	}
}

// A hash of "pw" with cheap params, for tests that tamper with it.
const validHash = "$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$TZSlzJmRkFcqyPQs0sJC+6sJmkWPIPHUVKGs/dtXmwI"

func TestVerifyKnownHashes(t *testing.T) {
	h := password.NewHasher(cheap)
	tests := []struct {
		name     string
		encoded  string
		password string
	}{
		{"Cheap", validHash, "pw"},
		// From the Argon2 reference implementation's test.c: hashes made
		// elsewhere, with an 8-byte salt, verify too.
		{"Reference", "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc", "password"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name == "Reference" && testing.Short() {
				t.Skip("64 MiB hash; skipped in -short")
			}
			if ok, err := h.Verify(tc.encoded, tc.password); !ok || err != nil {
				t.Fatalf("Verify(%q, %q) = %v, %v; want true, nil", tc.encoded, tc.password, ok, err)
			}
		})
	}
}

func TestVerifyMalformed(t *testing.T) {
	h := password.NewHasher(cheap)
	salt := "AAAAAAAAAAAAAAAAAAAAAA"
	key := "TZSlzJmRkFcqyPQs0sJC+6sJmkWPIPHUVKGs/dtXmwI"
	tests := []struct {
		name    string
		encoded string
	}{
		{"Empty", ""},
		{"Dollar", "$"},
		{"Plaintext", "pw"},
		{"Bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"NoLeadingDollar", "argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"MissingKey", "$argon2id$v=19$m=64,t=1,p=1$" + salt},
		{"ExtraField", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key + "$"},
		{"Argon2i", "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"Argon2d", "$argon2d$v=19$m=64,t=1,p=1$" + salt + "$" + key},
		{"OldVersion", "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + key},
		{"NoVersion", "$argon2id$m=64,t=1,p=1$" + salt + "$" + key},
		{"BadParams", "$argon2id$v=19$m=64,t=1$" + salt + "$" + key},
		{"ZeroTime", "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + key},
		{"ZeroThreads", "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + key},
		{"HugeMemory", "$argon2id$v=19$m=4294967295,t=1,p=1$" + salt + "$" + key},
		{"HugeTime", "$argon2id$v=19$m=64,t=4000000000,p=1$" + salt + "$" + key},
		{"SaltNotBase64", "$argon2id$v=19$m=64,t=1,p=1$!!!!$" + key},
		{"SaltPadded", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + key},
		{"SaltTooShort", "$argon2id$v=19$m=64,t=1,p=1$AAAA$" + key},
		{"EmptySalt", "$argon2id$v=19$m=64,t=1,p=1$$" + key},
		{"KeyNotBase64", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + key[:42] + "*"},
		{"KeyTooShort", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$AAAA"},
		{"KeyTooLong", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 100)},
		{"EmptyKey", "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$"},
		{"NonCanonicalBase64", "$argon2id$v=19$m=64,t=1,p=1$" + salt[:21] + "B$" + key},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := h.Verify(tc.encoded, "pw")
			if ok || !errors.Is(err, password.ErrMalformedHash) {
				t.Fatalf("Verify(%q) = %v, %v; want false, ErrMalformedHash", tc.encoded, ok, err)
			}
			if !h.NeedsRehash(tc.encoded) {
				t.Errorf("NeedsRehash(%q) = false, want true", tc.encoded)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h := password.NewHasher(cheap)
	current := mustHash(t, h, "pw")
	other := func(p password.Params) string { return mustHash(t, password.NewHasher(p), "pw") }
	tests := []struct {
		name    string
		encoded string
		want    bool
	}{
		{"Current", current, false},
		{"MoreMemory", other(password.Params{Memory: 128, Time: 1, Threads: 1}), true},
		{"MoreTime", other(password.Params{Memory: 64, Time: 2, Threads: 1}), true},
		{"MoreThreads", other(password.Params{Memory: 64, Time: 1, Threads: 2}), true},
		{"ShortKey", "$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", true},
		{"Malformed", "not a hash", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.NeedsRehash(tc.encoded); got != tc.want {
				t.Fatalf("NeedsRehash(%q) = %v, want %v", tc.encoded, got, tc.want)
			}
		})
	}
	if !password.NewHasher(password.DefaultParams).NeedsRehash(current) {
		t.Error("a cheap hash does not need a rehash under DefaultParams")
	}
}

func TestVerifyDummy(t *testing.T) {
	// VerifyDummy has no result to check; it must not panic and must be
	// safe to call concurrently (the suite runs under -race).
	h := password.NewHasher(cheap)
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			h.VerifyDummy("anything")
		}()
	}
	for range 4 {
		<-done
	}
}

func TestNewHasherPanicsOnBadParams(t *testing.T) {
	for _, p := range []password.Params{{}, {Memory: 64, Time: 0, Threads: 1}, {Memory: 7, Time: 1, Threads: 1}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewHasher(%v) did not panic", p)
				}
			}()
			password.NewHasher(p)
		}()
	}
}

func FuzzVerify(f *testing.F) {
	h := password.NewHasher(cheap)
	f.Add(validHash, "pw")
	f.Add(validHash, "")
	f.Add("$argon2id$v=19$m=64,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$", "pw")
	f.Add("$argon2id$v=19$m=8,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "x")
	f.Add("$argon2i$v=19$m=64,t=1,p=1$AAAA$AAAA", "pw")
	f.Add("$$$$$", "\xff")
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		// Well-formed hashes with a high cost are legal but would make the
		// fuzzer crawl; the bounds themselves are tested in TestParseParams.
		if fields := strings.Split(encoded, "$"); len(fields) > 3 {
			if p, err := password.ParseParams(fields[3]); err == nil && (p.Memory > 1024 || p.Time > 4) {
				t.Skip()
			}
		}
		ok, err := h.Verify(encoded, pw)
		if err != nil && ok {
			t.Fatalf("Verify(%q) = true with error %v", encoded, err)
		}
		if err != nil && !errors.Is(err, password.ErrMalformedHash) {
			t.Fatalf("Verify(%q) error %v does not wrap ErrMalformedHash", encoded, err)
		}
		if err != nil && !h.NeedsRehash(encoded) {
			t.Fatalf("NeedsRehash(%q) = false for a malformed hash", encoded)
		}
	})
}

// BenchmarkHash measures the bare argon2id cost with DefaultParams: the
// floor of every login and sign-up.
func BenchmarkHash(b *testing.B) {
	h := password.NewHasher(password.DefaultParams)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
