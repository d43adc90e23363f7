package password

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Params are argon2id cost parameters.
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // number of passes over the memory
	Threads uint8  // degree of parallelism
}

// DefaultParams are OWASP's recommended minimum for argon2id: 19 MiB of
// memory, two passes, one thread.
var DefaultParams = Params{Memory: 19456, Time: 2, Threads: 1}

// Bounds enforced by ParseParams and on every stored hash. The upper bounds
// stop a bad configuration or a tampered hash from exhausting the server.
const (
	maxMemory = 4 << 20 // 4 GiB in KiB
	maxTime   = 100
)

// ParseParams parses parameters written as "m=19456,t=2,p=1": the three
// fields in any order, each exactly once, spaces around fields allowed.
// Memory must be at least 8 KiB per thread and at most 4 GiB, time 1 to
// 100 and threads 1 to 255.
func ParseParams(s string) (Params, error) {
	p, err := parseParams(s)
	if err != nil {
		return Params{}, fmt.Errorf("password: argon2id params %q: %w", s, err)
	}
	return p, nil
}

func parseParams(s string) (Params, error) {
	var (
		p    Params
		seen = map[string]bool{}
	)
	for field := range strings.SplitSeq(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(field), "=")
		if !ok {
			return Params{}, fmt.Errorf("field %q is not key=value", field)
		}
		if key != "m" && key != "t" && key != "p" {
			return Params{}, fmt.Errorf("unknown parameter %q (want m, t and p)", key)
		}
		if seen[key] {
			return Params{}, fmt.Errorf("parameter %s given twice", key)
		}
		seen[key] = true
		n, err := strconv.ParseUint(val, 10, 32)
		if err != nil {
			return Params{}, fmt.Errorf("parameter %s: %q is not a number in range", key, val)
		}
		switch key {
		case "m":
			p.Memory = uint32(n)
		case "t":
			p.Time = uint32(n)
		case "p":
			if n < 1 || n > 255 {
				return Params{}, fmt.Errorf("p=%d: threads must be between 1 and 255", n)
			}
			p.Threads = uint8(n)
		}
	}
	for _, key := range []string{"m", "t", "p"} {
		if !seen[key] {
			return Params{}, fmt.Errorf("missing parameter %s (want m, t and p)", key)
		}
	}
	if err := p.validate(); err != nil {
		return Params{}, err
	}
	return p, nil
}

// validate checks the bounds documented on ParseParams.
func (p Params) validate() error {
	switch {
	case p.Threads < 1:
		return errors.New("p=0: threads must be between 1 and 255")
	case p.Time < 1 || p.Time > maxTime:
		return fmt.Errorf("t=%d: time must be between 1 and %d", p.Time, maxTime)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > maxMemory:
		return fmt.Errorf("m=%d: memory must be between 8*p (%d) and %d KiB", p.Memory, 8*uint32(p.Threads), maxMemory)
	}
	return nil
}

// String formats p as ParseParams reads it and as the PHC string stores it,
// for example "m=19456,t=2,p=1".
func (p Params) String() string {
	return fmt.Sprintf("m=%d,t=%d,p=%d", p.Memory, p.Time, p.Threads)
}
