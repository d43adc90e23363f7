package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFlagsWinOverEnvironment(t *testing.T) {
	env := map[string]string{
		"WATCHWORD_ADDR":               "0.0.0.0:9000",
		"WATCHWORD_ISSUER":             "Env Bank",
		"WATCHWORD_TWILIO_ACCOUNT_SID": "AC123",
		"WATCHWORD_DEV":                "true",
		"WATCHWORD_STEP_UP_LIFETIME":   "5m",
	}
	cfg, _, err := parseFlags("serve", []string{"--issuer", "Flag Bank"}, func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, got, want string }{
		{"addr from env", cfg.Addr, "0.0.0.0:9000"},
		{"issuer from flag", cfg.Issuer, "Flag Bank"},
		{"twilio sid from env", cfg.TwilioSID, "AC123"},
		{"default hash", cfg.PasswordHash, "m=19456,t=2,p=1"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: got %q, want %q", tc.name, tc.got, tc.want)
		}
	}
	if !cfg.Dev || cfg.StepUpLifetime != 5*time.Minute {
		t.Errorf("dev %v, step-up %v", cfg.Dev, cfg.StepUpLifetime)
	}
	cfg.resolve()
	if cfg.DB != "sqlite:"+filepath.Join("watchword-data", "watchword.db") {
		t.Errorf("default db: got %q", cfg.DB)
	}
}

func TestBadEnvironmentValue(t *testing.T) {
	_, _, err := parseFlags("serve", nil, func(k string) string {
		if k == "WATCHWORD_SESSION_LIFETIME" {
			return "forever"
		}
		return ""
	})
	if err == nil || !strings.Contains(err.Error(), "WATCHWORD_SESSION_LIFETIME") {
		t.Fatalf("got %v, want an error naming the variable", err)
	}
}

func TestKeyFile(t *testing.T) {
	random := func(b []byte) error { _, err := rand.Read(b); return err }
	dir := t.TempDir()

	t.Run("GeneratedOnceAndKept", func(t *testing.T) {
		path := filepath.Join(dir, "data", "secret.key")
		k1, err := loadKeys(path, true, random)
		if err != nil {
			t.Fatal(err)
		}
		k2, err := loadKeys(path, true, random)
		if err != nil || len(k1) != 1 || string(k1[0]) != string(k2[0]) {
			t.Fatalf("second start got another key: %v", err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
		}
	})
	t.Run("MissingNamedFile", func(t *testing.T) {
		if _, err := loadKeys(filepath.Join(dir, "nope"), false, random); err == nil {
			t.Fatal("want an error for a missing key file")
		}
	})
	t.Run("HexAndBase64", func(t *testing.T) {
		raw := make([]byte, 32)
		rand.Read(raw)
		for _, enc := range []string{hex.EncodeToString(raw), base64.StdEncoding.EncodeToString(raw), base64.RawURLEncoding.EncodeToString(raw)} {
			k, err := decodeKey(enc)
			if err != nil || string(k) != string(raw) {
				t.Fatalf("%q: %v", enc, err)
			}
		}
		if _, err := decodeKey("00ff"); err == nil {
			t.Fatal("short key accepted")
		}
	})
	t.Run("Rotation", func(t *testing.T) {
		// A ciphertext sealed under the old key opens once a new key is
		// put first and the old one kept below it.
		// Fixed keys: ids derive from the keys, and these two differ.
		oldKey, newKey := []byte(strings.Repeat("o", 32)), []byte(strings.Repeat("n", 32))
		path := filepath.Join(dir, "rotate.key")
		os.WriteFile(path, []byte(hex.EncodeToString(oldKey)+"\n"), 0o600)
		keys, err := loadKeys(path, false, random)
		if err != nil {
			t.Fatal(err)
		}
		before, _ := newBox(keys)
		sealed, err := before.Seal([]byte("JBSWY3DPEHPK3PXP"), []byte("totp:1"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, []byte("# current\n"+hex.EncodeToString(newKey)+"\n# old\n"+hex.EncodeToString(oldKey)+"\n"), 0o600)
		keys, err = loadKeys(path, false, random)
		if err != nil || len(keys) != 2 {
			t.Fatalf("keys %d, %v", len(keys), err)
		}
		after, err := newBox(keys)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := after.Open(sealed, []byte("totp:1")); err != nil || string(got) != "JBSWY3DPEHPK3PXP" {
			t.Fatalf("after rotation: %q %v", got, err)
		}
	})
}

func TestEnvName(t *testing.T) {
	if got := envName("twilio-account-sid"); got != "WATCHWORD_TWILIO_ACCOUNT_SID" {
		t.Fatalf("got %q", got)
	}
}
