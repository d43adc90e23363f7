package evidence

import (
	"bufio"
	"bytes"
	"testing"
)

// FuzzSniff runs the parsers of untrusted headers (type sniffing, the
// EXIF orientation, the JPEG scan count) on arbitrary bytes, many times
// faster than FuzzIngest can: they never panic and answer within their
// ranges.
func FuzzSniff(f *testing.F) {
	for _, seed := range []string{
		"\xFF\xD8\xFF\xE1\x00\x22Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00\xFF\xDA\x00\x02",
		"\xFF\xD8\xFF\xDA\x00\x02\x12\xFF\x00\x34\xFF\xD0\xFF\xDA\x00\x02\xFF\xD9",
		"\x89PNG\r\n\x1A\n",
		"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2",
		"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00qt  ",
		"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84webm\x42\x87\x81\x04",
		"\x1A\x45\xDF\xA3\x01\xFF\xFF\xFF\xFF\xFF\xFF\xFF\x42\x82\x88matroska",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		switch ct := sniffImage(b); ct {
		case "", TypeJPEG, TypePNG:
		default:
			t.Fatalf("sniffImage: %q", ct)
		}
		switch ct := sniffVideo(b); ct {
		case "", TypeMP4, TypeQuickTime, TypeWebM:
		default:
			t.Fatalf("sniffVideo: %q", ct)
		}
		if o := jpegOrientation(b); o < 1 || o > 8 {
			t.Fatalf("jpegOrientation: %d", o)
		}
		if o := exifOrientation(b); o < 0 || o > 8 {
			t.Fatalf("exifOrientation: %d", o)
		}
		r := bufio.NewReader(bytes.NewReader(b))
		if n := jpegScans(r, r.Discard, 5); n < 0 || n > 6 {
			t.Fatalf("jpegScans: %d", n)
		}
	})
}

func TestJPEGScans(t *testing.T) {
	tests := []struct {
		name string
		data string // after SOI
		want int
	}{
		{"None", "\xFF\xD9", 0},
		{"One", "\xFF\xDB\x00\x03\x00\xFF\xDA\x00\x03\x00\x12\x34\xFF\xD9", 1},
		{"StuffedAndRestart", "\xFF\xDA\x00\x02\x12\xFF\x00\x34\xFF\xD0\x56\xFF\xFF\xDA\x00\x02\x78\xFF\xD9", 2},
		{"SOSInsideAPP1", "\xFF\xE1\x00\x06\xFF\xDA\x00\x02\xFF\xDA\x00\x02\xFF\xD9", 1},
		{"AfterEOI", "\xFF\xDA\x00\x02\xFF\xD9\xFF\xDA\x00\x02", 1},
		{"Truncated", "\xFF\xDA\x00", 0},
		{"StopsPastMax", string(bytes.Repeat([]byte("\xFF\xDA\x00\x02"), 10)), 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader([]byte(tc.data)))
			if got := jpegScans(r, r.Discard, 3); got != tc.want {
				t.Fatalf("got %d scans, want %d", got, tc.want)
			}
		})
	}
}
