// Command gen builds ../commonpasswords.txt, the list of common passwords
// that password.Policy refuses. Run it from this directory after changing
// supplement.txt or the pinned source:
//
//	npm pack @zxcvbn-ts/language-common@4.1.3
//	go run . -tgz zxcvbn-ts-language-common-4.1.3.tgz
//	rm zxcvbn-ts-language-common-4.1.3.tgz
//
// The output depends only on the inputs, so running it twice gives the
// same file. It is made of:
//
//   - src/passwords.json from the npm package @zxcvbn-ts/language-common
//     4.1.3 (MIT licence, Copyright (c) 2012-2016 Dan Wheeler and Dropbox,
//     Inc., Copyright (c) 2021 @zxcvbn-ts): the passwords that occur more
//     than ten times in Mark Burnett's ten-million-password corpus (xato.net,
//     2015), ASCII only, lower-cased, in order of frequency. The tarball is
//     checked against the integrity hash the npm registry publishes for that
//     version, so a different file is refused rather than silently used.
//   - the first transposeTop of those, as typed with a Russian (ЙЦУКЕН)
//     layout active: qwerty becomes йцукен, password becomes зфыыцщкв.
//   - supplement.txt, written by hand for watchword: pinyin phrases and
//     names, Chinese numeric codes, Russian words and keyboard walks, and
//     the word "password" in other languages, each word also with the
//     number suffixes in numberSuffixes, and the Cyrillic ones also as
//     typed with a QWERTY layout (пароль becomes gfhjkm).
//
// Every entry is NFC-normalized and lower-cased, as Policy.Check folds a
// password before looking it up, and only entries of at least minRunes code
// points are kept: shorter ones are refused by any sensible minimum length
// anyway, and 6 keeps the list useful if an operator lowers the minimum
// from 8. The output is sorted and deduplicated, one entry a line.
package main

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha512"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

const (
	// sourceIntegrity is dist.integrity of @zxcvbn-ts/language-common@4.1.3
	// as `npm view` reports it.
	sourceIntegrity = "sha512-g2bg4skmlJG9aJqC/nWziZzgYpSe/f3rKeGobrkdFiOrfZVFqqzUgC6BUQWuX54Sua9j0Jxxt+1bf4f/Mal1Kg=="
	sourcePath      = "package/src/passwords.json"

	minRunes = 6

	// transposeTop is how many of the most frequent source passwords are
	// also added as typed on a Russian layout: enough to cover the ones
	// people actually type that way, few enough to keep the list small.
	transposeTop = 5000
)

// numberSuffixes are appended to every letters-only supplement entry:
// counting runs, the love codes 520 (我爱你), 1314 (一生一世) and their
// combinations, and lucky or easy numbers.
var numberSuffixes = []string{
	"1", "12", "123", "1234", "12345", "123456", "1234567", "12345678", "123456789",
	"520", "521", "1314", "5201314", "1314520",
	"000", "007", "111", "168", "666", "888", "6666", "8888",
}

// qwertyToRussian maps each key of a US QWERTY keyboard to the letter the
// same key types on the standard Russian ЙЦУКЕН layout.
var qwertyToRussian = map[rune]rune{
	'q': 'й', 'w': 'ц', 'e': 'у', 'r': 'к', 't': 'е', 'y': 'н', 'u': 'г', 'i': 'ш', 'o': 'щ', 'p': 'з', '[': 'х', ']': 'ъ',
	'a': 'ф', 's': 'ы', 'd': 'в', 'f': 'а', 'g': 'п', 'h': 'р', 'j': 'о', 'k': 'л', 'l': 'д', ';': 'ж', '\'': 'э',
	'z': 'я', 'x': 'ч', 'c': 'с', 'v': 'м', 'b': 'и', 'n': 'т', 'm': 'ь', ',': 'б', '.': 'ю', '`': 'ё',
}

func main() {
	tgz := flag.String("tgz", "zxcvbn-ts-language-common-4.1.3.tgz", "the tarball `npm pack @zxcvbn-ts/language-common@4.1.3` wrote")
	supplement := flag.String("supplement", "supplement.txt", "the hand-written supplement")
	out := flag.String("out", "../commonpasswords.txt", "where to write the list")
	flag.Parse()
	if err := run(*tgz, *supplement, *out); err != nil {
		log.Fatal(err)
	}
}

func run(tgzPath, supplementPath, outPath string) error {
	source, err := readSource(tgzPath)
	if err != nil {
		return err
	}
	extra, err := readSupplement(supplementPath)
	if err != nil {
		return err
	}

	russianToQWERTY := make(map[rune]rune, len(qwertyToRussian))
	for k, v := range qwertyToRussian {
		russianToQWERTY[v] = k
	}
	set := make(map[string]bool)
	add := func(s string) {
		if s = fold(s); keep(s) {
			set[s] = true
		}
	}
	for i, pw := range source {
		add(pw)
		if i < transposeTop {
			if t, ok := transpose(fold(pw), qwertyToRussian); ok {
				add(t)
			}
		}
	}
	for _, e := range extra {
		forms := []string{e}
		if lettersOnly(e) {
			for _, n := range numberSuffixes {
				forms = append(forms, e+n)
			}
		}
		for _, f := range forms {
			add(f)
			if t, ok := transpose(fold(f), russianToQWERTY); ok {
				add(t)
			}
		}
	}

	list := make([]string, 0, len(set))
	for s := range set {
		list = append(list, s)
	}
	slices.Sort(list)
	data := []byte(strings.Join(list, "\n") + "\n")
	if err := os.WriteFile(outPath, data, 0o644); err != nil {
		return err
	}
	log.Printf("%s: %d entries, %d bytes (source %d, supplement %d lines)", outPath, len(list), len(data), len(source), len(extra))
	return nil
}

// readSource returns the passwords of the npm tarball at path, most
// frequent first, after checking the tarball against sourceIntegrity.
func readSource(path string) ([]string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	sum := sha512.Sum512(raw)
	if got := "sha512-" + base64.StdEncoding.EncodeToString(sum[:]); got != sourceIntegrity {
		return nil, fmt.Errorf("%s: integrity %s, want %s", path, got, sourceIntegrity)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("%s: no %s", path, sourcePath)
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if hdr.Name != sourcePath {
			continue
		}
		var list []string
		if err := json.NewDecoder(tr).Decode(&list); err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, sourcePath, err)
		}
		return list, nil
	}
}

// readSupplement returns the non-comment lines of the supplement, trimmed.
func readSupplement(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		lines = append(lines, line)
	}
	return lines, sc.Err()
}

// fold is what Policy.Check does to a password before the look-up.
func fold(s string) string {
	return strings.ToLower(norm.NFC.String(s))
}

// keep reports whether s belongs in the list: valid UTF-8, long enough,
// and free of spaces and control characters, which would break the
// one-entry-a-line format or cannot be typed.
func keep(s string) bool {
	if !utf8.ValidString(s) || utf8.RuneCountInString(s) < minRunes {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

func lettersOnly(s string) bool {
	return !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) })
}

// transpose returns s as typed on the other layout of m: each rune mapped,
// digits kept. It reports false when s has a rune m does not map, or no
// letter to map at all.
func transpose(s string, m map[rune]rune) (string, bool) {
	var b strings.Builder
	mapped := false
	for _, r := range s {
		switch t, ok := m[r]; {
		case ok:
			b.WriteRune(t)
			mapped = mapped || unicode.IsLetter(r)
		case '0' <= r && r <= '9':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), mapped
}
