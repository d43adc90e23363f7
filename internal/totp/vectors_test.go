package totp_test

import (
	"bytes"
	"encoding/base32"
	"strconv"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"

	"github.com/watchword/watchword/internal/totp"
)

// rfcCode computes an RFC 4226 HOTP value with pquerna's hotp for any
// algorithm and digit count, so the RFC vectors (8 digits, SHA-256/512)
// can check the same primitive Code uses.
func rfcCode(t *testing.T, seed []byte, alg otp.Algorithm, digits otp.Digits, counter int64) string {
	t.Helper()
	secret := base32.StdEncoding.EncodeToString(seed)
	got, err := hotp.GenerateCodeCustom(secret, uint64(counter), hotp.ValidateOpts{Digits: digits, Algorithm: alg})
	if err != nil {
		t.Fatalf("GenerateCodeCustom: %v", err)
	}
	return got
}

// RFC 6238 Appendix B seeds. The RFC's text gives the 20-byte seed for all
// three; erratum 5132 (and the reference code) repeat it to the HMAC key
// size of SHA-256 and SHA-512.
var (
	seed20 = []byte("12345678901234567890")
	seed32 = []byte("12345678901234567890123456789012")
	seed64 = bytes.Repeat([]byte("12345678901234567890"), 4)[:64]
)

func TestRFC6238AppendixB(t *testing.T) {
	tests := []struct {
		unix                 int64
		sha1, sha256, sha512 string
	}{
		{59, "94287082", "46119246", "90693936"},
		{1111111109, "07081804", "68084774", "25091201"},
		{1111111111, "14050471", "67062674", "99943326"},
		{1234567890, "89005924", "91819424", "93441116"},
		{2000000000, "69279037", "90698825", "38618901"},
		{20000000000, "65353130", "77737706", "47863826"},
	}
	for _, tc := range tests {
		t.Run(strconv.FormatInt(tc.unix, 10), func(t *testing.T) {
			step := totp.Step(time.Unix(tc.unix, 0))
			for _, c := range []struct {
				name string
				seed []byte
				alg  otp.Algorithm
				want string
			}{
				{"SHA1", seed20, otp.AlgorithmSHA1, tc.sha1},
				{"SHA256", seed32, otp.AlgorithmSHA256, tc.sha256},
				{"SHA512", seed64, otp.AlgorithmSHA512, tc.sha512},
			} {
				if got := rfcCode(t, c.seed, c.alg, otp.DigitsEight, step); got != c.want {
					t.Errorf("%s: got %s, want %s", c.name, got, c.want)
				}
			}
			// A 6-digit code is the same value mod 10^6: the last six
			// digits of the SHA-1 vector. This ties Code itself to the RFC.
			if got, want := totp.Code(seed20, step), tc.sha1[2:]; got != want {
				t.Errorf("Code: got %s, want %s", got, want)
			}
		})
	}
}

func TestRFC4226AppendixD(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for counter, w := range want {
		if got := rfcCode(t, seed20, otp.AlgorithmSHA1, otp.DigitsSix, int64(counter)); got != w {
			t.Errorf("counter %d: got %s, want %s", counter, got, w)
		}
		if got := totp.Code(seed20, int64(counter)); got != w {
			t.Errorf("Code(counter %d): got %s, want %s", counter, got, w)
		}
	}
}
