package main

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
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
	cfg, _, err := parseFlags("serve", nil, func(k string) string {
		if k == "WATCHWORD_SESSION_LIFETIME" {
			return "forever"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	err = cfg.validate()
	if err == nil || !strings.Contains(err.Error(), `WATCHWORD_SESSION_LIFETIME: "forever" is not a duration`) {
		t.Fatalf("got %v, want an error naming the variable", err)
	}
}

// validateArgs parses args and env as serve does and validates the result.
func validateArgs(t *testing.T, args []string, env map[string]string) error {
	t.Helper()
	cfg, _, err := parseFlags("serve", args, func(k string) string { return env[k] })
	if err != nil {
		return err
	}
	return cfg.validate()
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		env    map[string]string
		want   string // a fragment of the error
		secret string // must not appear in the error
	}{
		{name: "StrayArgument", args: []string{"foo"}, want: `unexpected argument "foo"`},
		{name: "StrayArgumentBeforeFlags", args: []string{"foo", "--addr", ":1"}, want: `unexpected argument "foo"`},
		{name: "BadDuration", args: []string{"--session-idle-timeout", "abc"}, want: `--session-idle-timeout: "abc" is not a duration; use a form like 30m or 1h`},
		{name: "DurationWithoutUnit", args: []string{"--session-lifetime", "12"}, want: `--session-lifetime: "12" is not a duration`},
		{name: "BadDurationFromEnv", env: map[string]string{"WATCHWORD_STEP_UP_LIFETIME": "ten minutes"}, want: `WATCHWORD_STEP_UP_LIFETIME: "ten minutes" is not a duration`},
		{name: "ZeroIdle", args: []string{"--session-idle-timeout", "0"}, want: "--session-idle-timeout: 0s must be more than zero"},
		{name: "NegativeLifetime", args: []string{"--session-lifetime", "-1h"}, want: "--session-lifetime: -1h0m0s must be more than zero"},
		{name: "ZeroStepUp", args: []string{"--step-up-lifetime", "0s"}, want: "--step-up-lifetime: 0s must be more than zero"},
		{name: "NegativeShutdownFromEnv", env: map[string]string{"WATCHWORD_SHUTDOWN_TIMEOUT": "-5s"}, want: "WATCHWORD_SHUTDOWN_TIMEOUT: -5s must be more than zero"},
		{name: "MinLengthZero", args: []string{"--password-min-length", "0"}, want: "--password-min-length: 0 is out of range; use 1 to 256"},
		{name: "MinLengthOverMax", args: []string{"--password-min-length", "257"}, want: "--password-min-length: 257 is out of range; use 1 to 256"},
		{name: "MinLengthNotNumber", args: []string{"--password-min-length", "eight"}, want: `--password-min-length: "eight" is not a whole number`},
		{name: "MinLengthFromEnv", env: map[string]string{"WATCHWORD_PASSWORD_MIN_LENGTH": "-3"}, want: "WATCHWORD_PASSWORD_MIN_LENGTH: -3 is out of range"},
		{name: "DevNotBoolean", env: map[string]string{"WATCHWORD_DEV": "yes please"}, want: `WATCHWORD_DEV: "yes please" is not a boolean; use true or false`},
		{name: "AddrWithoutPort", args: []string{"--addr", "8080"}, want: `--addr: "8080" is not host:port; use a form like 127.0.0.1:8080`},
		{name: "AddrNamedPort", args: []string{"--addr", "localhost:http"}, want: `--addr: "localhost:http" has no port number`},
		{name: "AddrFromEnv", env: map[string]string{"WATCHWORD_ADDR": "localhost"}, want: `WATCHWORD_ADDR: "localhost" is not host:port`},
		{name: "MetricsAddrWithoutPort", args: []string{"--metrics-addr", "9464"}, want: `--metrics-addr: "9464" is not host:port`},
		{name: "MetricsAddrIsPublic", args: []string{"--addr", "127.0.0.1:8080", "--metrics-addr", "127.0.0.1:8080"}, want: "--metrics-addr: must differ from --addr"},
		{name: "PublicURLNotAbsolute", args: []string{"--public-url", "id.example.com"}, want: `--public-url: "id.example.com" is not an absolute http(s) URL`},
		{name: "PublicURLNotHTTP", args: []string{"--public-url", "ftp://id.example.com"}, want: `--public-url: "ftp://id.example.com" is not an absolute http(s) URL`},
		{name: "LogLevel", args: []string{"--log-level", "verbose"}, want: `--log-level: "verbose" is not a level; use debug, info, warn or error`},
		{name: "TwilioSIDAlone", args: []string{"--twilio-account-sid", "AC1"}, want: "go together; missing --twilio-auth-token and --twilio-from"},
		{name: "TwilioWithoutFrom", args: []string{"--twilio-account-sid", "AC1"}, env: map[string]string{"WATCHWORD_TWILIO_AUTH_TOKEN": "hunter2"}, want: "missing --twilio-from", secret: "hunter2"},
		{name: "TwilioTokenAlone", args: []string{"--twilio-auth-token", "hunter2"}, want: "missing --twilio-account-sid and --twilio-from", secret: "hunter2"},
		{name: "DBScheme", args: []string{"--db", "mysql://root:hunter2@db/watchword"}, want: "--db: use sqlite:PATH or postgres://", secret: "hunter2"},
		{name: "DBFromEnv", env: map[string]string{"WATCHWORD_DB": "watchword.db"}, want: "WATCHWORD_DB: use sqlite:PATH or postgres://"},
		{name: "SQLiteWithoutPath", args: []string{"--db", "sqlite:"}, want: "--db: sqlite: needs a path"},
		{name: "SMTPScheme", args: []string{"--smtp-url", "http://mailer:hunter2@mail.example.com"}, want: "--smtp-url: use smtp://", secret: "hunter2"},
		{name: "RedisScheme", args: []string{"--redis-url", "http://:hunter2@cache:6379"}, want: "--redis-url: use redis://", secret: "hunter2"},
		{name: "WebhookNotURL", args: []string{"--sms-webhook-url", "sms.example.com/send?key=hunter2"}, want: "--sms-webhook-url: not an absolute http(s) URL", secret: "hunter2"},
		{name: "MailFrom", args: []string{"--mail-from", "nobody"}, want: `--mail-from: "nobody" is not an email address`},
		{name: "PasswordHash", args: []string{"--password-hash", "m=lots"}, want: "--password-hash: "},
		{name: "PasswordHashConcurrencyNegative", args: []string{"--password-hash-concurrency", "-1"}, want: "--password-hash-concurrency: -1 is out of range"},
		{name: "PasswordHashConcurrencyNotNumber", args: []string{"--password-hash-concurrency", "cores"}, want: `--password-hash-concurrency: "cores" is not a whole number`},
		{name: "TrustedProxies", args: []string{"--trusted-proxies", "proxy.example.com"}, want: "--trusted-proxies: "},
		{name: "EmptyIssuer", args: []string{"--issuer", ""}, want: "--issuer: must not be empty"},
		{name: "EmptyDataDir", args: []string{"--data-dir", ""}, want: "--data-dir: must not be empty"},
		{name: "SMSCountryUnknown", args: []string{"--sms-countries", "CN,UK"}, want: `--sms-countries: unknown country code "UK"`},
		{name: "SMSCountryFromEnv", env: map[string]string{"WATCHWORD_SMS_COUNTRIES": "USA"}, want: `WATCHWORD_SMS_COUNTRIES: unknown country code "USA"`},
		{name: "SMSPrefixLimitZero", args: []string{"--sms-prefix-limit", "0"}, want: "--sms-prefix-limit: 0 must be at least 1 SMS per hour"},
		{name: "SMSGlobalLimitNotNumber", args: []string{"--sms-global-limit", "lots"}, want: `--sms-global-limit: "lots" is not a whole number`},
		{name: "CodeLoginLimitZero", args: []string{"--code-login-limit", "0"}, want: "--code-login-limit: 0 must be at least 1 code login per hour"},
		{name: "CodeLoginLimitFromEnv", env: map[string]string{"WATCHWORD_CODE_LOGIN_LIMIT": "many"}, want: `WATCHWORD_CODE_LOGIN_LIMIT: "many" is not a whole number`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateArgs(t, tc.args, tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("the error repeats a secret: %v", err)
			}
		})
	}
}

