package e2e

import (
	"fmt"
	"path/filepath"
	"testing"
)

// TestCodeLoginLimitFlag: --code-login-limit sets how many code logins the
// server starts per hour over every address and client (each sends a
// code, or would for an address of an account): past it, any client asking
// for any address is told rate_limited with Retry-After, whether the
// address has an account or not.
func TestCodeLoginLimitFlag(t *testing.T) {
	t.Parallel()
	s := start(t, options{DB: "sqlite:" + filepath.Join(t.TempDir(), "w.db"),
		Extra: []string{"--trusted-proxies", "127.0.0.1", "--code-login-limit", "3"}})
	for i := range 3 {
		r := s.rawDo("POST", "/login/code", "", fmt.Sprintf(`{"identifier":"user%d@example.com"}`, i), fmt.Sprintf("198.51.100.%d", i+1))
		if r.Status != 202 {
			t.Fatalf("code login %d under the limit: %d %s", i+1, r.Status, r.Raw)
		}
	}
	r := s.rawDo("POST", "/login/code", "", `{"identifier":"someone-else@example.com"}`, "203.0.113.77")
	if r.Status != 429 || r.Header.Get("Retry-After") == "" || r.ErrorCode() != "rate_limited" {
		t.Errorf("fourth code login in the hour, new address and client: %d %s (Retry-After %q); want 429 rate_limited",
			r.Status, r.Raw, r.Header.Get("Retry-After"))
	}
}
