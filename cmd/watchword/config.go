package main

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"github.com/watchword/watchword/internal/account"
	"io"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/watchword/watchword/internal/middleware"
	"github.com/watchword/watchword/internal/password"
	"github.com/watchword/watchword/internal/review"
	"github.com/watchword/watchword/internal/smsguard"
)

// Config is everything the command line and the environment can set.
// Each flag --some-name is also read from WATCHWORD_SOME_NAME; the flag
// wins.
type Config struct {
	Addr           string
	MetricsAddr    string
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

	// PasswordHashConcurrency bounds the argon2id derivations in flight
	// (0: one per core); see password.DefaultMaxInFlight.
	PasswordHashConcurrency int

	PasswordMinLength int
	SessionIdle       time.Duration
	SessionLifetime   time.Duration
	StepUpLifetime    time.Duration
	ShutdownTimeout   time.Duration
	LogLevel          string

	// The lost-authenticator review.
	HolidaysFile      string
	BusinessTimezone  string
	UnbindDelay       time.Duration
	FourEyes          bool
	EvidenceRetention time.Duration
	SecurityHold      time.Duration

	// SMS pumping defence.
	SMSCountries    string
	SMSPrefixLimit  int
	SMSCountryLimit int
	SMSGlobalLimit  int

	// CodeLoginLimit bounds the code logins started in all, per hour: what
	// a botnet can make the server send. A deployment that expects more
	// legitimate code logins raises it.
	CodeLoginLimit int

	// origin names where each setting came from, "--name" or
	// "WATCHWORD_NAME", so that a message names what the user wrote.
	origin map[string]string
	// bad holds, by flag name, values that did not parse, for validate.
	bad map[string]badValue
	// rest are the arguments left after the flags; validate refuses them.
	rest []string
	// generateKey reports whether SecretKeyFile is the default one in the
	// data folder, which is generated on first start. A file named by the
	// user is never generated: a typo must not start the server on a new
	// key that decrypts nothing stored.
	generateKey bool
}

// reviewTick is how often the review's background work runs: every half
// minute, or often enough that a short unbind delay or retention (tests,
// trials) takes effect within about half of itself.
func (cfg *Config) reviewTick() time.Duration {
	tick := 30 * time.Second
	for _, d := range []time.Duration{cfg.UnbindDelay, cfg.EvidenceRetention} {
		if d > 0 && d/2 < tick {
			tick = max(d/2, 250*time.Millisecond)
		}
	}
	return tick
}

// readHolidays reads the dates of a --holidays file.
func readHolidays(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read the file: %w", err)
	}
	defer f.Close()
	return review.ParseHolidays(f)
}

// passwordMaxLength is the longest password the policy ever accepts, so
// --password-min-length may not exceed it.
const passwordMaxLength = 256

// maxHashConcurrency caps --password-hash-concurrency: beyond a few per
// core more hashes at once only cost memory (19 MiB each by default).
const maxHashConcurrency = 1024

