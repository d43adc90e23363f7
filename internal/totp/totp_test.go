package totp_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/watchword/watchword/internal/totp"
)

// fixedNow is the middle of a step, so ±Period/2 of jitter stays in it.
var fixedNow = time.Unix(1_700_000_015, 0)

func TestStep(t *testing.T) {
	tests := []struct {
		name string
		unix int64
		want int64
	}{
		{"Epoch", 0, 0},
		{"EndOfFirstStep", 29, 0},
		{"SecondStep", 30, 1},
		{"RFC59", 59, 1},
		{"RFC1111111109", 1111111109, 0x23523EC},
		{"RFC2000000000", 2000000000, 0x3F940AA},
		{"Beyond2038", 20000000000, 0x27BC86AA},
		{"BeforeEpochFloors", -1, -1},
		{"BeforeEpochBoundary", -30, -1},
		{"BeforeEpochPast", -31, -2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := totp.Step(time.Unix(tc.unix, 0)); got != tc.want {
				t.Fatalf("got %d, want %d", got, tc.want)
			}
		})
	}
	// Sub-second parts and the time zone do not matter.
	a := totp.Step(time.Unix(59, 999_999_999).In(time.FixedZone("X", 5*3600)))
	if a != 1 {
		t.Fatalf("got %d, want 1", a)
	}
}

func TestNewSecret(t *testing.T) {
	a, err := totp.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := totp.NewSecret(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != totp.SecretSize || len(b) != totp.SecretSize {
		t.Fatalf("got %d and %d bytes, want %d", len(a), len(b), totp.SecretSize)
	}
	if bytes.Equal(a, b) {
		t.Fatal("two secrets are equal")
	}

	t.Run("ShortReader", func(t *testing.T) {
		_, err := totp.NewSecret(bytes.NewReader(make([]byte, totp.SecretSize-1)))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("got %v, want ErrUnexpectedEOF", err)
		}
	})
	t.Run("FailingReader", func(t *testing.T) {
		boom := errors.New("boom")
		if _, err := totp.NewSecret(iotest.ErrReader(boom)); !errors.Is(err, boom) {
			t.Fatalf("got %v, want %v", err, boom)
		}
	})
}

func TestEncodeSecret(t *testing.T) {
	tests := []struct {
		name             string
		secret           []byte
		encoded, grouped string
	}{
		{"RFCSeed", []byte("12345678901234567890"),
			"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "GEZD GNBV GY3T QOJQ GEZD GNBV GY3T QOJQ"},
		{"NoPadding", []byte("Hello!\xde\xad\xbe\xef"), "JBSWY3DPEHPK3PXP", "JBSW Y3DP EHPK 3PXP"},
		{"PartialGroup", []byte{0xff}, "74", "74"},
		{"Empty", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := totp.EncodeSecret(tc.secret); got != tc.encoded {
				t.Errorf("EncodeSecret: got %q, want %q", got, tc.encoded)
			}
			if got := totp.GroupSecret(tc.secret); got != tc.grouped {
				t.Errorf("GroupSecret: got %q, want %q", got, tc.grouped)
			}
		})
	}
	s := make([]byte, totp.SecretSize)
	if got := totp.EncodeSecret(s); len(got) != 32 || strings.Contains(got, "=") {
		t.Errorf("EncodeSecret of %d bytes: got %q, want 32 characters without padding", totp.SecretSize, got)
	}
}

func TestCode(t *testing.T) {
	secret := []byte("12345678901234567890")
	c := totp.Code(secret, totp.Step(fixedNow))
	if len(c) != totp.Digits || strings.Trim(c, "0123456789") != "" {
		t.Fatalf("got %q, want %d digits", c, totp.Digits)
	}
}

func TestVerifyWindow(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := totp.Step(fixedNow)
	tests := []struct {
		name   string
		offset int64 // step of the code relative to now
		center int
		window int
		wantOK bool
	}{
		{"Minus2", -2, 0, 1, false},
		{"Minus1", -1, 0, 1, true},
		{"Now", 0, 0, 1, true},
		{"Plus1", 1, 0, 1, true},
		{"Plus2", 2, 0, 1, false},
		{"WindowZeroNow", 0, 0, 0, true},
		{"WindowZeroPlus1", 1, 0, 0, false},
		{"Center4", 4, 4, 1, true},
		{"Center4Low", 3, 4, 1, true},
		{"Center4High", 5, 4, 1, true},
		{"Center4TooLow", 2, 4, 1, false},
		{"Center4NotNow", 0, 4, 1, false},
		{"CenterMinus3", -3, -3, 0, true},
		{"DriftEdge", totp.MaxDriftSteps, 0, totp.MaxDriftSteps, true},
		{"DriftBeyond", totp.MaxDriftSteps + 1, 0, totp.MaxDriftSteps, false},
		{"DriftEdgeNegative", -totp.MaxDriftSteps, 0, totp.MaxDriftSteps, true},
		{"WindowTooLarge", 0, 0, totp.MaxDriftSteps + 1, false},
		{"WindowNegative", 0, 0, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			step := now + tc.offset
			m, ok := totp.Verify(secret, totp.Code(secret, step), fixedNow, tc.center, tc.window)
			if ok != tc.wantOK {
				t.Fatalf("got ok %v, want %v", ok, tc.wantOK)
			}
			want := totp.Match{}
			if tc.wantOK {
				want = totp.Match{Step: step, Offset: int(tc.offset)}
			}
			if m != want {
				t.Fatalf("got %+v, want %+v", m, want)
			}
		})
	}
}

