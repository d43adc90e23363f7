package password

import "strings"

// zxcvbn's running time grows much faster than the length of its input,
// and Check runs before any rate limit has had a say (sign-up), so the
// input is bounded twice. Measured on this project's machine (2 shared
// cores), before: the first 100 code points of a 256-code-point password
// took 16 ms for a passphrase and 0.5 to 0.7 s for one dense in digits and
// symbols; after: under 10 ms for anything (BenchmarkCheck).
//
// First, zxcvbn sees at most zxcvbnMaxRunes code points. Its dictionary
// matcher tries every substring against every dictionary, and its repeat,
// sequence and date matchers are quadratic or worse too. A password whose
// first 64 code points are hard to guess is hard to guess (64 is also the
// length NIST SP 800-63B says verifiers should at least allow), and a
// longer one is still checked whole for length, context words and the
// common-password list.
//
// Second, the prefix shrinks further when it is full of l33t stand-ins.
// For every combination of substitutions they allow (4 or @ for a; 1, ! or
// | for i; …) zxcvbn runs its whole dictionary matcher again, so the work
// is that fan-out times the square of the length: 64 code points of
// password-manager output, which uses most stand-ins, took about 100 ms.
// zxcvbnInput keeps the longest prefix whose estimated work fits
// zxcvbnBudget, but never fewer than zxcvbnMinRunes code points. The
// passwords this shortens are dense with digits and symbols, and their
// first 20 code points are scored as the random strings they usually are;
// a weak one ("p@ssw0rd!" and the like) is short, so its weak part is in
// the prefix.
const (
	zxcvbnMaxRunes = 64
	zxcvbnMinRunes = 20
	// zxcvbnBudget is in units of zxcvbnWork: about 10 ms on this
	// project's machine (2 shared cores), and a 64-code-point password with
	// no l33t characters costs 6,240.
	zxcvbnBudget = 20_000
)

// zxcvbnInput returns what Check gives zxcvbn for password: zxcvbnSafe's
// one byte per code point, cut to the longest prefix, of at least
// zxcvbnMinRunes, whose zxcvbnWork fits zxcvbnBudget.
func zxcvbnInput(password string) string {
	s := zxcvbnSafe(password)
	if len(s) <= zxcvbnMinRunes || zxcvbnWork(s) <= zxcvbnBudget {
		return s
	}
	// zxcvbnWork grows with the prefix, so binary-search the longest one
	// that fits: lo always fits (or is the floor), hi never does.
	lo, hi := zxcvbnMinRunes, len(s)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if zxcvbnWork(s[:mid]) <= zxcvbnBudget {
			lo = mid
		} else {
			hi = mid
		}
	}
	return s[:lo]
}

// zxcvbnWork estimates zxcvbn's work on s, an output of zxcvbnSafe: the
// number of substrings, n(n+1)/2, times the number of passes over them
// (the plain and reversed dictionaries, the other matchers, and one
// dictionary pass per l33t substitution table).
func zxcvbnWork(s string) int {
	n := len(s)
	return (3 + l33tFanOut(s)) * n * (n + 1) / 2
}

// l33tTable is the substitution table of github.com/trustelem/zxcvbn
// v1.0.1 (matching/omnimatch.go): each letter and the characters that may
// stand for it.
var l33tTable = [...]string{
	'a' - 'a': "4@",
	'b' - 'a': "8",
	'c' - 'a': "({[<",
	'e' - 'a': "3",
	'g' - 'a': "69",
	'i' - 'a': "1!|",
	'l' - 'a': "1|7",
	'o' - 'a': "0",
	's' - 'a': "$5",
	't' - 'a': "+7",
	'x' - 'a': "%",
	'z' - 'a': "2",
}

// l33tFanOut returns an upper bound on the number of substitution tables
// zxcvbn tries for s, each a full dictionary pass: the product, over the
// letters with a stand-in in s, of how many of their stand-ins s has,
// doubled for each stand-in group shared by two letters (1 and | for i
// and l, 7 for l and t), as zxcvbn then also tries each table with the
// stand-in moved to the other letter. It is 0 when s has no stand-in,
// as zxcvbn then skips the l33t pass.
//
// v1.0.1's enumeration (enumerateLeetSubs) shares slices between tables,
// so its exact count is hard to predict; over half a million random
// strings of stand-ins, letters and symbols it never exceeded this bound
// and never went over 163, while this bound reaches 2,304 for a password
// that uses every stand-in.
// Overestimating only shortens such a password's scored prefix toward
// zxcvbnMinRunes; underestimating would let the time run away.
func l33tFanOut(s string) int {
	fanOut, found := 1, false
	for _, standIns := range l33tTable {
		k := 0
		for i := range len(standIns) {
			if strings.IndexByte(s, standIns[i]) >= 0 {
				k++
			}
		}
		if k > 0 {
			fanOut *= k
			found = true
		}
	}
	if !found {
		return 0
	}
	if strings.ContainsAny(s, "1|") {
		fanOut *= 2
	}
	if strings.IndexByte(s, '7') >= 0 {
		fanOut *= 2
	}
	return fanOut
}