// bindFlags declares the flags of cfg on fs.
func (cfg *Config) bindFlags(fs *flag.FlagSet) {
	if cfg.bad == nil {
		cfg.bad = map[string]badValue{}
	}
	duration := func(p *time.Duration, name string, value time.Duration, usage string) {
		*p = value
		fs.Var(&checkedValue[time.Duration]{name: name, dst: p, parse: time.ParseDuration,
			want: "is not a duration; use a form like 30m or 1h", bad: cfg.bad}, name, usage+", a `duration` like 30m or 1h")
	}
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen `host:port`")
	fs.StringVar(&cfg.MetricsAddr, "metrics-addr", "", "`host:port` of a second listener that serves GET /metrics (Prometheus), e.g. 127.0.0.1:9464; unset: no metrics")
	fs.StringVar(&cfg.DB, "db", "", "database: sqlite:PATH or postgres://… (default sqlite in the data folder)")
	fs.StringVar(&cfg.DataDir, "data-dir", "./watchword-data", "folder for the SQLite database and the key file")
	fs.StringVar(&cfg.PublicURL, "public-url", "", "the address users see, an http(s) URL (links, otpauth issuer fallback)")
	fs.StringVar(&cfg.SecretKeyFile, "secret-key-file", "", "32-byte key, hex or base64, one per line: the first encrypts, the others only decrypt (rotation); default DATA_DIR/secret.key, generated on first start (a file named here is never generated)")
	fs.StringVar(&cfg.SMTPURL, "smtp-url", "", "smtp://user:pass@host:port (STARTTLS when offered) or smtps://…; unset: no email delivery")
	fs.StringVar(&cfg.MailFrom, "mail-from", "watchword <no-reply@localhost>", "sender address of emails")
	fs.StringVar(&cfg.SMSWebhookURL, "sms-webhook-url", "", "each SMS is POSTed here as JSON {\"to\",\"body\"}")
	fs.StringVar(&cfg.TwilioSID, "twilio-account-sid", "", "Twilio account SID (send SMS through Twilio; needs the two flags below)")
	fs.StringVar(&cfg.TwilioToken, "twilio-auth-token", "", "Twilio auth token")
	fs.StringVar(&cfg.TwilioFrom, "twilio-from", "", "Twilio sender number")
	fs.StringVar(&cfg.Issuer, "issuer", "watchword", "name shown in messages and authenticator apps")
	fs.StringVar(&cfg.RedisURL, "redis-url", "", "Redis for shared rate-limit state across instances; unset: in memory")
	fs.Var(&checkedValue[bool]{name: "dev", dst: &cfg.Dev, parse: strconv.ParseBool, isBool: true,
		want: "is not a boolean; use true or false", bad: cfg.bad},
		"dev", "development mode: /dev/outbox shows sent messages (on by itself without email or SMS delivery)")
	fs.StringVar(&cfg.PasswordHash, "password-hash", "m=19456,t=2,p=1", "argon2id parameters")
	fs.Var(&checkedValue[int]{name: "password-hash-concurrency", dst: &cfg.PasswordHashConcurrency, parse: strconv.Atoi,
		want: "is not a whole number", bad: cfg.bad},
		"password-hash-concurrency", "how many argon2id hashes run at once, a `number` (0: one per core); each holds its m= of memory, more wait their turn")
	fs.StringVar(&cfg.TrustedProxies, "trusted-proxies", "", "comma-separated addresses or CIDRs whose X-Forwarded-For is believed")
	cfg.PasswordMinLength = 8
	fs.Var(&checkedValue[int]{name: "password-min-length", dst: &cfg.PasswordMinLength, parse: strconv.Atoi,
		want: "is not a whole number", bad: cfg.bad},
		"password-min-length", fmt.Sprintf("shortest password accepted, a `number` from 1 to %d", passwordMaxLength))
	duration(&cfg.SessionIdle, "session-idle-timeout", 30*time.Minute, "a session unused this long ends")
	duration(&cfg.SessionLifetime, "session-lifetime", 12*time.Hour, "a session ends this long after login")
	duration(&cfg.StepUpLifetime, "step-up-lifetime", 10*time.Minute, "privilege after a step-up")
	duration(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long SIGTERM waits for requests to finish")
	fs.StringVar(&cfg.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&cfg.HolidaysFile, "holidays", "", "`file` of ISO dates (one a line) that are not working days for review due dates")
	fs.StringVar(&cfg.BusinessTimezone, "business-timezone", "UTC", "IANA `zone` of the review team's working days, e.g. Asia/Shanghai")
	duration(&cfg.UnbindDelay, "unbind-delay", 0, "time between an approved unbind and its effect, during which the owner can still cancel")
	fs.Var(&checkedValue[bool]{name: "four-eyes", dst: &cfg.FourEyes, parse: strconv.ParseBool, isBool: true,
		want: "is not a boolean; use true or false", bad: cfg.bad},
		"four-eyes", "an unbind approval needs a second reviewer")
	duration(&cfg.EvidenceRetention, "evidence-retention", 2160*time.Hour, "evidence files are deleted this long after the decision")
	duration(&cfg.SecurityHold, "security-hold", 24*time.Hour, "how long security_hold_until lasts after a security change")
	fs.StringVar(&cfg.SMSCountries, "sms-countries", "", "comma-separated ISO 3166 `codes` of the countries whose numbers may receive SMS (CN,US,…); unset: all")
	perHour := func(p *int, name string, value int, usage string) {
		*p = value
		fs.Var(&checkedValue[int]{name: name, dst: p, parse: strconv.Atoi, want: "is not a whole number", bad: cfg.bad},
			name, usage+", a `number` per hour")
	}
	perHour(&cfg.SMSPrefixLimit, "sms-prefix-limit", 10, "SMS to numbers that share all but their last 4 digits")
	perHour(&cfg.SMSCountryLimit, "sms-country-limit", 200, "SMS to one country")
	perHour(&cfg.SMSGlobalLimit, "sms-global-limit", 2000, "SMS in all")
	perHour(&cfg.CodeLoginLimit, "code-login-limit", account.DefaultConfig().Limits.CodeLoginsGlobal.N,
		"code logins started in all (each sends a code), over every address and client")
}

// badValue is a setting that did not parse: its text and what was wanted.
type badValue struct{ text, want string }

// checkedValue is a flag.Value that never fails while flags are parsed:
// text that does not parse is kept in bad, and validate reports it with
// every other problem at once, naming the flag or variable it came from
// (the flag package would stop at the first one and say "parse error").
type checkedValue[T any] struct {
	name   string
	dst    *T
	parse  func(string) (T, error)
	want   string // the end of the message: `"abc" is not a duration; …`
	isBool bool
	bad    map[string]badValue
}

func (v *checkedValue[T]) Set(s string) error {
	x, err := v.parse(s)
	if err != nil {
		v.bad[v.name] = badValue{text: s, want: v.want}
		return nil
	}
	delete(v.bad, v.name)
	*v.dst = x
	return nil
}

func (v *checkedValue[T]) String() string {
	if v == nil || v.dst == nil { // flag.PrintDefaults asks a zero value
		var zero T
		return fmt.Sprint(zero)
	}
	return fmt.Sprint(*v.dst)
}

// IsBoolFlag lets --dev stand alone, as a boolean flag does.
func (v *checkedValue[T]) IsBoolFlag() bool { return v != nil && v.isBool }

// parseFlags reads args, then the environment for what args left unset,
// into a new Config. Values are checked by validate, not here.
func parseFlags(name string, args []string, getenv func(string) string) (*Config, *flag.FlagSet, error) {
	cfg := &Config{}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	// Errors are returned, and help is printed by the caller to stdout.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	cfg.bindFlags(fs)
	origin, err := parseSources(fs, args, getenv)
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			err = fmt.Errorf("%w (run \"watchword %s -h\" for the flags)", err, name)
		}
		return nil, fs, err
	}
	cfg.origin = origin
	cfg.rest = fs.Args()
	return cfg, fs, nil
}