func TestVerifyRejects(t *testing.T) {
	secret := []byte("12345678901234567890")
	good := totp.Code(secret, totp.Step(fixedNow))
	wrong := []byte(good)
	wrong[5] = '0' + (wrong[5]-'0'+1)%10
	tests := []struct {
		name   string
		secret []byte
		code   string
	}{
		{"Wrong", secret, string(wrong)},
		{"Empty", secret, ""},
		{"FiveDigits", secret, good[:5]},
		{"SevenDigits", secret, good + "0"},
		{"ArabicIndicDigits", secret, "١٢٣٤٥٦"},
		{"FullwidthDigits", secret, "１２３４５６"},
		{"Letter", secret, good[:5] + "a"},
		{"LeadingSpace", secret, " " + good[:5]},
		{"TrailingSpace", secret, good + " "},
		{"TrailingNewline", secret, good + "\n"},
		{"Signed", secret, "+" + good[1:]},
		{"NUL", secret, good[:5] + "\x00"},
		{"OtherSecret", []byte("09876543210987654321"), good},
		{"EmptySecret", nil, totp.Code(nil, totp.Step(fixedNow))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if m, ok := totp.Verify(tc.secret, tc.code, fixedNow, 0, 1); ok || m != (totp.Match{}) {
				t.Fatalf("got %+v, %v; want rejection", m, ok)
			}
		})
	}
	if _, ok := totp.Verify(secret, good, fixedNow, 0, 1); !ok {
		t.Fatal("control: the good code was rejected")
	}
}

func TestVerifyExtremes(t *testing.T) {
	secret := []byte("12345678901234567890")
	tests := []struct {
		name   string
		now    time.Time
		center int
	}{
		{"BeforeEpoch", time.Unix(-1000, 0), 0},
		{"HugeCenter", fixedNow, int(^uint(0) >> 1)},
		{"HugeNegativeCenter", fixedNow, -int(^uint(0)>>1) - 1},
		{"FarFuture", time.Unix(1<<62, 0), int(^uint(0) >> 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Must not panic; codes of nonexistent steps never match.
			if m, ok := totp.Verify(secret, "000000", tc.now, tc.center, totp.MaxDriftSteps); ok && m.Step < 0 {
				t.Fatalf("matched negative step %d", m.Step)
			}
		})
	}
}

func FuzzVerify(f *testing.F) {
	secret := []byte("12345678901234567890")
	now := fixedNow.Unix()
	f.Add(secret, totp.Code(secret, totp.Step(fixedNow)), now, 0, 1)
	f.Add(secret, totp.Code(secret, totp.Step(fixedNow)+4), now, 4, 1)
	f.Add([]byte{}, "123456", int64(0), 0, 0)
	f.Add(secret, "١٢٣٤٥٦", now, -3, 10)
	f.Add(secret, "12345", int64(-1), 1<<40, 11)
	f.Fuzz(func(t *testing.T, secret []byte, code string, unix int64, center, window int) {
		now := time.Unix(unix, 0)
		m, ok := totp.Verify(secret, code, now, center, window)
		if !ok {
			return
		}
		if got := totp.Code(secret, m.Step); got != code {
			t.Fatalf("matched step %d has code %q, not %q", m.Step, got, code)
		}
		if m.Step-totp.Step(now) != int64(m.Offset) {
			t.Fatalf("offset %d does not match step %d at now step %d", m.Offset, m.Step, totp.Step(now))
		}
		if d := m.Offset - center; d < -window || d > window {
			t.Fatalf("offset %d outside %d±%d", m.Offset, center, window)
		}
	})
}

func benchmarkVerify(b *testing.B, window int) {
	secret := bytes.Repeat([]byte{0x42}, totp.SecretSize)
	code := totp.Code(secret, totp.Step(fixedNow))
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := totp.Verify(secret, code, fixedNow, 0, window); !ok {
			b.Fatal("rejected")
		}
	}
}

func BenchmarkVerify(b *testing.B)      { benchmarkVerify(b, 1) }
func BenchmarkVerifyDrift(b *testing.B) { benchmarkVerify(b, totp.MaxDriftSteps) }
