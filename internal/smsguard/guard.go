// Package smsguard defends against SMS pumping: bots that make a service
// send text messages to numbers whose operator shares the revenue.
//
// A Guard refuses numbers that may never receive SMS (invalid, premium
// rate, shared cost, or of a country that is not allowed), limits how many
// SMS go to one number prefix, one country and in all per window, and
// holds back SMS to a country or prefix whose recent codes are almost
// never entered (the conversion guard). The limits and the conversion
// state live in memory for a single instance or in Redis when several
// instances share them.
package smsguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"

	"github.com/watchword/watchword/internal/ratelimit"
)

// Reason says why an SMS was held back; it names the log lines and the
// metrics' labels.
type Reason string

// The reasons. The first four are final: the number never gets SMS.
const (
	ReasonInvalid      Reason = "invalid"
	ReasonCountry      Reason = "country_not_allowed"
	ReasonPremiumRate  Reason = "premium_rate"
	ReasonSharedCost   Reason = "shared_cost"
	ReasonPrefixLimit  Reason = "prefix_limit"
	ReasonCountryLimit Reason = "country_limit"
	ReasonGlobalLimit  Reason = "global_limit"
	ReasonConversion   Reason = "conversion"
)

// Config holds the rules. Zero fields take the defaults of DefaultConfig.
type Config struct {
	// Countries are the ISO 3166 regions whose numbers may receive SMS;
	// empty means all. Check them with ParseCountries.
	Countries    []string
	PrefixLimit  int           // SMS per Window to numbers sharing all but their last 4 digits
	CountryLimit int           // SMS per Window to one country
	GlobalLimit  int           // SMS per Window in all
	Window       time.Duration // of the three limits
	Conversion   Rule
}

// DefaultConfig returns the contract's defaults.
func DefaultConfig() Config {
	return Config{PrefixLimit: 10, CountryLimit: 200, GlobalLimit: 2000, Window: time.Hour, Conversion: DefaultRule()}
}

// Metrics receives counts for monitoring; every method may be called
// concurrently.
type Metrics interface {
	// SMSRefused counts one SMS held back, by reason.
	SMSRefused(reason string)
	// SMSLimitTripped counts a limit ("prefix", "country", "global")
	// that started refusing: once per window of each limited key.
	SMSLimitTripped(limit string)
	// SMSConversionTripped counts a scope ("prefix", "country") that the
	// conversion guard blocked.
	SMSConversionTripped(scope string)
}

// Deps are the collaborators of a Guard.
type Deps struct {
	Limiter     ratelimit.Limiter // the SMS limits; shared through Redis when configured
	Conversions Conversions       // the conversion guard's state (NewMemory or NewRedis)
	Log         *slog.Logger
	Metrics     Metrics // may be nil
}

// Guard decides whether an SMS may go to a number. It is safe for
// concurrent use.
type Guard struct {
	limiter   ratelimit.Limiter
	conv      Conversions
	log       *slog.Logger
	metrics   Metrics
	countries map[string]bool // nil: all
	cfg       Config
}

// New returns a Guard.
func New(d Deps, cfg Config) (*Guard, error) {
	def := DefaultConfig()
	if cfg.PrefixLimit == 0 {
		cfg.PrefixLimit = def.PrefixLimit
	}
	if cfg.CountryLimit == 0 {
		cfg.CountryLimit = def.CountryLimit
	}
	if cfg.GlobalLimit == 0 {
		cfg.GlobalLimit = def.GlobalLimit
	}
	if cfg.Window == 0 {
		cfg.Window = def.Window
	}
	if cfg.PrefixLimit < 1 || cfg.CountryLimit < 1 || cfg.GlobalLimit < 1 || cfg.Window < time.Millisecond {
		return nil, errors.New("smsguard: limits must be at least 1 per window")
	}
	countries, err := ParseCountries(strings.Join(cfg.Countries, ","))
	if err != nil {
		return nil, err
	}
	g := &Guard{limiter: d.Limiter, conv: d.Conversions, log: d.Log, metrics: d.Metrics, cfg: cfg}
	if len(countries) > 0 {
		g.countries = map[string]bool{}
		for _, c := range countries {
			g.countries[c] = true
		}
	}
	if g.metrics == nil {
		g.metrics = nopMetrics{}
	}
	if g.conv == nil {
		return nil, errors.New("smsguard: no conversion store")
	}
	return g, nil
}

