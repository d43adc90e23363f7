package password

import "golang.org/x/text/unicode/norm"

// Normalize returns pw in Unicode Normalization Form C (NFC), the form
// Hash, Verify and Policy.Check all work on.
//
// The same password can reach the server as different code points: "é" is
// one code point (U+00E9) from most keyboards but "e" plus a combining
// accent (U+0301) from others, and Hangul can arrive as precomposed
// syllables or as conjoining jamo. Without normalization a user who signs
// up on one device cannot log in from another. NIST SP 800-63B §5.1.1.2
// asks verifiers to normalize; it names NFKC or NFKD, but the
// compatibility forms also fold characters that look and type differently
// (full-width Latin from Chinese and Japanese input methods, ligatures,
// superscripts, circled digits) into plain ASCII, which both shrinks the
// space of distinct passwords and surprises the users who typed them. NFC
// only merges sequences that are canonically equivalent, which render
// identically, so it fixes the keyboard problem and nothing else.
//
// Invalid UTF-8 is returned unchanged.
func Normalize(pw string) string {
	return norm.NFC.String(pw)
}
