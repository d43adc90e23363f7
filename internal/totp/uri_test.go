package totp_test

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pquerna/otp"

	"github.com/watchword/watchword/internal/totp"
)

func TestURI(t *testing.T) {
	secret := []byte("12345678901234567890")
	const enc = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	tests := []struct {
		name, issuer, account string
		want                  string
	}{
		{"Plain", "Watchword", "alice@example.com",
			"otpauth://totp/Watchword:alice@example.com?secret=" + enc + "&issuer=Watchword&algorithm=SHA1&digits=6&period=30"},
		{"Escaping", "My Bank", "a+b@example.com",
			"otpauth://totp/My%20Bank:a+b@example.com?secret=" + enc + "&issuer=My%20Bank&algorithm=SHA1&digits=6&period=30"},
		{"ColonAndQueryCharacters", "A:B&C=D", "x/y?z#w",
			"otpauth://totp/A%3AB&C=D:x%2Fy%3Fz%23w?secret=" + enc + "&issuer=A%3AB%26C%3DD&algorithm=SHA1&digits=6&period=30"},
		{"NonASCII", "Bänk", "zoë",
			"otpauth://totp/B%C3%A4nk:zo%C3%AB?secret=" + enc + "&issuer=B%C3%A4nk&algorithm=SHA1&digits=6&period=30"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := totp.URI(tc.issuer, tc.account, secret)
			if got != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			// Whatever the escaping, a URI parser must get the parts back.
			u, err := url.Parse(got)
			if err != nil {
				t.Fatal(err)
			}
			if want := "/" + tc.issuer + ":" + tc.account; u.Path != want {
				t.Errorf("path: got %q, want %q", u.Path, want)
			}
			q := u.Query()
			if q.Get("issuer") != tc.issuer || q.Get("secret") != enc {
				t.Errorf("query: got %v", q)
			}
			// And so must pquerna's reader, a stand-in for an app.
			k, err := otp.NewKeyFromURL(got)
			if err != nil {
				t.Fatal(err)
			}
			if k.Type() != "totp" || k.Issuer() != tc.issuer || k.Secret() != enc ||
				k.Algorithm() != otp.AlgorithmSHA1 || k.Digits() != otp.DigitsSix || k.Period() != 30 {
				t.Errorf("key: type %s issuer %q secret %s alg %v digits %v period %d",
					k.Type(), k.Issuer(), k.Secret(), k.Algorithm(), k.Digits(), k.Period())
			}
		})
	}
}

func TestQRPNG(t *testing.T) {
	tests := []struct {
		name, uri string
	}{
		{"Typical", totp.URI("Watchword", "alice@example.com", []byte("12345678901234567890"))},
		{"Long", totp.URI(strings.Repeat("Issuer ", 20), strings.Repeat("x", 120)+"@example.com", bytes.Repeat([]byte{7}, 64))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data, err := totp.QRPNG(tc.uri)
			if err != nil {
				t.Fatal(err)
			}
			if ct := http.DetectContentType(data); ct != "image/png" {
				t.Fatalf("content type: got %s, want image/png", ct)
			}
			img, err := png.Decode(bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			b := img.Bounds()
			if b.Dx() < 256 || b.Dy() != b.Dx() {
				t.Fatalf("size: got %dx%d, want square ≥ 256", b.Dx(), b.Dy())
			}
			checkQuietZone(t, img)
		})
	}
}

// checkQuietZone measures the module size from the top-left finder pattern
// (its top edge is 7 dark modules) and checks it sits behind a light margin
// of 4 modules on the top and left; the bottom and right margins must be at
// least as wide.
func checkQuietZone(t *testing.T, img image.Image) {
	t.Helper()
	b := img.Bounds()
	dark := func(x, y int) bool {
		g := color.GrayModel.Convert(img.At(x, y)).(color.Gray)
		return g.Y < 128
	}
	first := -1
	for d := 0; d < b.Dx() && first < 0; d++ {
		if dark(d, d) {
			first = d
		}
	}
	if first < 0 {
		t.Fatal("no dark pixel on the diagonal")
	}
	run := 0
	for x := first; x < b.Dx() && dark(x, first); x++ {
		run++
	}
	if run%7 != 0 {
		t.Fatalf("finder pattern top edge is %d px, not a multiple of 7", run)
	}
	module := run / 7
	if first != 4*module {
		t.Fatalf("quiet zone: %d px, want 4 modules of %d px", first, module)
	}
	for i := 0; i < b.Dx(); i++ {
		for j := 0; j < 4*module; j++ {
			if dark(i, j) || dark(j, i) || dark(i, b.Dy()-1-j) || dark(b.Dx()-1-j, i) {
				t.Fatalf("dark pixel in the quiet zone near (%d, %d)", i, j)
			}
		}
	}
}
