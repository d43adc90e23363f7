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
