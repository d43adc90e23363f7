package review

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"
)

// Calendar knows the review team's working days: Monday to Friday in its
// time zone, less the holidays.
type Calendar struct {
	loc      *time.Location
	holidays map[string]bool // "2026-12-25"
}

// NewCalendar returns a calendar in loc (UTC when nil) with the given
// holidays as ISO dates.
func NewCalendar(loc *time.Location, holidays ...string) (*Calendar, error) {
	if loc == nil {
		loc = time.UTC
	}
	c := &Calendar{loc: loc, holidays: map[string]bool{}}
	for _, h := range holidays {
		d, err := time.Parse(time.DateOnly, h)
		if err != nil {
			return nil, fmt.Errorf("holiday %q: not a date like 2026-12-25", h)
		}
		c.holidays[d.Format(time.DateOnly)] = true
	}
	return c, nil
}

// ParseHolidays reads a holidays file: one ISO date a line; blank lines
// and lines starting with # are skipped, and anything after the date on a
// line (a name) is ignored.
func ParseHolidays(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		date, _, _ := strings.Cut(line, " ")
		if _, err := time.Parse(time.DateOnly, date); err != nil {
			return nil, fmt.Errorf("line %d: %q is not a date like 2026-12-25", n, date)
		}
		out = append(out, date)
	}
	return out, sc.Err()
}

// WorkingDay reports whether the day of t (in the calendar's zone) is a
// working day.
func (c *Calendar) WorkingDay(t time.Time) bool {
	t = t.In(c.loc)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		return false
	}
	return !c.holidays[t.Format(time.DateOnly)]
}

// AddWorkingDays returns the time n working days after t: the same time
// of day on the n-th working day after t's day. A request filed on a day
// off counts as filed at the start of the next working day, so a request
// of Saturday is due at the start of Thursday, three working days after
// Monday 00:00.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	t = t.In(c.loc)
	if !c.WorkingDay(t) {
		y, m, d := t.Date()
		t = time.Date(y, m, d, 0, 0, 0, 0, c.loc)
		for !c.WorkingDay(t) {
			t = t.AddDate(0, 0, 1)
		}
	}
	for n > 0 {
		t = t.AddDate(0, 0, 1)
		if c.WorkingDay(t) {
			n--
		}
	}
	return t
}