func TestValidateGood(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{name: "Defaults"},
		{name: "Everything", args: []string{
			"--addr", ":8080", "--metrics-addr", "127.0.0.1:9464", "--db", "postgres://watchword:pw@db:5432/watchword?sslmode=disable",
			"--data-dir", "/var/lib/watchword", "--public-url", "https://id.example.com", "--secret-key-file", "/etc/watchword/key",
			"--smtp-url", "smtps://mailer:pw@mail.example.com:465", "--mail-from", "Example <no-reply@example.com>",
			"--twilio-account-sid", "AC1", "--twilio-auth-token", "tok", "--twilio-from", "+15550100",
			"--issuer", "Example", "--redis-url", "redis://:pw@cache:6379/2", "--dev",
			"--password-hash", "m=65536,t=3,p=2", "--trusted-proxies", "10.0.0.0/8", "--password-min-length", "256",
			"--session-idle-timeout", "1m", "--session-lifetime", "720h", "--step-up-lifetime", "30s", "--shutdown-timeout", "1s",
			"--log-level", "debug",
		}},
		{name: "Environment", env: map[string]string{
			"WATCHWORD_DEV": "false", "WATCHWORD_PASSWORD_MIN_LENGTH": "1", "WATCHWORD_LOG_LEVEL": "WARN",
			"WATCHWORD_SMS_WEBHOOK_URL": "http://127.0.0.1:9000/sms", "WATCHWORD_DB": "sqlite:/tmp/w.db",
		}},
		// A bad variable is not a problem when the flag replaces it.
		{name: "FlagOverridesBadEnvironment", args: []string{"--session-lifetime", "1h"}, env: map[string]string{"WATCHWORD_SESSION_LIFETIME": "forever"}},
		{name: "BothListenersOnAnyFreePort", args: []string{"--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := validateArgs(t, tc.args, tc.env); err != nil {
				t.Fatalf("got %v, want no error", err)
			}
		})
	}
}

