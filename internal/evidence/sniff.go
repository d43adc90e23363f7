package evidence

import (
	"bytes"
	"encoding/binary"
)

// Content types of the files this package stores and serves; nothing else
// is ever stored or served.
const (
	TypeJPEG      = "image/jpeg"
	TypePNG       = "image/png"
	TypeMP4       = "video/mp4"
	TypeQuickTime = "video/quicktime"
	TypeWebM      = "video/webm"
)

// sniffLen is how many first bytes decide an upload's type.
const sniffLen = 512

// sniffImage returns the type of an image from its first bytes, or "".
// Only JPEG and PNG: no SVG (a document with scripts), no GIF, WebP or
// HEIC, which the standard library cannot decode.
func sniffImage(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\xFF\xD8\xFF")):
		return TypeJPEG
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1A\n")):
		return TypePNG
	}
	return ""
}

// sniffVideo returns the type of a video from its first bytes, or "": an
// ISO base media file (MP4, QuickTime .mov) that opens with an ftyp box
// naming a video brand, or a WebM (Matroska) file whose EBML header names
// the doc type webm or matroska. Old QuickTime files without an ftyp box
// are refused; phones have written one for many years.
func sniffVideo(head []byte) string {
	if t := sniffISOBMFF(head); t != "" {
		return t
	}
	return sniffEBML(head)
}

// Brands of the ftyp box that are video containers a browser plays.
// Image brands of the same container family (HEIC, AVIF: "heic", "mif1",
// "avif"…) are absent on purpose.
var (
	quickTimeBrands = map[string]bool{"qt  ": true}
	mp4Brands       = map[string]bool{
		"isom": true, "iso2": true, "iso3": true, "iso4": true, "iso5": true, "iso6": true,
		"iso7": true, "iso8": true, "iso9": true, "mp41": true, "mp42": true, "mp71": true,
		"avc1": true, "dash": true, "M4V ": true, "M4VH": true, "M4VP": true, "MSNV": true,
		"3gp4": true, "3gp5": true, "3gp6": true, "3gp7": true, "3gp8": true, "3gp9": true,
		"3g2a": true, "3g2b": true, "3g2c": true, "f4v ": true, "XAVC": true, "kddi": true,
	}
)

// sniffISOBMFF reads the ftyp box: size (4 bytes, big-endian), "ftyp",
// the major brand, a minor version and compatible brands. The type is
// QuickTime when the major brand is "qt  ", MP4 when the major brand, or
// else a compatible one, is a video brand.
func sniffISOBMFF(head []byte) string {
	if len(head) < 16 || string(head[4:8]) != "ftyp" {
		return ""
	}
	size := binary.BigEndian.Uint32(head)
	if size < 16 || size%4 != 0 || size > 4096 {
		return ""
	}
	box := head[:min(int(size), len(head))]
	major := string(box[8:12])
	switch {
	case quickTimeBrands[major]:
		return TypeQuickTime
	case mp4Brands[major]:
		return TypeMP4
	}
	for i := 16; i+4 <= len(box); i += 4 {
		b := string(box[i : i+4])
		if quickTimeBrands[b] {
			return TypeQuickTime
		}
		if mp4Brands[b] {
			return TypeMP4
		}
	}
	return ""
}

// EBML element ids of a WebM header.
const (
	ebmlMagic   = "\x1A\x45\xDF\xA3"
	ebmlDocType = 0x4282
)

// sniffEBML reads the EBML header element (magic, size, then child
// elements) and returns TypeWebM when its DocType is webm or matroska.
func sniffEBML(head []byte) string {
	if !bytes.HasPrefix(head, []byte(ebmlMagic)) {
		return ""
	}
	size, n := ebmlVint(head[4:], true)
	if n == 0 {
		return ""
	}
	body := head[4+n:]
	if size >= 0 && size < int64(len(body)) {
		body = body[:size]
	}
	for len(body) > 0 {
		id, n := ebmlVint(body, false)
		if n == 0 {
			return ""
		}
		body = body[n:]
		size, n := ebmlVint(body, true)
		if n == 0 || size < 0 || size > int64(len(body)-n) {
			return ""
		}
		value := body[n : n+int(size)]
		body = body[n+int(size):]
		if id == ebmlDocType {
			switch string(bytes.TrimRight(value, "\x00")) {
			case "webm", "matroska":
				return TypeWebM
			}
			return ""
		}
	}
	return ""
}

// ebmlVint decodes an EBML variable-size integer at the start of b and
// returns it with its length in bytes (0 when malformed or cut off). An
// element id keeps its length marker; a size drops it, and the all-ones
// size ("unknown") is returned as -1.
func ebmlVint(b []byte, isSize bool) (int64, int) {
	if len(b) == 0 || b[0] == 0 {
		return 0, 0
	}
	n := 1
	for mask := byte(0x80); b[0]&mask == 0; mask >>= 1 {
		n++
	}
	if n > 8 || len(b) < n {
		return 0, 0
	}
	if !isSize {
		if n > 4 {
			return 0, 0
		}
		var v int64
		for _, c := range b[:n] {
			v = v<<8 | int64(c)
		}
		return v, n
	}
	v := int64(b[0] & (0xFF >> n))
	allOnes := v == int64(0xFF>>n)
	for _, c := range b[1:n] {
		v = v<<8 | int64(c)
		allOnes = allOnes && c == 0xFF
	}
	if allOnes {
		return -1, n
	}
	return v, n
}
