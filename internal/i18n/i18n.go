// Package i18n holds every text people read — pages, mails and SMS — in
// English and Simplified Chinese, as message files keyed by id
// (nicksnyder/go-i18n: CLDR plural rules, Go template placeholders). The
// files are embedded: locales/NAME.LANG.json. A test fails when a language
// lacks an id that another has.
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"
	"sync"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// Lang is a supported language, as its BCP 47 tag (the value of the
// html lang attribute and of ?lang=).
type Lang string

// The supported languages; English is the fallback.
const (
	English Lang = "en"
	Chinese Lang = "zh-CN"
)

// Langs are the supported languages, the default first.
var Langs = []Lang{English, Chinese}

//go:embed locales/*.json
var locales embed.FS

// Catalog translates message ids.
type Catalog struct {
	bundle *goi18n.Bundle
	ids    map[Lang]map[string]bool
	locs   map[Lang]*goi18n.Localizer
}

var loadDefault = sync.OnceValues(func() (*Catalog, error) { return Load(locales) })

// Default returns the catalog of the embedded message files. It panics if
// they do not parse, which the package's tests rule out.
func Default() *Catalog {
	c, err := loadDefault()
	if err != nil {
		panic(err)
	}
	return c
}

// Load reads every locales/*.LANG.json of fsys.
func Load(fsys fs.FS) (*Catalog, error) {
	b := goi18n.NewBundle(language.English)
	c := &Catalog{bundle: b, ids: map[Lang]map[string]bool{}, locs: map[Lang]*goi18n.Localizer{}}
	files, err := fs.Glob(fsys, "locales/*.json")
	if err != nil {
		return nil, err
	}
	for _, name := range files {
		mf, err := b.LoadMessageFileFS(fsys, name)
		if err != nil {
			return nil, fmt.Errorf("i18n: %s: %w", name, err)
		}
		lang := Lang(mf.Tag.String())
		if c.ids[lang] == nil {
			c.ids[lang] = map[string]bool{}
		}
		for _, m := range mf.Messages {
			c.ids[lang][m.ID] = true
		}
	}
	for _, l := range Langs {
		c.locs[l] = goi18n.NewLocalizer(b, string(l))
	}
	return c, nil
}

// T returns message id in lang, with data filling its placeholders
// ({{.Name}}); count, when given, chooses the plural form. An id missing
// in lang falls back to English; an id missing everywhere is returned as
// is, so a mistake shows on the page rather than an empty string.
func (c *Catalog) T(lang Lang, id string, data map[string]any, count ...int) string {
	loc := c.locs[lang]
	if loc == nil {
		loc = c.locs[English]
	}
	cfg := &goi18n.LocalizeConfig{MessageID: id, TemplateData: data}
	if len(count) > 0 {
		cfg.PluralCount = count[0]
	}
	s, err := loc.Localize(cfg)
	if err != nil {
		return id
	}
	return s
}

// IDs returns the ids lang has, sorted.
func (c *Catalog) IDs(lang Lang) []string {
	var out []string
	for id := range c.ids[lang] {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// Parse returns the supported language s names ("en", "zh-CN", also
// "zh", "zh-Hans", "zh_CN" and "en-GB"), and whether there is one.
func Parse(s string) (Lang, bool) {
	tag, err := language.Parse(strings.ReplaceAll(strings.TrimSpace(s), "_", "-"))
	if err != nil {
		return "", false
	}
	_, idx, conf := matcher.Match(tag)
	if conf == language.No {
		return "", false
	}
	return Langs[idx], true
}

// Negotiate picks the language of an Accept-Language header, English when
// none of ours is asked for.
func Negotiate(acceptLanguage string) Lang {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return English
	}
	_, idx, conf := matcher.Match(tags...)
	if conf == language.No {
		return English
	}
	return Langs[idx]
}

var matcher = language.NewMatcher([]language.Tag{language.English, language.MustParse("zh-CN")})