// TestValidateReportsEverything checks that all problems come at once, one
// a line, so a new user fixes them in one go.
func TestValidateReportsEverything(t *testing.T) {
	err := validateArgs(t, []string{"--session-idle-timeout", "abc", "--password-min-length", "1000", "--log-level", "loud"},
		map[string]string{"WATCHWORD_ADDR": "nowhere"})
	if err == nil {
		t.Fatal("got no error")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []string{"--session-idle-timeout:", "--password-min-length:", "--log-level:", "WATCHWORD_ADDR:"} {
		found := false
		for _, l := range lines {
			found = found || strings.HasPrefix(l, want)
		}
		if !found {
			t.Errorf("no line starts with %q:\n%v", want, err)
		}
	}
	if len(lines) != 4 {
		t.Errorf("got %d lines, want 4:\n%v", len(lines), err)
	}
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"serve", "--help"}, {"serve", "-h"}, {"migrate", "-help"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			var stdout, stderr strings.Builder
			if err := run(t.Context(), args, func(string) string { return "" }, &stdout, &stderr); err != nil {
				t.Fatalf("got %v, want success", err)
			}
			out := stdout.String()
			for _, want := range []string{"usage: watchword " + args[0], "WATCHWORD_SOME_NAME", "-metrics-addr host:port",
				"-session-idle-timeout duration", "(default 30m0s)", "-addr host:port", "-dev\n"} {
				if !strings.Contains(out, want) {
					t.Errorf("help lacks %q:\n%s", want, out)
				}
			}
			// The flag's help names only what exists (evidence does now:
			// --evidence-retention).
			if strings.Contains(out, "cookie domain") {
				t.Errorf("help promises features that do not exist:\n%s", out)
			}
			if stderr.Len() != 0 {
				t.Errorf("stderr: %q", stderr.String())
			}
		})
	}
}

func TestCommandLineRefused(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"StrayArgument", []string{"serve", "--data-dir", dir, "foo"}, `unexpected argument "foo"`},
		{"UnknownFlag", []string{"serve", "--bogus"}, `flag provided but not defined: -bogus (run "watchword serve -h" for the flags)`},
		{"MissingValue", []string{"migrate", "--db"}, "flag needs an argument: -db"},
		{"BadValueMigrate", []string{"migrate", "--data-dir", dir, "--session-lifetime", "1 day"}, `--session-lifetime: "1 day" is not a duration`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(t.Context(), tc.args, func(string) string { return "" }, &stdout, &stderr)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a refused command left files behind: %v", entries)
	}
}

// TestNamedKeyFileNeverGenerated: a key file named by the user that does
// not exist (a typo, a missing mount) stops the start; only the default
// one in the data folder is generated.
func TestNamedKeyFileNeverGenerated(t *testing.T) {
	dir := t.TempDir()
	noEnv := func(string) string { return "" }
	named := filepath.Join(dir, "keys", "secret.key")
	for _, args := range [][]string{
		{"migrate", "--data-dir", dir, "--secret-key-file", named},
		{"serve", "--data-dir", dir, "--secret-key-file", named, "--addr", "127.0.0.1:0"},
	} {
		var stdout, stderr strings.Builder
		err := run(t.Context(), args, noEnv, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), named+" does not exist") || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: got %v, want an error saying the key file does not exist", args[0], err)
		}
		if _, err := os.Stat(named); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s: the named key file was generated", args[0])
		}
	}
	// The same through the environment.
	err := run(t.Context(), []string{"migrate", "--data-dir", dir}, func(k string) string {
		if k == "WATCHWORD_SECRET_KEY_FILE" {
			return named
		}
		return ""
	}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("from the environment: got %v", err)
	}

	// The default one is generated on first start.
	if err := run(t.Context(), []string{"migrate", "--data-dir", dir}, noEnv, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "secret.key")); err != nil {
		t.Fatalf("default key file not generated: %v", err)
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
