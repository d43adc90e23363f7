package review_test

import (
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/review"
)

func TestAddWorkingDays(t *testing.T) {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	cal, err := review.NewCalendar(time.UTC, "2026-12-25", "2027-01-01")
	if err != nil {
		t.Fatal(err)
	}
	calSH, _ := review.NewCalendar(shanghai)
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tc := range []struct {
		name     string
		cal      *review.Calendar
		from     string
		want     string
		workdays bool
	}{
		{"Tuesday to Friday", cal, "2026-12-01T10:00:00Z", "2026-12-04T10:00:00Z", true},
		{"Thursday across the weekend", cal, "2026-12-03T10:00:00Z", "2026-12-08T10:00:00Z", true},
		{"Friday across the weekend", cal, "2026-12-04T16:30:00Z", "2026-12-09T16:30:00Z", true},
		{"Saturday counts from Monday 00:00", cal, "2026-12-05T12:00:00Z", "2026-12-10T00:00:00Z", false},
		{"Sunday counts from Monday 00:00", cal, "2026-12-06T23:59:00Z", "2026-12-10T00:00:00Z", false},
		{"across Christmas (a holiday) and a weekend", cal, "2026-12-23T09:00:00Z", "2026-12-29T09:00:00Z", true},
		{"filed on a holiday", cal, "2026-12-25T09:00:00Z", "2026-12-31T00:00:00Z", false},
		{"across New Year", cal, "2026-12-30T09:00:00Z", "2027-01-05T09:00:00Z", true},
		// 17:00 UTC on Friday is already Saturday 01:00 in Shanghai.
		{"the business time zone decides the day", calSH, "2026-12-04T17:00:00Z", "2026-12-09T16:00:00Z", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			from := at(tc.from)
			if got := tc.cal.WorkingDay(from); got != tc.workdays {
				t.Errorf("WorkingDay(%s) = %v, want %v", tc.from, got, tc.workdays)
			}
			got := tc.cal.AddWorkingDays(from, 3)
			if !got.Equal(at(tc.want)) {
				t.Errorf("AddWorkingDays(%s, 3) = %s, want %s", tc.from, got.UTC().Format(time.RFC3339), tc.want)
			}
		})
	}
}

func TestParseHolidays(t *testing.T) {
	got, err := review.ParseHolidays(strings.NewReader("# team holidays\n\n2026-12-25 Christmas\n2027-01-01\n"))
	if err != nil || strings.Join(got, ",") != "2026-12-25,2027-01-01" {
		t.Fatalf("got %v, %v", got, err)
	}
	if _, err := review.ParseHolidays(strings.NewReader("25.12.2026\n")); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Fatalf("a bad line: %v", err)
	}
	if _, err := review.NewCalendar(nil, "2026-13-01"); err == nil {
		t.Fatal("a bad date was accepted")
	}
}