// ParseCountries reads a comma-separated list of ISO 3166 alpha-2 codes
// ("CN, us"), upper-cased and sorted. A code the phone metadata does not
// know is an error: a typo must not silently block or allow a country.
func ParseCountries(s string) ([]string, error) {
	var out []string
	supported := phonenumbers.GetSupportedRegions()
	for _, f := range strings.Split(s, ",") {
		c := strings.ToUpper(strings.TrimSpace(f))
		if c == "" {
			continue
		}
		if !supported[c] {
			return nil, fmt.Errorf("unknown country code %q; use ISO 3166 codes such as CN,US,GB", strings.TrimSpace(f))
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Number is what the phone metadata says about an E.164 number.
type Number struct {
	E164    string
	Country string // the region the metadata gives the number: +44 7911 123456 is GG
	Prefix  string // all but the last 4 digits
}

// Check reports why phone (E.164) may never receive SMS, or "" when it
// may. It counts nothing.
func (g *Guard) Check(phone string) (Number, Reason) {
	num, err := phonenumbers.Parse(phone, "ZZ")
	if err != nil || !phonenumbers.IsValidNumber(num) {
		return Number{}, ReasonInvalid
	}
	e164 := phonenumbers.Format(num, phonenumbers.E164)
	n := Number{E164: e164, Country: phonenumbers.GetRegionCodeForNumber(num), Prefix: e164[:len(e164)-4]}
	switch {
	case n.Country == "" || n.Country == "001" || g.countries != nil && !g.countries[n.Country]:
		// "001" is the metadata's region of non-geographic numbers
		// (satellite, international networks): never a user's phone.
		return n, ReasonCountry
	}
	switch phonenumbers.GetNumberType(num) {
	case phonenumbers.PREMIUM_RATE:
		return n, ReasonPremiumRate
	case phonenumbers.SHARED_COST:
		return n, ReasonSharedCost
	}
	return n, ""
}

// Refuses reports whether phone may never receive SMS, counting and
// logging the refusal.
func (g *Guard) Refuses(ctx context.Context, phone string) bool {
	_, refused := g.screen(ctx, phone)
	return refused
}

// screen is Check, counting and logging a refusal.
func (g *Guard) screen(ctx context.Context, phone string) (Number, bool) {
	n, r := g.Check(phone)
	if r == "" {
		return n, false
	}
	g.metrics.SMSRefused(string(r))
	g.log.InfoContext(ctx, "SMS refused", "reason", r, "country", n.Country, "prefix", n.Prefix)
	return n, true
}

// Admit decides whether one SMS may go to phone now and, if so, counts it
// against the limits; code says it carries a one-time code, which the
// conversion guard then waits to see entered. allowed is false with
// retryAfter 0 for a number that may never receive SMS, and with the time
// to wait when a limit or the conversion guard holds SMS back. An error
// (the store is unreachable) should refuse the SMS: limits are never
// skipped.
func (g *Guard) Admit(ctx context.Context, phone string, code bool) (allowed bool, retryAfter time.Duration, err error) {
	n, refused := g.screen(ctx, phone)
	if refused {
		return false, 0, nil
	}
	scopes := []scope{{"country", "country:" + n.Country}, {"prefix", "prefix:" + n.Prefix}}
	for _, sc := range scopes {
		blocked, tripped, err := g.conv.Judge(ctx, sc.key)
		if err != nil {
			return false, 0, fmt.Errorf("smsguard: conversion: %w", err)
		}
		if tripped {
			g.metrics.SMSConversionTripped(sc.kind)
			g.log.WarnContext(ctx, "SMS conversion guard tripped: this "+sc.kind+"'s recent codes were almost never entered; "+
				"no SMS goes there until the block ends", "scope", sc.key, "blocked_for", blocked.String())
		}
		if blocked > 0 {
			g.metrics.SMSRefused(string(ReasonConversion))
			return false, blocked, nil
		}
	}
	if retry, err := g.take(ctx, n); err != nil || retry > 0 {
		return false, retry, err
	}
	if code {
		for _, sc := range scopes {
			if err := g.conv.Sent(ctx, sc.key, n.E164); err != nil {
				return false, 0, fmt.Errorf("smsguard: conversion: %w", err)
			}
		}
	}
	return true, 0, nil
}

type scope struct{ kind, key string }

// take counts one SMS against the prefix, country and global limits,
// narrowest first; when a wider one refuses, the narrower ones are given
// back, so that only SMS actually sent count.
func (g *Guard) take(ctx context.Context, n Number) (time.Duration, error) {
	limits := []limit{
		{"prefix", "sms:prefix:" + n.Prefix, g.cfg.PrefixLimit, ReasonPrefixLimit},
		{"country", "sms:country:" + n.Country, g.cfg.CountryLimit, ReasonCountryLimit},
		{"global", "sms:all", g.cfg.GlobalLimit, ReasonGlobalLimit},
	}
	for i, l := range limits {
		d, err := g.limiter.Take(ctx, l.key, l.n, g.cfg.Window)
		if err != nil {
			g.giveBack(ctx, limits[:i])
			return 0, fmt.Errorf("smsguard: limit: %w", err)
		}
		if d.Allowed {
			continue
		}
		g.giveBack(ctx, limits[:i])
		g.metrics.SMSRefused(string(l.reason))
		g.tripped(ctx, l.name, l.key, n, d.RetryAfter)
		return d.RetryAfter, nil
	}
	return 0, nil
}

// limit is one of the three SMS limits applied to a number.
type limit struct {
	name, key string
	n         int
	reason    Reason
}

func (g *Guard) giveBack(ctx context.Context, taken []limit) {
	for _, l := range taken {
		if err := g.limiter.Undo(ctx, l.key, g.cfg.Window); err != nil {
			g.log.WarnContext(ctx, "SMS limit undo failed", "limit", l.name, "err", err)
		}
	}
}

// tripped logs and counts a limit that refused, once per window of its
// key: a marker key that lives exactly as long as the rest of the window
// lets only the first refusal through, on every instance.
func (g *Guard) tripped(ctx context.Context, name, key string, n Number, rest time.Duration) {
	d, err := g.limiter.Take(ctx, "smstrip:"+key, 1, max(rest, time.Millisecond))
	if err != nil || !d.Allowed {
		return
	}
	g.metrics.SMSLimitTripped(name)
	attrs := []any{"limit", name, "per_window", g.cfg.Window.String(), "retry_after", rest.Round(time.Second).String()}
	switch name {
	case "prefix":
		attrs = append(attrs, "prefix", n.Prefix, "country", n.Country)
	case "country":
		attrs = append(attrs, "country", n.Country)
	}
	g.log.WarnContext(ctx, "SMS limit reached: further SMS are refused until the window ends", attrs...)
}

// Entered records that a code sent by SMS to phone was entered.
func (g *Guard) Entered(ctx context.Context, phone string) error {
	n, r := g.Check(phone)
	if r == ReasonInvalid {
		return nil
	}
	for _, key := range []string{"country:" + n.Country, "prefix:" + n.Prefix} {
		if err := g.conv.Entered(ctx, key, n.E164); err != nil {
			return fmt.Errorf("smsguard: conversion: %w", err)
		}
	}
	return nil
}

type nopMetrics struct{}

func (nopMetrics) SMSRefused(string)           {}
func (nopMetrics) SMSLimitTripped(string)      {}
func (nopMetrics) SMSConversionTripped(string) {}
