package password

import (
	"bufio"
	"os"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// TestCommonListFormat checks the embedded list is what isCommon assumes:
// one folded entry a line, sorted, unique, at least 6 code points.
func TestCommonListFormat(t *testing.T) {
	if n := len(commonPasswordsText); n > 2<<20 {
		t.Errorf("list is %d bytes, want under 2 MiB", n)
	}
	if !strings.HasSuffix(commonPasswordsText, "\n") {
		t.Error("list does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(commonPasswordsText, "\n"), "\n")
	if len(lines) < 40_000 || len(lines) > 100_000 {
		t.Errorf("list has %d entries, want tens of thousands", len(lines))
	}
	for i, line := range lines {
		switch {
		case !utf8.ValidString(line):
			t.Errorf("line %d %q: invalid UTF-8", i+1, line)
		case strings.ToLower(Normalize(line)) != line:
			t.Errorf("line %d %q: not NFC and lower-case", i+1, line)
		case utf8.RuneCountInString(line) < 6:
			t.Errorf("line %d %q: shorter than 6 code points", i+1, line)
		case strings.ContainsFunc(line, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }):
			t.Errorf("line %d %q: space or control character", i+1, line)
		case i > 0 && lines[i-1] >= line:
			t.Errorf("line %d %q: not after %q (unsorted or duplicate)", i+1, line, lines[i-1])
		}
	}
	if got := len(commonPasswords()); got != len(lines) {
		t.Errorf("set has %d entries, file %d lines", got, len(lines))
	}
}

// TestCommonListHasSupplement checks that the list was regenerated after
// the last change to gen/supplement.txt: each of its entries long enough
// to keep is in the list.
func TestCommonListHasSupplement(t *testing.T) {
	f, err := os.Open("gen/supplement.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	set := commonPasswords()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		entry := strings.ToLower(Normalize(line))
		if utf8.RuneCountInString(entry) < 6 {
			continue
		}
		if _, ok := set[entry]; !ok {
			t.Errorf("%q from gen/supplement.txt is not in commonpasswords.txt: run gen (see gen/main.go)", entry)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestIsCommon(t *testing.T) {
	tests := []struct {
		lower string
		want  bool
	}{
		// On the list as is.
		{"qwertyuiop", true},
		{"woaini1314", true},
		{"5201314", true},
		{"gfhjkm", true},
		{"зфыыцщкв", true},
		{"zhang123456", true},
		// A listed base and a cheap decoration.
		{"woaini1314!", true},
		{"пароль 123", true},
		{"sunshine!!!", true},
		{"sunshine2024", true},
		{"sunshine123456789", true}, // more than 4 digits, but common digits
		{"sunshine5201314!", true},
		// Too much decoration, or no listed base.
		{"sunshine!!!!", false},          // 4 symbols
		{"sunshine83719264", false},      // 8 uncommon digits
		{"sunshine1!2@3#4$", false},      // 4 symbols
		{"1984-05-17", false},            // nothing but decoration
		{"xyzzy1234", false},             // base not listed
		{"zhang-wei-the-great", false},   // decoration only at the end
		{"2024sunshine", false},          // decoration in front is zxcvbn's job
		{"correct horse battery", false}, // spaces inside are not decoration
	}
	for _, tc := range tests {
		if got := isCommon(tc.lower); got != tc.want {
			t.Errorf("isCommon(%q) = %v, want %v", tc.lower, got, tc.want)
		}
	}
}

func TestZxcvbnInput(t *testing.T) {
	passphrase := strings.Repeat("correct horse battery staple ", 9)
	leet := strings.Repeat("4@8({[<369!|17$5+%2", 14)
	manager := strings.Repeat("x7Qp2vRtk9$Lm2qxJt8#k%Wz!0eYb&5uN^c3Hg6(Ta1*Lo4@Sd7_Fj8+Mi9=Vr2[Ec5]Pw0{Qa3}", 4)
	tests := []struct {
		name     string
		password string
		wantLen  int // 0: anything from zxcvbnMinRunes to zxcvbnMaxRunes
	}{
		{"Short", "Tr0ub4dor&3", 11},
		{"ShortLeet", "4@8({[<369!|17$5+%2", 19},
		{"PassphraseCappedAt64", passphrase, zxcvbnMaxRunes},
		{"CJKOneBytePerCodePoint", strings.Repeat("我的猫叫小白今年三岁了", 10), zxcvbnMaxRunes},
		{"LeetHeavyAtFloor", leet, zxcvbnMinRunes},
		{"PasswordManager", manager, 0},
		{"Digits", strings.Repeat("1984051719", 26), 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := zxcvbnInput(tc.password)
			safe := zxcvbnSafe(tc.password)
			if !strings.HasPrefix(safe, got) {
				t.Fatalf("zxcvbnInput = %q, not a prefix of %q", got, safe)
			}
			if tc.wantLen != 0 && len(got) != tc.wantLen {
				t.Fatalf("zxcvbnInput has %d bytes, want %d", len(got), tc.wantLen)
			}
			if len(got) < min(zxcvbnMinRunes, len(safe)) || len(got) > zxcvbnMaxRunes {
				t.Fatalf("zxcvbnInput has %d bytes, want %d to %d", len(got), zxcvbnMinRunes, zxcvbnMaxRunes)
			}
			// Above the floor, the estimate fits the budget, and one more
			// code point would not have.
			if len(got) > zxcvbnMinRunes && zxcvbnWork(got) > zxcvbnBudget {
				t.Fatalf("zxcvbnWork(%q) = %d, over the budget %d", got, zxcvbnWork(got), zxcvbnBudget)
			}
			if len(got) < len(safe) && len(got) >= zxcvbnMinRunes && zxcvbnWork(safe[:len(got)+1]) <= zxcvbnBudget {
				t.Fatalf("zxcvbnInput stopped at %d bytes, but %d fit the budget", len(got), len(got)+1)
			}
		})
	}
}

func TestL33tFanOut(t *testing.T) {
	tests := []struct {
		s    string
		want int
	}{
		{"correct horse", 0},
		{"p4ssword", 1},
		{"p4@ssword", 2},
		{"c(({[", 3},
		{"1", 2},  // i and l, doubled
		{"17", 8}, // i:1, l:1,7 = 2, t:7; doubled twice
		{"4@8({[<369!|17$5+%20", 2304},
	}
	for _, tc := range tests {
		if got := l33tFanOut(tc.s); got != tc.want {
			t.Errorf("l33tFanOut(%q) = %d, want %d", tc.s, got, tc.want)
		}
	}
}
