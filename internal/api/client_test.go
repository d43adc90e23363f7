package api

import (
	"net/http/httptest"
	"testing"

	"github.com/watchword/watchword/internal/i18n"
)

// TestClientLanguage: the caller's language comes from Accept-Language;
// without the header it is unknown (so a login leaves the account's
// language alone), and a language we lack falls back to English.
func TestClientLanguage(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         i18n.Lang
	}{
		{"None", "", ""},
		{"Blank", "  ", ""},
		{"Chinese", "zh-CN,zh;q=0.9,en;q=0.8", i18n.Chinese},
		{"ChineseLoosely", "zh", i18n.Chinese},
		{"English", "en-US,en;q=0.9", i18n.English},
		{"Unsupported", "fr-FR", i18n.English},
		{"Garbage", ";;;", i18n.English},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/registrations", nil)
			if tc.header != "" {
				r.Header.Set("Accept-Language", tc.header)
			}
			if got := client(r).Lang; got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
