package storefront

import (
	"embed"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

//go:embed locales/*.json
var localeFiles embed.FS

// languages are the pages' languages, the default first.
var languages = []string{"en", "de"}

// catalogue is one language's messages by key. The files are flat JSON
// objects (locales/<lang>.json), small enough to read and translate
// without a tool; a message's verbs (%s, %d) take the arguments given.
type catalogue struct {
	lang string
	msgs map[string]string
}

// loadCatalogues reads every language's messages. A key the default
// language has and another lacks shows the default's text (the test
// holds the files to the same keys, so it does not happen in a build).
func loadCatalogues() (map[string]*catalogue, error) {
	out := map[string]*catalogue{}
	for _, lang := range languages {
		raw, err := localeFiles.ReadFile("locales/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("storefront: messages %s: %w", lang, err)
		}
		c := &catalogue{lang: lang, msgs: map[string]string{}}
		if err := json.Unmarshal(raw, &c.msgs); err != nil {
			return nil, fmt.Errorf("storefront: messages %s: %w", lang, err)
		}
		if def, ok := out[languages[0]]; ok {
			for k, v := range def.msgs {
				if _, ok := c.msgs[k]; !ok {
					c.msgs[k] = v
				}
			}
		}
		out[lang] = c
	}
	return out, nil
}

// text is the message of key with args; a key the catalogue lacks is
// shown as it is, so text from the API (its field errors, its details)
// passes through untouched.
func (c *catalogue) text(key string, args ...any) string {
	msg, ok := c.msgs[key]
	if !ok {
		msg = key
	}
	if len(args) == 0 {
		return msg
	}
	return fmt.Sprintf(msg, args...)
}

// chooseLanguage picks the page language: the one the account's
// preferences name (kept in the session), else the browser's
// Accept-Language, else the default.
func chooseLanguage(pref, acceptLanguage string) string {
	if slices.Contains(languages, pref) {
		return pref
	}
	best, bestQ := languages[0], 0.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		base, _, _ := strings.Cut(strings.ToLower(strings.TrimSpace(tag)), "-")
		if slices.Contains(languages, base) && q > bestQ {
			best, bestQ = base, q
		}
	}
	return best
}

// lang is the language of the page for r.
func (h *Handler) lang(r *http.Request) string {
	pref := ""
	if s := h.loadSession(r); s != nil {
		pref = s.Lang
	}
	return chooseLanguage(pref, r.Header.Get("Accept-Language"))
}

// t is key's message in r's language.
func (h *Handler) t(r *http.Request, key string, args ...any) string {
	return h.cats[h.lang(r)].text(key, args...)
}

// currencyFormat is how a currency's amounts are written: its minor
// digits and its symbol.
type currencyFormat struct {
	digits int
	symbol string
}

// currencies are the currencies the pages know a symbol for; any other
// ISO 4217 code is shown with two digits and its code. A small table of
// our own rather than golang.org/x/text/currency: that package writes
// the symbol before the number in every language ("€ 12,50" in German),
// and the few currencies a shop sells in fit in a few lines.
var currencies = map[string]currencyFormat{
	"EUR": {2, "€"}, "USD": {2, "$"}, "GBP": {2, "£"}, "CHF": {2, "CHF"},
	"JPY": {0, "¥"}, "KRW": {0, "₩"}, "ISK": {0, "kr"}, "SEK": {2, "kr"}, "PLN": {2, "zł"},
}

// numberFormat is a language's decimal and grouping marks and where the
// currency goes: "€1,234.50" in English, "1.234,50 €" in German (CLDR).
type numberFormat struct {
	decimal, group string
	symbolAfter    bool
}

var numberFormats = map[string]numberFormat{
	"en": {".", ",", false},
	"de": {",", ".", true},
}

// formatMoney shows m as a person of lang reads it.
func formatMoney(lang string, m money) string {
	cf, ok := currencies[m.Currency]
	if !ok {
		cf = currencyFormat{2, m.Currency}
	}
	nf, ok := numberFormats[lang]
	if !ok {
		nf = numberFormats["en"]
	}
	sign, a := "", m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	whole, frac := a, int64(0)
	for range cf.digits {
		whole /= 10
	}
	frac = a - whole*pow10(cf.digits)
	n := group(strconv.FormatInt(whole, 10), nf.group)
	if cf.digits > 0 {
		n += nf.decimal + fmt.Sprintf("%0*d", cf.digits, frac)
	}
	if nf.symbolAfter {
		return sign + n + "\u00a0" + cf.symbol
	}
	if len([]rune(cf.symbol)) > 1 {
		return sign + cf.symbol + "\u00a0" + n
	}
	return sign + cf.symbol + n
}

func pow10(n int) int64 {
	p := int64(1)
	for range n {
		p *= 10
	}
	return p
}

// group puts sep between every three digits of n, from the right.
func group(n, sep string) string {
	if len(n) <= 3 {
		return n
	}
	var b strings.Builder
	first := len(n) % 3
	if first > 0 {
		b.WriteString(n[:first])
	}
	for i := first; i < len(n); i += 3 {
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(n[i : i+3])
	}
	return b.String()
}
