package secretbox_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/watchword/watchword/internal/secretbox"
)

func TestSealOpen(t *testing.T) {
	k1 := bytes.Repeat([]byte{1}, 32)
	k2 := bytes.Repeat([]byte{2}, 32)
	old, err := secretbox.New(secretbox.Key{ID: 1, Secret: k1})
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := old.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("uid-1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("JBSWY3DP")) {
		t.Fatal("ciphertext contains the plaintext")
	}

	t.Run("OK", func(t *testing.T) {
		got, err := old.Open(sealed, []byte("uid-1"))
		if err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("WrongAdditionalData", func(t *testing.T) {
		if _, err := old.Open(sealed, []byte("uid-2")); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
	t.Run("Tampered", func(t *testing.T) {
		bad := bytes.Clone(sealed)
		bad[len(bad)-1] ^= 1
		if _, err := old.Open(bad, []byte("uid-1")); !errors.Is(err, secretbox.ErrOpen) {
			t.Fatalf("got %v, want ErrOpen", err)
		}
	})
	t.Run("Truncated", func(t *testing.T) {
		for _, n := range []int{0, 1, 12, 20} {
			if _, err := old.Open(sealed[:n], nil); !errors.Is(err, secretbox.ErrOpen) {
				t.Fatalf("len %d: got %v, want ErrOpen", n, err)
			}
		}
	})
	t.Run("Rotation", func(t *testing.T) {
		// Key 2 becomes current; key 1 still opens what it sealed.
		rotated, err := secretbox.New(secretbox.Key{ID: 2, Secret: k2}, secretbox.Key{ID: 1, Secret: k1})
		if err != nil {
			t.Fatal(err)
		}
		if got, err := rotated.Open(sealed, []byte("uid-1")); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("old ciphertext after rotation: got %q, %v", got, err)
		}
		s2, _ := rotated.Seal([]byte("x"), nil)
		if _, err := old.Open(s2, nil); err == nil {
			t.Fatal("old box opened a ciphertext of a key it does not have")
		}
		if got, err := rotated.Open(s2, nil); err != nil || string(got) != "x" {
			t.Fatalf("got %q, %v", got, err)
		}
	})
	t.Run("WrongKeySize", func(t *testing.T) {
		if _, err := secretbox.New(secretbox.Key{ID: 1, Secret: []byte("short")}); err == nil {
			t.Fatal("want error")
		}
	})
}
