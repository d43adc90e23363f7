package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/watchword/watchword/internal/ratelimit"
	"github.com/watchword/watchword/internal/smsguard"
)

// smsGuard builds the SMS pumping defence on the server's limiter; its
// conversion state is in Redis when --redis-url is set, so that every
// instance sees the same codes sent and entered.
func (a *app) smsGuard(limiter ratelimit.Limiter) (*smsguard.Guard, error) {
	rule := smsguard.DefaultRule()
	var conv smsguard.Conversions = smsguard.NewMemory(rule, time.Now)
	if a.redis != nil {
		conv = smsguard.NewRedis(a.redis, "watchword:sms:", rule, time.Now)
	}
	countries, err := smsguard.ParseCountries(a.cfg.SMSCountries)
	if err != nil {
		return nil, fmt.Errorf("--sms-countries: %w", err)
	}
	g, err := smsguard.New(smsguard.Deps{Limiter: limiter, Conversions: conv, Log: a.log, Metrics: a.metrics}, smsguard.Config{
		Countries:   countries,
		PrefixLimit: a.cfg.SMSPrefixLimit, CountryLimit: a.cfg.SMSCountryLimit, GlobalLimit: a.cfg.SMSGlobalLimit,
		Window: time.Hour, Conversion: rule,
	})
	if err != nil {
		return nil, err
	}
	if len(countries) > 0 {
		a.log.Info("SMS only to numbers of these countries", "countries", strings.Join(countries, ","))
	}
	return g, nil
}
