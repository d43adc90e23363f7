package smsguard

import (
	"context"
	"sync"
	"time"
)

// Rule is the conversion guard: a scope (a country or a number prefix)
// whose last Sample settled codes include fewer than MinRate entered ones
// gets no SMS for Block.
//
// A code is settled once it is Settle old: until then its user may still
// be typing it, so a young code that was not entered yet counts neither
// way (counting it as "not entered" would make every burst of honest
// sign-ups look like pumping). Settle defaults to the code lifetime, after
// which a code can no longer be entered, so a settled code's outcome is
// final and the ratio has no bias. The guard therefore judges with a lag
// of Settle; bursts within it are the rate limits' job. With fewer than
// Sample settled codes a scope is not judged (a quiet country never trips
// on two lost codes). When a scope trips, its sample is forgotten: after
// the block it starts afresh instead of tripping again on the same codes.
type Rule struct {
	MinRate float64       // fraction of codes that must be entered, default 0.1
	Sample  int           // how many settled codes are judged, default 50
	Settle  time.Duration // age at which a code's outcome is final, default 10 minutes
	Block   time.Duration // how long a tripped scope gets no SMS, default 1 hour
	// Forget drops the sample of a scope that sent nothing for this long,
	// so state stays bounded; default 7 days.
	Forget time.Duration
}

// DefaultRule returns the defaults.
func DefaultRule() Rule {
	return Rule{MinRate: 0.1, Sample: 50, Settle: 10 * time.Minute, Block: time.Hour, Forget: 7 * 24 * time.Hour}
}

func (r Rule) withDefaults() Rule {
	def := DefaultRule()
	if r.MinRate == 0 {
		r.MinRate = def.MinRate
	}
	if r.Sample == 0 {
		r.Sample = def.Sample
	}
	if r.Settle == 0 {
		r.Settle = def.Settle
	}
	if r.Block == 0 {
		r.Block = def.Block
	}
	if r.Forget == 0 {
		r.Forget = def.Forget
	}
	return r
}

// Conversions holds the conversion guard's state per scope.
type Conversions interface {
	// Judge returns how long scope stays blocked (0: not blocked). A scope
	// that is not blocked is judged first, and blocked (tripped true) when
	// its settled codes were too rarely entered.
	Judge(ctx context.Context, scope string) (blocked time.Duration, tripped bool, err error)
	// Sent records a code sent by SMS to phone in scope.
	Sent(ctx context.Context, scope, phone string) error
	// Entered marks the codes sent to phone in scope within Settle as entered.
	Entered(ctx context.Context, scope, phone string) error
}

var _ Conversions = (*Memory)(nil)

// Memory is Conversions for a single instance.
type Memory struct {
	rule  Rule
	now   func() time.Time
	mu    sync.Mutex
	state map[string]*memScope
	calls int // since the last sweep
}

type memScope struct {
	sends        []memSend // oldest first
	blockedUntil time.Time
}

type memSend struct {
	at      time.Time
	phone   string
	entered bool
}

// NewMemory returns an empty Memory that reads the time from now (time.Now
// when nil).
func NewMemory(rule Rule, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{rule: rule.withDefaults(), now: now, state: map[string]*memScope{}}
}

// Judge implements Conversions.
func (m *Memory) Judge(ctx context.Context, scope string) (time.Duration, bool, error) {
	if err := ctx.Err(); err != nil {
		return 0, false, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state[scope]
	if st == nil {
		return 0, false, nil
	}
	if now.Before(st.blockedUntil) {
		return st.blockedUntil.Sub(now), false, nil
	}
	cutoff := now.Add(-m.rule.Settle)
	judged, entered := 0, 0
	for i := len(st.sends) - 1; i >= 0 && judged < m.rule.Sample; i-- {
		if s := st.sends[i]; !s.at.After(cutoff) {
			judged++
			if s.entered {
				entered++
			}
		}
	}
	if judged < m.rule.Sample || float64(entered) >= m.rule.MinRate*float64(m.rule.Sample) {
		return 0, false, nil
	}
	st.blockedUntil = now.Add(m.rule.Block)
	st.sends = nil
	return m.rule.Block, true, nil
}

// Sent implements Conversions.
func (m *Memory) Sent(ctx context.Context, scope, phone string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.maybeSweep(now)
	st := m.state[scope]
	if st == nil {
		st = &memScope{}
		m.state[scope] = st
	}
	st.sends = append(st.sends, memSend{at: now, phone: phone})
	// Keep every unsettled code and the last Sample settled ones.
	cutoff := now.Add(-m.rule.Settle)
	unsettled := 0
	for i := len(st.sends) - 1; i >= 0 && st.sends[i].at.After(cutoff); i-- {
		unsettled++
	}
	if keep := m.rule.Sample + unsettled; len(st.sends) > keep {
		st.sends = append([]memSend(nil), st.sends[len(st.sends)-keep:]...)
	}
	return nil
}

// Entered implements Conversions.
func (m *Memory) Entered(ctx context.Context, scope, phone string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cutoff := m.now().Add(-m.rule.Settle)
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.state[scope]
	if st == nil {
		return nil
	}
	for i := len(st.sends) - 1; i >= 0 && !st.sends[i].at.Before(cutoff); i-- {
		if st.sends[i].phone == phone {
			st.sends[i].entered = true
		}
	}
	return nil
}

// maybeSweep drops scopes that sent nothing for Forget and are not
// blocked, once enough calls have gone by. m.mu must be held.
func (m *Memory) maybeSweep(now time.Time) {
	m.calls++
	if m.calls < 1024 || m.calls < len(m.state) {
		return
	}
	m.calls = 0
	for k, st := range m.state {
		last := time.Time{}
		if len(st.sends) > 0 {
			last = st.sends[len(st.sends)-1].at
		}
		if now.Sub(last) > m.rule.Forget && !now.Before(st.blockedUntil) {
			delete(m.state, k)
		}
	}
}