// printHelp writes the usage of a command and its flags to w.
func printHelp(w io.Writer, fs *flag.FlagSet, summary string) {
	fmt.Fprintf(w, "usage: watchword %s [flags]\n\n%s\n\n", fs.Name(), summary)
	fmt.Fprintln(w, "Each flag --some-name is also read from the environment as WATCHWORD_SOME_NAME;")
	fmt.Fprintln(w, "the flag wins. Flags:")
	fmt.Fprintln(w)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// parseWithEnv parses args, then sets each flag args left unset from its
// environment variable, so that flags win.
func parseWithEnv(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	_, err := parseSources(fs, args, getenv)
	return err
}

// parseSources is parseWithEnv, returning where each setting came from.
func parseSources(fs *flag.FlagSet, args []string, getenv func(string) string) (map[string]string, error) {
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	origin := map[string]string{}
	fs.Visit(func(f *flag.Flag) { origin[f.Name] = "--" + f.Name })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		env := envName(f.Name)
		if _, onCommandLine := origin[f.Name]; onCommandLine || err != nil {
			return
		}
		if v := getenv(env); v != "" {
			if e := fs.Set(f.Name, v); e != nil {
				err = fmt.Errorf("%s: %w", env, e)
			}
			origin[f.Name] = env
		}
	})
	return origin, err
}

