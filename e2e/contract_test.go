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
		{"Me", "GET", "/me", 200, hdr(json, ""), `{"uid":"4821907364","email":{"address":"a@example.com","verified":true},"phone":null,"totp":{"enabled":false},"roles":[],"privileged_until":null,"security_hold_until":null}`, true},
		{"MeOnHold", "GET", "/me", 200, hdr(json, ""), `{"uid":"4821907364","email":null,"phone":null,"totp":{"enabled":false},"roles":[],"privileged_until":null,"security_hold_until":"2026-01-02T03:04:05Z"}`, true},
		{"MeWithoutHold", "GET", "/me", 200, hdr(json, ""), `{"uid":"4821907364","email":null,"phone":null,"totp":{"enabled":false},"roles":[],"privileged_until":null}`, false},
		{"MeBadDate", "GET", "/me", 200, hdr(json, ""), `{"uid":"4821907364","email":null,"phone":null,"totp":{"enabled":false},"roles":[],"privileged_until":"soon","security_hold_until":null}`, false},
		{"UnknownPath", "GET", "/no/such/thing", 404, hdr(json, ""), `{"error":{"code":"not_found","message":"No such endpoint."}}`, true},
		{"UnknownPathOtherCode", "GET", "/no/such/thing", 404, hdr(json, ""), `{"error":{"code":"forbidden","message":"x"}}`, false},
		{"UnknownPathHTML", "GET", "/no/such/thing", 404, hdr("text/html", ""), `<p>not found</p>`, false},
		{"WrongMethod", "DELETE", "/me", 405, hdr(json, "", "Allow", "GET, HEAD"), `{"error":{"code":"method_not_allowed","message":"x"}}`, true},
		{"WrongMethodAs404", "DELETE", "/me", 404, hdr(json, ""), `{"error":{"code":"not_found","message":"x"}}`, false},
		{"WrongMethodNoAllow", "DELETE", "/me", 405, hdr(json, ""), `{"error":{"code":"method_not_allowed","message":"x"}}`, false},
		{"WrongMethodWrongAllow", "GET", "/me/totp", 405, hdr(json, "", "Allow", "POST"), `{"error":{"code":"method_not_allowed","message":"x"}}`, false},
		{"WrongMethodAllow", "GET", "/me/totp", 405, hdr(json, "", "Allow", "POST, DELETE"), `{"error":{"code":"method_not_allowed","message":"x"}}`, true},
		{"Evidence", "GET", "/admin/unbind-requests/r1/evidence/video", 200, evidence("video/mp4", `inline; filename="video.mp4"`), "\x00\x00\x00\x18ftypisom", true},
		{"EvidenceAsHTML", "GET", "/admin/unbind-requests/r1/evidence/photo", 200, evidence("text/html", `inline; filename="photo.jpg"`), "<script>", false},
		{"EvidenceAsAttachmentOfAnyName", "GET", "/admin/unbind-requests/r1/evidence/photo", 200, evidence("image/jpeg", `attachment; filename="x.html"`), "\xff\xd8\xff", false},
		{"EvidenceSniffable", "GET", "/admin/identity-verifications/1/evidence/selfie", 200, hdr("image/png", "", "Content-Disposition", `inline; filename="selfie.png"`, "Content-Security-Policy", "default-src 'none'; sandbox"), "\x89PNG", false},
		{"UnbindConflict", "POST", "/unbind-requests", 409, hdr(json, ""), `{"error":{"code":"conflict","message":"x"}}`, true},
		{"UploadTooLarge", "POST", "/unbind-requests", 413, hdr(json, ""), `{"error":{"code":"too_large","message":"x"}}`, true},
		{"StaffForbidden", "GET", "/admin/unbind-requests", 403, hdr(json, ""), `{"error":{"code":"forbidden","message":"x"}}`, true},
		{"UnbindCaseMissingField", "GET", "/admin/unbind-requests/r1", 200, hdr(json, ""), `{"request_id":"r1"}`, false},
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

// evidence builds the headers of a file served to staff.
func evidence(contentType, disposition string) http.Header {
	return hdr(contentType, "", "Content-Disposition", disposition, "X-Content-Type-Options", "nosniff",
		"Content-Security-Policy", "default-src 'none'; sandbox")
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
