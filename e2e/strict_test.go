package e2e

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestStrictJSONAndMethods sends hostile bodies and wrong methods to the
// real binary: each is refused with the API's JSON error, and (through
// send) each answer is checked against the API description.
func TestStrictJSONAndMethods(t *testing.T) {
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db")})

	t.Run("HostileBodies", func(t *testing.T) {
		for _, tc := range []struct{ name, body string }{
			{"DuplicateName", `{"identifier":"a@example.com","identifier":"b@example.com"}`},
			{"CaseFoldedName", `{"Identifier":"a@example.com"}`},
			{"InvalidUTF8", "{\"identifier\":\"a\xff@example.com\"}"},
			{"BareNull", `null`},
			{"Array", `[]`},
			{"UnknownField", `{"identifier":"a@example.com","admin":true}`},
			{"WrongType", `{"identifier":7}`},
			{"Trailing", `{"identifier":"a@example.com"} {}`},
			{"Empty", ``},
		} {
			t.Run(tc.name, func(t *testing.T) {
				req, err := newRawRequest(s.Base+"/api/v1/login/code", "application/json", tc.body)
				if err != nil {
					t.Fatal(err)
				}
				if r := s.send(req); r.Status != 400 || r.ErrorCode() != "invalid_request" {
					t.Fatalf("got %d %s, want 400 invalid_request", r.Status, r.Raw)
				}
			})
		}
	})

	t.Run("WrongMethod", func(t *testing.T) {
		for _, tc := range []struct{ method, path, allow string }{
			{"DELETE", "/me", "GET, HEAD"},
			{"GET", "/login/password", "POST"},
			{"PUT", "/me/totp", "POST, DELETE"},
			{"POST", "/me/sessions/some-id", "DELETE"},
		} {
			t.Run(tc.method+strings.ReplaceAll(tc.path, "/", "_"), func(t *testing.T) {
				r := s.Fails(http.StatusMethodNotAllowed, "method_not_allowed", tc.method, tc.path, "", nil)
				if got := r.Header.Get("Allow"); got != tc.allow {
					t.Errorf("Allow: got %q, want %q", got, tc.allow)
				}
				if got := r.Header.Get("Cache-Control"); got != "no-store" {
					t.Errorf("Cache-Control: got %q, want no-store", got)
				}
			})
		}
		s.Fails(http.StatusNotFound, "not_found", "DELETE", "/no/such/thing", "", nil)
	})
}
