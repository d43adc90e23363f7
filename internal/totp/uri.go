package totp

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/url"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// URI returns the otpauth:// key URI that authenticator apps import from a
// QR code:
//
//	otpauth://totp/ISSUER:ACCOUNT?secret=…&issuer=ISSUER&algorithm=SHA1&digits=6&period=30
//
// issuer and account are path-escaped in the label; a colon inside either is
// escaped too, since the one between them is the separator. Query values
// are escaped with spaces as %20 rather than "+", which some apps show
// literally. The parameters always come in this order.
func URI(issuer, account string, secret []byte) string {
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(labelEscape(issuer))
	b.WriteByte(':')
	b.WriteString(labelEscape(account))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(secret))
	b.WriteString("&issuer=")
	b.WriteString(queryEscape(issuer))
	fmt.Fprintf(&b, "&algorithm=SHA1&digits=%d&period=%d", Digits, periodSeconds)
	return b.String()
}

// labelEscape path-escapes one half of the label. url.PathEscape leaves ':'
// alone, which would move the issuer/account split.
func labelEscape(s string) string {
	return strings.ReplaceAll(url.PathEscape(s), ":", "%3A")
}

// queryEscape is url.QueryEscape with spaces as %20. QueryEscape escapes a
// literal '+' as %2B, so every '+' in its output stands for a space.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// QR rendering: error correction M (what Google's own enrolment uses, and
// what survives a slightly blurry phone photo of a screen), a quiet zone of
// 4 modules as the QR standard requires, and at least qrMinSize pixels so
// each module is several pixels wide on screen.
const (
	qrQuietModules = 4
	qrMinSize      = 256
)

// QRPNG renders uri as a black-on-white PNG QR code, error correction level
// M, with a 4-module quiet zone, at least 256x256 pixels.
func QRPNG(uri string) ([]byte, error) {
	sym, err := qr.Encode(uri, qr.M, qr.Auto)
	if err != nil {
		return nil, fmt.Errorf("totp: encode qr: %w", err)
	}
	modules := sym.Bounds().Dx()
	total := modules + 2*qrQuietModules
	scale := (qrMinSize + total - 1) / total // ceil, so the image is ≥ qrMinSize
	size := total * scale

	// A two-colour palette keeps the PNG small; index 0 (white) is the
	// zero value, so the quiet zone needs no drawing.
	img := image.NewPaletted(image.Rect(0, 0, size, size), color.Palette{color.White, color.Black})
	for my := 0; my < modules; my++ {
		for mx := 0; mx < modules; mx++ {
			if r, _, _, _ := sym.At(mx, my).RGBA(); r >= 0x8000 {
				continue // light module
			}
			x0 := (mx + qrQuietModules) * scale
			y0 := (my + qrQuietModules) * scale
			for y := y0; y < y0+scale; y++ {
				row := img.Pix[y*img.Stride+x0 : y*img.Stride+x0+scale]
				for i := range row {
					row[i] = 1
				}
			}
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("totp: encode png: %w", err)
	}
	return buf.Bytes(), nil
}
