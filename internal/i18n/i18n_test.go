package i18n_test

import (
	"slices"
	"testing"

	"github.com/watchword/watchword/internal/i18n"
)

// TestEveryIDInEveryLanguage fails when a language lacks a message id
// that another language has: no page, mail or SMS falls back silently.
func TestEveryIDInEveryLanguage(t *testing.T) {
	c := i18n.Default()
	all := map[string]bool{}
	for _, l := range i18n.Langs {
		for _, id := range c.IDs(l) {
			all[id] = true
		}
	}
	if len(all) == 0 {
		t.Fatal("no messages")
	}
	for _, l := range i18n.Langs {
		have := c.IDs(l)
		for id := range all {
			if !slices.Contains(have, id) {
				t.Errorf("%s lacks %q", l, id)
			}
		}
	}
}

func TestTranslate(t *testing.T) {
	c := i18n.Default()
	if got := c.T(i18n.Chinese, "lang.name", nil); got != "简体中文" {
		t.Fatalf("got %q", got)
	}
	if got := c.T("fr", "lang.name", nil); got != "English" {
		t.Fatalf("an unknown language: %q, want English", got)
	}
	if got := c.T(i18n.English, "no.such.id", nil); got != "no.such.id" {
		t.Fatalf("a missing id: %q", got)
	}
}

func TestParseAndNegotiate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want i18n.Lang
		ok   bool
	}{
		{"en", i18n.English, true}, {"zh-CN", i18n.Chinese, true}, {"zh", i18n.Chinese, true},
		{"zh_CN", i18n.Chinese, true}, {"zh-Hans", i18n.Chinese, true}, {"en-GB", i18n.English, true},
		{"fr", "", false}, {"", "", false}, {"<script>", "", false},
	} {
		got, ok := i18n.Parse(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Parse(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	for in, want := range map[string]i18n.Lang{
		"zh-CN,zh;q=0.9,en;q=0.8": i18n.Chinese, "en-US,en;q=0.9": i18n.English, "fr-FR": i18n.English,
		"": i18n.English, "de;q=0.9, zh;q=0.8": i18n.Chinese, "garbage;;;": i18n.English,
	} {
		if got := i18n.Negotiate(in); got != want {
			t.Errorf("Negotiate(%q) = %q, want %q", in, got, want)
		}
	}
}
