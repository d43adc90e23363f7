package token_test

import (
	"crypto/rand"
	"encoding/base64"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	wwtoken "github.com/watchword/watchword/internal/token"
)

// TestTokenStrength (S-02): 1,000 session-sized tokens (32 bytes, what
// sessions, flows and recovery ids are made of) are distinct, decode to
// 256 bits, and every bit position is set in about half of them: a stuck
// or biased bit would be 6 standard deviations off.
func TestTokenStrength(t *testing.T) {
	const n = 1000
	seen := make(map[string]bool, n)
	var ones [256]int
	for range n {
		tok, err := wwtoken.New(rand.Reader, 32)
		if err != nil {
			t.Fatal(err)
		}
		if seen[tok] {
			t.Fatalf("token %d repeats", len(seen))
		}
		seen[tok] = true
		raw, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || len(raw) != 32 {
			t.Fatalf("%q: %d bytes, %v; want 32", tok, len(raw), err)
		}
		for i := range 256 {
			ones[i] += int(raw[i/8]>>(i%8)) & 1
		}
	}
	// Binomial(1000, 1/2): mean 500, standard deviation 15.8.
	for i, c := range ones {
		if c < 400 || c > 600 {
			t.Fatalf("bit %d set in %d of %d tokens", i, c, n)
		}
	}
}

// mathRandAllowed are the non-test files that may use math/rand: none of
// them makes a secret.
var mathRandAllowed = map[string]string{
	"internal/outbox/worker.go":  "jitter of the retry backoff",
	"cmd/watchword-load/load.go": "the load tool's choice of users and scenarios",
}

// TestNoMathRandForSecrets (C-01, S-02): codes, tokens, ids and TOTP
// secrets come from crypto/rand. No non-test file imports math/rand
// except the ones listed above, which make no secret.
func TestNoMathRandForSecrets(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if (p == "math/rand" || p == "math/rand/v2") && mathRandAllowed[rel] == "" {
				t.Errorf("%s imports %s: secrets must come from crypto/rand", rel, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 50 {
		t.Fatalf("checked only %d files under %s", checked, root)
	}
}
