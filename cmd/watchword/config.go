package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Config is everything the command line and the environment can set.
// Each flag --some-name is also read from WATCHWORD_SOME_NAME; the flag
// wins.
type Config struct {
	Addr           string
	DB             string
	DataDir        string
	PublicURL      string
	SecretKeyFile  string
	SMTPURL        string
	MailFrom       string
	SMSWebhookURL  string
	TwilioSID      string
	TwilioToken    string
	TwilioFrom     string
	Issuer         string
	RedisURL       string
	Dev            bool
	PasswordHash   string
	TrustedProxies string

	PasswordMinLength int
	SessionIdle       time.Duration
	SessionLifetime   time.Duration
	StepUpLifetime    time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          string
}

// bindFlags declares the flags of cfg on fs.
func (cfg *Config) bindFlags(fs *flag.FlagSet) {
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&cfg.DB, "db", "", "database: sqlite:PATH or postgres://… (default sqlite in the data folder)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./watchword-data", "folder for the SQLite database, the key file and uploaded evidence")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "the address users see (links, cookie domain, otpauth issuer fallback)")
	fs.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "32-byte key, hex or base64, one per line: the first encrypts, the others only decrypt (rotation); default DATA_DIR/secret.key, generated on first start")
	fs.StringVar(&cfg.SMTPURL, "smtp-url", "", "smtp://user:pass@host:port (STARTTLS when offered) or smtps://…; unset: no email delivery")
	fs.StringVar(&cfg.MailFrom, "mail-from", "watchword <no-reply@localhost>", "sender address of emails")
	fs.StringVar(&cfg.SMSWebhookURL, "sms-webhook-url", "", "each SMS is POSTed here as JSON {\"to\",\"body\"}")
	fs.StringVar(&cfg.TwilioSID, "twilio-account-sid", "", "Twilio account SID (send SMS through Twilio)")
	fs.StringVar(&cfg.TwilioToken, "twilio-auth-token", "", "Twilio auth token")
	fs.StringVar(&cfg.TwilioFrom, "twilio-from", "", "Twilio sender number")
	fs.StringVar(&cfg.Issuer, "issuer", "watchword", "name shown in messages and authenticator apps")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis for shared rate-limit state across instances; unset: in memory")
	fs.BoolVar(&cfg.Dev, "dev", false, "development mode: /dev/outbox shows sent messages (on by itself without email or SMS delivery)")
	fs.StringVar(&cfg.PasswordHash, "password-hash", "m=19456,t=2,p=1", "argon2id parameters")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs whose X-Forwarded-For is believed")
	fs.IntVar(&cfg.PasswordMinLength, "password-min-length", 8, "shortest password accepted")
	fs.DurationVar(&cfg.SessionIdle, "session-idle-timeout", 30*time.Minute, "a session unused this long ends")
	fs.DurationVar(&cfg.SessionLifetime, "session-lifetime", 12*time.Hour, "a session ends this long after login")
	fs.DurationVar(&cfg.StepUpLifetime, "step-up-lifetime", 10*time.Minute, "privilege after a step-up")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for requests to finish")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
}

// parseFlags reads the environment, then args, into a new Config.
func parseFlags(name string, args []string, getenv func(string) string) (*Config, *flag.FlagSet, error) {
	cfg := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	cfg.bindFlags(fs)
	return cfg, fs, parseWithEnv(fs, args, getenv)
}

// parseWithEnv sets each flag from its environment variable, then parses
// args so that flags win.
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if v := getenv(env); v != "" && err == nil {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
		}
	})
	if err != nil {
		return err
	}
	return fs.Parse(args)
}

// envName maps a flag name to its variable: twilio-account-sid →
// WATCHWORD_TWILIO_ACCOUNT_SID.
func envName(flagName string) string {
	return "WATCHWORD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// resolve fills defaults that depend on other settings.
func (cfg *Config) resolve() {
	if cfg.DB == "" {
		cfg.DB = "sqlite:" + filepath.Join(cfg.DataDir, "watchword.db")
	}
	if cfg.SecretKeyFile == "" {
		cfg.SecretKeyFile = filepath.Join(cfg.DataDir, "secret.key")
	}
}

// emailConfigured and smsConfigured report whether real delivery is set up.
func (cfg *Config) emailConfigured() bool { return cfg.SMTPURL != "" }
func (cfg *Config) smsConfigured() bool {
	return cfg.SMSWebhookURL != "" || cfg.TwilioSID != ""
}

// loadKeys reads the key file, generating one on first start when the
// file is the default one in the data folder. Each non-empty line is a
// 32-byte key in hex or base64; the first is current.
func loadKeys(path string, generate bool, random func([]byte) error) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && generate {
		key := make([]byte, 32)
		if err := random(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("create key folder: %w", err)
		}
		line := []byte(hex.EncodeToString(key) + "\n")
		// O_EXCL: two processes starting at once must not both write a key.
		f, werr := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if werr == nil {
			_, werr = f.Write(line)
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
		}
		if werr != nil && !errors.Is(werr, os.ErrExist) {
			return nil, fmt.Errorf("write key file: %w", werr)
		}
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file: %w", err)
	}
	var keys [][]byte
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, err := decodeKey(line)
		if err != nil {
			return nil, fmt.Errorf("key file %s line %d: %w", path, i+1, err)
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("key file %s holds no key", path)
	}
	return keys, nil
}

func decodeKey(s string) ([]byte, error) {
	if k, err := hex.DecodeString(s); err == nil && len(k) == 32 {
		return k, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil && len(k) == 32 {
			return k, nil
		}
	}
	return nil, errors.New("not a 32-byte key in hex or base64")
}