// envName maps a flag name to its variable: twilio-account-sid →
// WATCHWORD_TWILIO_ACCOUNT_SID.
func envName(flagName string) string {
	return "WATCHWORD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// where names the source of a setting for messages: the variable when the
// environment set it, else the flag.
func (cfg *Config) where(flagName string) string {
	if o, ok := cfg.origin[flagName]; ok {
		return o
	}
	return "--" + flagName
}

// validate checks the whole configuration and returns every problem at
// once (errors.Join), each naming its flag or variable and the form
// expected. Values that may hold a password (URLs, the database) are never
// repeated in a message.
func (cfg *Config) validate() error {
	var errs []error
	add := func(name, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{cfg.where(name)}, a...)...))
	}
	if len(cfg.rest) > 0 {
		errs = append(errs, fmt.Errorf("unexpected argument %q: this command takes flags only", cfg.rest[0]))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.bad)) {
		b := cfg.bad[name]
		add(name, "%q %s", b.text, b.want)
	}

	if err := checkHostPort(cfg.Addr); err != nil {
		add("addr", "%q %v", cfg.Addr, err)
	}
	if cfg.MetricsAddr != "" {
		if err := checkHostPort(cfg.MetricsAddr); err != nil {
			add("metrics-addr", "%q %v", cfg.MetricsAddr, err)
		} else if cfg.MetricsAddr == cfg.Addr && !strings.HasSuffix(cfg.Addr, ":0") {
			add("metrics-addr", "must differ from %s: metrics are never served on the public listener", cfg.where("addr"))
		}
	}
	switch {
	case cfg.DB == "": // the default, SQLite in the data folder
	case strings.HasPrefix(cfg.DB, "sqlite:"):
		if strings.TrimPrefix(cfg.DB, "sqlite:") == "" {
			add("db", "sqlite: needs a path, as in sqlite:/var/lib/watchword/watchword.db")
		}
	case strings.HasPrefix(cfg.DB, "postgres://"), strings.HasPrefix(cfg.DB, "postgresql://"):
		if _, err := url.Parse(cfg.DB); err != nil {
			add("db", "not a valid postgres:// URL; use postgres://USER:PASSWORD@HOST:PORT/NAME")
		}
	default:
		add("db", "use sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/NAME")
	}
	if cfg.DataDir == "" {
		add("data-dir", "must not be empty")
	}
	if cfg.PublicURL != "" {
		if u, err := url.Parse(cfg.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("public-url", "%q is not an absolute http(s) URL; use a form like https://id.example.com", cfg.PublicURL)
		}
	}
	if cfg.SMTPURL != "" {
		if u, err := url.Parse(cfg.SMTPURL); err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
			add("smtp-url", "use smtp://USER:PASSWORD@HOST:PORT or smtps://…")
		}
	}
	if _, err := mail.ParseAddress(cfg.MailFrom); err != nil {
		add("mail-from", "%q is not an email address; use a form like watchword <no-reply@example.com>", cfg.MailFrom)
	}
	if cfg.SMSWebhookURL != "" {
		if u, err := url.Parse(cfg.SMSWebhookURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("sms-webhook-url", "not an absolute http(s) URL")
		}
	}
	twilio := map[string]string{"twilio-account-sid": cfg.TwilioSID, "twilio-auth-token": cfg.TwilioToken, "twilio-from": cfg.TwilioFrom}
	var missing []string
	for _, name := range []string{"twilio-account-sid", "twilio-auth-token", "twilio-from"} {
		if twilio[name] == "" {
			missing = append(missing, cfg.where(name))
		}
	}
	if len(missing) == 1 || len(missing) == 2 {
		errs = append(errs, fmt.Errorf("--twilio-account-sid, --twilio-auth-token and --twilio-from go together; missing %s", strings.Join(missing, " and ")))
	}
	if cfg.Issuer == "" {
		add("issuer", "must not be empty: authenticator apps show it")
	}
	if cfg.RedisURL != "" {
		if _, err := redis.ParseURL(cfg.RedisURL); err != nil {
			add("redis-url", "use redis://[:PASSWORD@]HOST:PORT[/DB] or rediss://…")
		}
	}
	if _, err := password.ParseParams(cfg.PasswordHash); err != nil {
		add("password-hash", "%v; use a form like m=19456,t=2,p=1", err)
	}
	if _, bad := cfg.bad["password-hash-concurrency"]; !bad && (cfg.PasswordHashConcurrency < 0 || cfg.PasswordHashConcurrency > maxHashConcurrency) {
		add("password-hash-concurrency", "%d is out of range; use 0 (one per core) to %d", cfg.PasswordHashConcurrency, maxHashConcurrency)
	}
	if _, err := middleware.ParseTrustedProxies(cfg.TrustedProxies); err != nil {
		add("trusted-proxies", "%v", err)
	}
	if _, bad := cfg.bad["password-min-length"]; !bad && (cfg.PasswordMinLength < 1 || cfg.PasswordMinLength > passwordMaxLength) {
		add("password-min-length", "%d is out of range; use 1 to %d", cfg.PasswordMinLength, passwordMaxLength)
	}
	for _, d := range []struct {
		name  string
		value time.Duration
	}{
		{"session-idle-timeout", cfg.SessionIdle},
		{"session-lifetime", cfg.SessionLifetime},
		{"step-up-lifetime", cfg.StepUpLifetime},
		{"shutdown-timeout", cfg.ShutdownTimeout},
		{"evidence-retention", cfg.EvidenceRetention},
		{"security-hold", cfg.SecurityHold},
	} {
		if _, bad := cfg.bad[d.name]; !bad && d.value <= 0 {
			add(d.name, "%s must be more than zero; use a form like 30m or 1h", d.value)
		}
	}
	if _, bad := cfg.bad["unbind-delay"]; !bad && cfg.UnbindDelay < 0 {
		add("unbind-delay", "%s must not be negative; use 0 for at once, or a form like 48h", cfg.UnbindDelay)
	}
	if _, err := time.LoadLocation(cfg.BusinessTimezone); err != nil || cfg.BusinessTimezone == "" {
		add("business-timezone", "%q is not an IANA time zone; use a form like UTC or Asia/Shanghai", cfg.BusinessTimezone)
	}
	if cfg.HolidaysFile != "" {
		if _, err := readHolidays(cfg.HolidaysFile); err != nil {
			add("holidays", "%v", err)
		}
	}
	if _, err := smsguard.ParseCountries(cfg.SMSCountries); err != nil {
		add("sms-countries", "%v", err)
	}
	for _, l := range []struct {
		name  string
		value int
		unit  string
	}{
		{"sms-prefix-limit", cfg.SMSPrefixLimit, "SMS"}, {"sms-country-limit", cfg.SMSCountryLimit, "SMS"},
		{"sms-global-limit", cfg.SMSGlobalLimit, "SMS"}, {"code-login-limit", cfg.CodeLoginLimit, "code login"},
	} {
		if _, bad := cfg.bad[l.name]; !bad && l.value < 1 {
			add(l.name, "%d must be at least 1 %s per hour", l.value, l.unit)
		}
	}
	switch strings.ToLower(cfg.LogLevel) {
	case "debug", "info", "warn", "error":
	default:
		add("log-level", "%q is not a level; use debug, info, warn or error", cfg.LogLevel)
	}
	return errors.Join(errs...)
}

