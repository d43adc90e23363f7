package identifier_test

import (
	"testing"

	"github.com/watchword/watchword/internal/identifier"
)

func TestEmail(t *testing.T) {
	for _, tc := range []struct {
		in, addr, key string
		ok            bool
	}{
		{"alice@example.com", "alice@example.com", "alice@example.com", true},
		{"  Alice@Example.COM ", "Alice@example.com", "alice@example.com", true},
		{"a.b+tag@sub.example.org", "a.b+tag@sub.example.org", "a.b+tag@sub.example.org", true},
		{"", "", "", false},
		{"alice", "", "", false},
		{"alice@", "", "", false},
		{"@example.com", "", "", false},
		{"alice@localhost", "", "", false},
		{"Alice <alice@example.com>", "", "", false},
		{"alice@exa mple.com", "", "", false},
		{"alice@-example.com", "", "", false},
		{"alice@example..com", "", "", false},
		{"alice@[127.0.0.1]", "", "", false},
		{"a@b@example.com", "", "", false},
		{"alice@example.com\n", "alice@example.com", "alice@example.com", true},
		{"alice@example.com\r\nBcc: x@y.z", "", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			addr, key, err := identifier.Email(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if addr != tc.addr || key != tc.key {
				t.Fatalf("got %q %q, want %q %q", addr, key, tc.addr, tc.key)
			}
		})
	}
}

func TestPhone(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"+8613800138000", "+8613800138000", true},
		{"+86 138 0013 8000", "+8613800138000", true},
		{"+86-138-0013-8000", "+8613800138000", true},
		{"0086 138 0013 8000", "+8613800138000", true},
		{"+1 (415) 555-0100", "+14155550100", true},
		{"+1 (201) 555-0123", "+12015550123", true},
		{"+44 20 7946 0958", "+442079460958", true},
		{"13800138000", "", false}, // no country code
		{"+86 138", "", false},
		{"+999 1234567", "", false},
		{"+86 138 0013 800a", "", false},
		{"", "", false},
		{"++8613800138000", "", false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := identifier.Phone(tc.in)
			if (err == nil) != tc.ok {
				t.Fatalf("got %q, err = %v, want ok=%v", got, err, tc.ok)
			}
			if tc.ok && got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParse(t *testing.T) {
	kind, _, key, err := identifier.Parse("Bob@Example.com")
	if err != nil || kind != identifier.KindEmail || key != "bob@example.com" {
		t.Fatalf("got %v %q %v", kind, key, err)
	}
	kind, _, key, err = identifier.Parse("+86 138 0013 8000")
	if err != nil || kind != identifier.KindPhone || key != "+8613800138000" {
		t.Fatalf("got %v %q %v", kind, key, err)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"a@b.co", "+8613800138000", "0086 138", "x@[::1]", "\x00@\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		kind, addr, key, err := identifier.Parse(s)
		if err != nil {
			return
		}
		// A normalized identifier normalizes to itself.
		k2, a2, key2, err := identifier.Parse(addr)
		if err != nil || k2 != kind || a2 != addr || key2 != key {
			t.Fatalf("%q -> %q, then %q %v", s, addr, a2, err)
		}
	})
}
