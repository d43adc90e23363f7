package e2e

import (
	"net/http"
	"strings"
	"testing"
)

// TestContractCheck shows that the check every API answer goes through
// (server.send → checkAPIAnswer) refuses answers the document does not
// describe, and accepts those it does.
func TestContractCheck(t *testing.T) {
	c, err := loadContract()
	if err != nil {
		t.Fatal(err)
	}
	const json = "application/json"
	tests := []struct {
		name, method, path string
		status             int
		header             http.Header
		body               string
		ok                 bool
	}{
		{"Documented", "GET", "/me", 401, hdr(json, ""), `{"error":{"code":"unauthenticated","message":"Sign in first."}}`, true},
		{"UndocumentedStatus", "GET", "/me", 409, hdr(json, ""), `{"error":{"code":"identifier_in_use","message":"x"}}`, false},
		{"BodyMismatch", "GET", "/me", 401, hdr(json, ""), `{"error":{"code":"unauthenticated"}}`, false},
		{"UnknownErrorCode", "GET", "/me", 401, hdr(json, ""), `{"error":{"code":"nope","message":"x"}}`, false},
		{"WrongCacheControl", "GET", "/me", 401, hdr(json, "public"), `{"error":{"code":"unauthenticated","message":"x"}}`, false},
		{"MissingRetryAfter", "POST", "/login/password", 429, hdr(json, ""), `{"error":{"code":"rate_limited","message":"x"}}`, false},
		{"RetryAfter", "POST", "/login/password", 429, hdr(json, "", "Retry-After", "3"), `{"error":{"code":"rate_limited","message":"x"}}`, true},
		{"WrongContentType", "POST", "/logout", 401, hdr("text/plain", ""), `{"error":{"code":"unauthenticated","message":"x"}}`, false},
		{"Me", "GET", "/me", 200, hdr(json, ""), `{"uid":"4821907364","email":{"address":"a@example.com","verified":true},"phone":null,"totp":{"enabled":false},"roles":[],"privileged_until":null}`, true},
		{"MeBadDate", "GET", "/me", 200, hdr(json, ""), `{"uid":"4821907364","email":null,"phone":null,"totp":{"enabled":false},"roles":[],"privileged_until":"soon"}`, false},
		{"UnknownPath", "GET", "/no/such/thing", 404, hdr(json, ""), `{"error":{"code":"not_found","message":"No such endpoint."}}`, true},
		{"UnknownPathOtherCode", "GET", "/no/such/thing", 404, hdr(json, ""), `{"error":{"code":"forbidden","message":"x"}}`, false},
		{"UnknownPathHTML", "GET", "/no/such/thing", 404, hdr("text/html", ""), `<p>not found</p>`, false},
		{"WrongMethod", "DELETE", "/me", 405, hdr(json, "", "Allow", "GET, HEAD"), `{"error":{"code":"method_not_allowed","message":"x"}}`, true},
		{"WrongMethodAs404", "DELETE", "/me", 404, hdr(json, ""), `{"error":{"code":"not_found","message":"x"}}`, false},
		{"WrongMethodNoAllow", "DELETE", "/me", 405, hdr(json, ""), `{"error":{"code":"method_not_allowed","message":"x"}}`, false},
		{"WrongMethodWrongAllow", "GET", "/me/totp", 405, hdr(json, "", "Allow", "POST"), `{"error":{"code":"method_not_allowed","message":"x"}}`, false},
		{"WrongMethodAllow", "GET", "/me/totp", 405, hdr(json, "", "Allow", "POST, DELETE"), `{"error":{"code":"method_not_allowed","message":"x"}}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, "http://127.0.0.1:1/api/v1"+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp := &http.Response{StatusCode: tc.status, Header: tc.header, Request: req}
			problems := c.check(req, resp, []byte(tc.body))
			if ok := len(problems) == 0; ok != tc.ok {
				t.Errorf("accepted = %v, want %v; problems:\n%s", ok, tc.ok, strings.Join(problems, "\n"))
			}
		})
	}
}

// hdr builds response headers: a content type, Cache-Control (no-store
// when empty) and more name, value pairs.
func hdr(contentType, cacheControl string, more ...string) http.Header {
	if cacheControl == "" {
		cacheControl = "no-store"
	}
	h := http.Header{"Content-Type": {contentType}, "Cache-Control": {cacheControl}}
	for i := 0; i+1 < len(more); i += 2 {
		h.Set(more[i], more[i+1])
	}
	return h
}