// checkHostPort reports why s is not a listen address host:port, if it is
// not one. The host may be empty (every interface); the port must be a
// number.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("is not host:port; use a form like 127.0.0.1:8080")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return errors.New("has no port number; use a form like 127.0.0.1:8080")
	}
	return nil
}

// resolve fills defaults that depend on other settings.
func (cfg *Config) resolve() {
	if cfg.DB == "" {
		cfg.DB = "sqlite:" + filepath.Join(cfg.DataDir, "watchword.db")
	}
	if cfg.SecretKeyFile == "" {
		cfg.SecretKeyFile = filepath.Join(cfg.DataDir, "secret.key")
		cfg.generateKey = true
	}
}

// emailConfigured and smsConfigured report whether real delivery is set up.
func (cfg *Config) emailConfigured() bool { return cfg.SMTPURL != "" }
func (cfg *Config) smsConfigured() bool {
	return cfg.SMSWebhookURL != "" || cfg.TwilioSID != ""
}

// loadKeys reads the key file, generating one on first start when
// generate is set (the file is the default one in the data folder). Each non-empty line is a
// 32-byte key in hex or base64; the first is current.
func loadKeys(path string, generate bool, random func([]byte) error) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) && !generate {
		return nil, fmt.Errorf("secret key file %s does not exist: a key file that is named (--secret-key-file) is never generated; "+
			"create it with one key, e.g. openssl rand -hex 32 > %s, or leave the setting unset for DATA_DIR/secret.key (%w)", path, path, os.ErrNotExist)
	}
	if errors.Is(err, os.ErrNotExist) {
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
