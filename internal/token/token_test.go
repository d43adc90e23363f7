package token_test

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"testing"

	"github.com/watchword/watchword/internal/token"
)

func TestNew(t *testing.T) {
	a, err := token.New(rand.Reader, 32)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := token.New(rand.Reader, 32)
	if a == b {
		t.Fatal("two tokens are equal")
	}
	raw, err := base64.RawURLEncoding.DecodeString(a)
	if err != nil || len(raw) != 32 {
		t.Fatalf("got %d bytes, %v; want 32", len(raw), err)
	}
}

func TestDigitsUniform(t *testing.T) {
	const n = 60000
	var counts [10]int
	for range n / 6 {
		d, err := token.Digits(rand.Reader, 6)
		if err != nil {
			t.Fatal(err)
		}
		if len(d) != 6 {
			t.Fatalf("got %q, want 6 digits", d)
		}
		for _, c := range d {
			if c < '0' || c > '9' {
				t.Fatalf("got %q, want digits only", d)
			}
			counts[c-'0']++
		}
	}
	// Chi-square with 9 degrees of freedom; 27.88 is p=0.001.
	var chi float64
	for _, c := range counts {
		diff := float64(c) - n/10
		chi += diff * diff / (n / 10)
	}
	if chi > 27.88 {
		t.Fatalf("digit counts %v look biased (chi-square %.1f)", counts, chi)
	}
}

func TestDigitsRejectsBias(t *testing.T) {
	// 250..255 must be skipped, 7 maps to '7'.
	got, err := token.Digits(bytes.NewReader([]byte{255, 250, 7}), 1)
	if err != nil || got != "7" {
		t.Fatalf("got %q, %v; want 7", got, err)
	}
}

func TestHash(t *testing.T) {
	h := token.NewHasher([]byte("key"))
	if !token.Equal(h.Hash("a", "b"), h.Hash("a", "b")) {
		t.Fatal("same input, different hash")
	}
	if token.Equal(h.Hash("ab", "c"), h.Hash("a", "bc")) {
		t.Fatal("parts are not separated")
	}
	if token.Equal(h.Hash("x"), token.NewHasher([]byte("other")).Hash("x")) {
		t.Fatal("hash does not depend on the key")
	}
}

// TestHasherRotation: after a rotation (a new current key, the old one
// kept), hashes made under the old key are still recognized, new ones use
// the new key, and a removed key is forgotten.
func TestHasherRotation(t *testing.T) {
	old := token.NewHasher([]byte("old key"))
	sum := old.Hash("session", "tok")
	rotated := token.NewHasher([]byte("new key"), []byte("old key"))
	if token.Equal(rotated.Hash("session", "tok"), sum) {
		t.Fatal("the rotated hasher still hashes with the old key")
	}
	hashes := rotated.Hashes("session", "tok")
	if len(hashes) != 2 || !token.Equal(hashes[0], rotated.Hash("session", "tok")) || !token.Equal(hashes[1], sum) {
		t.Fatalf("Hashes = %x, want the new key's hash then the old key's", hashes)
	}
	if !rotated.Match(sum, "session", "tok") || !rotated.Match(rotated.Hash("session", "tok"), "session", "tok") {
		t.Fatal("Match refuses a hash of a known key")
	}
	if rotated.Match(sum, "session", "other") {
		t.Fatal("Match accepts the hash of other parts")
	}
	if token.NewHasher([]byte("new key")).Match(sum, "session", "tok") {
		t.Fatal("a hasher without the old key accepts its hash")
	}
}
