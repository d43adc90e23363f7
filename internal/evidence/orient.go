package evidence

import (
	"bytes"
	"encoding/binary"
	"image"
	"io"
)

// jpegOrientation returns the EXIF orientation (1 to 8) found in the
// first bytes of a JPEG, or 1 when there is none. The staff copy is
// re-encoded without EXIF, so the orientation is applied to its pixels
// instead (a phone photo would otherwise show on its side).
func jpegOrientation(b []byte) int {
	if len(b) < 2 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	for i := 2; i+4 <= len(b); {
		if b[i] != 0xFF {
			return 1
		}
		m := b[i+1]
		switch {
		case m == 0xFF: // fill byte
			i++
			continue
		case m == 0x01 || (0xD0 <= m && m <= 0xD8): // no length
			i += 2
			continue
		case m == 0xDA || m == 0xD9: // start of scan, end of image: no more metadata
			return 1
		}
		end := i + 2 + int(binary.BigEndian.Uint16(b[i+2:]))
		if end < i+4 {
			return 1
		}
		if m == 0xE1 {
			if o := exifOrientation(b[i+4 : min(end, len(b))]); o != 0 {
				return o
			}
		}
		i = end
	}
	return 1
}

// exifOrientation returns the Orientation tag (0x0112) of IFD0 in the
// body of an APP1 segment, or 0 when it is not EXIF or has no valid tag.
func exifOrientation(seg []byte) int {
	const exifHeader = "Exif\x00\x00"
	if !bytes.HasPrefix(seg, []byte(exifHeader)) {
		return 0
	}
	t := seg[len(exifHeader):] // a TIFF file
	if len(t) < 8 {
		return 0
	}
	var bo binary.ByteOrder
	switch string(t[:4]) {
	case "II*\x00":
		bo = binary.LittleEndian
	case "MM\x00*":
		bo = binary.BigEndian
	default:
		return 0
	}
	off := uint64(bo.Uint32(t[4:]))
	if off < 8 || off+2 > uint64(len(t)) {
		return 0
	}
	count := int(bo.Uint16(t[off:]))
	p := int(off) + 2
	for k := 0; k < count && p+12 <= len(t); k, p = k+1, p+12 {
		if bo.Uint16(t[p:]) != 0x0112 {
			continue
		}
		if bo.Uint16(t[p+2:]) != 3 { // SHORT
			return 0
		}
		if v := int(bo.Uint16(t[p+8:])); 1 <= v && v <= 8 {
			return v
		}
		return 0
	}
	return 0
}

// applyOrientation returns img turned and flipped as EXIF orientation o
// says it must be shown; img itself for 1 or an unknown value.
func applyOrientation(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	r := image.Rect(0, 0, dw, dh)
	// to maps a pixel (x, y) of img, relative to its corner, to the result.
	to := func(x, y int) (int, int) {
		switch o {
		case 2: // mirrored
			return w - 1 - x, y
		case 3: // turned 180°
			return w - 1 - x, h - 1 - y
		case 4: // mirrored upside down
			return x, h - 1 - y
		case 5: // transposed
			return y, x
		case 6: // to be turned 90° clockwise
			return h - 1 - y, x
		case 7: // transversed
			return h - 1 - y, w - 1 - x
		default: // 8: to be turned 90° counter-clockwise
			return y, w - 1 - x
		}
	}
	switch src := img.(type) {
	case *image.YCbCr: // what color JPEGs decode to: stays YCbCr, 4:4:4
		dst := image.NewYCbCr(r, image.YCbCrSubsampleRatio444)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi, ci := src.YOffset(b.Min.X+x, b.Min.Y+y), src.COffset(b.Min.X+x, b.Min.Y+y)
				dx, dy := to(x, y)
				di := dst.YOffset(dx, dy) // = COffset at 4:4:4
				dst.Y[di], dst.Cb[di], dst.Cr[di] = src.Y[yi], src.Cb[ci], src.Cr[ci]
			}
		}
		return dst
	case *image.Gray:
		dst := image.NewGray(r)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dx, dy := to(x, y)
				dst.Pix[dst.PixOffset(dx, dy)] = src.Pix[src.PixOffset(b.Min.X+x, b.Min.Y+y)]
			}
		}
		return dst
	default: // CMYK JPEGs: rare, so the slow generic way
		dst := image.NewRGBA(r)
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				dx, dy := to(x, y)
				dst.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
			}
		}
		return dst
	}
}

// maxJPEGScans bounds the scans of a JPEG. The standard library decoder
// goes over every block of the image for each scan, so a few megabytes of
// nearly empty progressive scans would cost hours of CPU; ordinary
// progressive JPEGs have about ten (libjpeg-turbo suggests 100 as a
// limit, too).
const maxJPEGScans = 100

// jpegScans counts the scans (SOS segments) of a JPEG read from r,
// positioned after its SOI marker, up to the end of the image or until
// more than max are seen; discard skips bytes of r. Malformed data ends
// the count: the decoder will refuse it.
func jpegScans(r io.ByteReader, discard func(int) (int, error), max int) int {
	scans, inScan := 0, false
	for scans <= max {
		b, err := r.ReadByte()
		if err != nil {
			return scans
		}
		if b != 0xFF {
			if inScan {
				continue // entropy-coded data
			}
			return scans
		}
		m, err := r.ReadByte()
		for err == nil && m == 0xFF { // fill bytes
			m, err = r.ReadByte()
		}
		switch {
		case err != nil, m == 0xD9: // end of image
			return scans
		case m == 0x00 && inScan: // a stuffed 0xFF in entropy-coded data
			continue
		case 0xD0 <= m && m <= 0xD7, m == 0x01, m == 0xD8: // no length
			continue
		}
		hi, err1 := r.ReadByte()
		lo, err2 := r.ReadByte()
		n := int(hi)<<8 | int(lo)
		if err1 != nil || err2 != nil || n < 2 {
			return scans
		}
		if _, err := discard(n - 2); err != nil {
			return scans
		}
		inScan = m == 0xDA
		if inScan {
			scans++
		}
	}
	return scans
}
