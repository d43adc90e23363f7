package account_test

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/account"
)

// TestCodeRandomness (C-01): 2,000 sign-up codes, for as many addresses
// from as many client IPs over simulated time, read from the outbox as
// the delivery worker would. They are 6 digits; no more of them repeat
// than the birthday bound allows (about 2 pairs expected, 10 happen by
// chance with p < 0.0001); each digit position is uniform (chi-square, 9
// degrees of freedom, p > 0.0001 for each of the 6); and the code does not
// follow the order, hence the time or the address, it was issued in
// (correlation under 0.1, 4.5 standard deviations). That the generator is
// crypto/rand is checked by token's TestNoMathRandForSecrets.
func TestCodeRandomness(t *testing.T) {
	const n = 2000
	e := newEnv(t)
	ctx := context.Background()
	for i := range n {
		c := account.Client{IP: fmt.Sprintf("10.%d.%d.1", i/250, i%250), UserAgent: "c01"}
		if _, _, err := e.svc.StartRegistration(ctx, c, fmt.Sprintf("c01-%d@example.com", i), ""); err != nil {
			t.Fatalf("code %d: %v", i, err)
		}
		e.clock.Advance(1500 * time.Millisecond)
	}
	codes := make([]string, 0, n)
	for _, m := range e.messages() { // oldest first: the order of issue
		found := sixDigits.FindAllStringSubmatch(m.Text, -1)
		if len(found) != 1 {
			t.Fatalf("want one code in %q", m.Text)
		}
		codes = append(codes, found[0][1])
	}
	if len(codes) != n {
		t.Fatalf("%d codes sent, want %d", len(codes), n)
	}

	seen := map[string]int{}
	var counts [6][10]float64
	var sx, sy, sxx, syy, sxy float64
	for i, c := range codes {
		if len(c) != 6 {
			t.Fatalf("code %q is not 6 digits", c)
		}
		seen[c]++
		for p, d := range c {
			counts[p][d-'0']++
		}
		v, _ := strconv.Atoi(c)
		x, y := float64(i), float64(v)
		sx, sy, sxx, syy, sxy = sx+x, sy+y, sxx+x*x, syy+y*y, sxy+x*y
	}
	pairs := 0
	for _, k := range seen {
		pairs += k * (k - 1) / 2
	}
	if pairs >= 10 {
		t.Errorf("%d pairs of equal codes in %d; about %.1f expected", pairs, n, float64(n*(n-1))/2/1e6)
	}
	for p := range counts {
		chi := 0.0
		for _, c := range counts[p] {
			chi += (c - n/10) * (c - n/10) / (n / 10)
		}
		if chi > 33.72 { // p = 0.0001 at 9 degrees of freedom
			t.Errorf("digit %d: counts %v, chi-square %.1f", p+1, counts[p], chi)
		}
	}
	r := (n*sxy - sx*sy) / math.Sqrt((n*sxx-sx*sx)*(n*syy-sy*sy))
	if math.Abs(r) > 0.1 {
		t.Errorf("codes correlate with their order of issue: r = %.3f", r)
	}
	t.Logf("%d codes: %d equal pairs, order correlation %.4f", n, pairs, r)
}
