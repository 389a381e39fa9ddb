package users

import (
	"embed"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// The service's mail is written in these languages, the default first. The
// texts are flat JSON files (locales/<lang>.json) like the storefront's, kept
// here so that the users service depends on no web package.
var languages = []string{"en", "de"}

//go:embed locales/*.json
var localeFiles embed.FS

// catalogue is one language's mail texts by key; a text's verbs (%s, %d)
// take the arguments given.
type catalogue map[string]string

// loadCatalogues reads every language's texts, refusing a file that lacks a
// key of the default language's, so a missing translation fails at start.
func loadCatalogues() (map[string]catalogue, error) {
	out := map[string]catalogue{}
	for _, lang := range languages {
		raw, err := localeFiles.ReadFile("locales/" + lang + ".json")
		if err != nil {
			return nil, fmt.Errorf("mail texts %s: %w", lang, err)
		}
		var c catalogue
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("mail texts %s: %w", lang, err)
		}
		for k := range out[languages[0]] {
			if _, ok := c[k]; !ok {
				return nil, fmt.Errorf("mail texts %s: no %q", lang, k)
			}
		}
		out[lang] = c
	}
	return out, nil
}

// text is the message of key with args.
func (c catalogue) text(key string, args ...any) string {
	return fmt.Sprintf(c[key], args...)
}

// currencyFormat is how a currency's amounts are written: its minor digits
// and its symbol. Any other ISO 4217 code is written with two digits and
// its code, as on the storefront's pages.
type currencyFormat struct {
	digits int
	symbol string
}

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

// formatMoney writes amount minor units of currency as a reader of lang
// expects.
func formatMoney(lang string, amount int64, currency string) string {
	cf, ok := currencies[currency]
	if !ok {
		cf = currencyFormat{2, currency}
	}
	nf, ok := numberFormats[lang]
	if !ok {
		nf = numberFormats[languages[0]]
	}
	sign := ""
	if amount < 0 {
		sign, amount = "-", -amount
	}
	unit := int64(1)
	for range cf.digits {
		unit *= 10
	}
	n := groupDigits(strconv.FormatInt(amount/unit, 10), nf.group)
	if cf.digits > 0 {
		n += nf.decimal + fmt.Sprintf("%0*d", cf.digits, amount%unit)
	}
	switch {
	case nf.symbolAfter:
		return sign + n + "\u00a0" + cf.symbol
	case len([]rune(cf.symbol)) > 1:
		return sign + cf.symbol + "\u00a0" + n
	default:
		return sign + cf.symbol + n
	}
}

// groupDigits puts sep between every three digits of n, from the right.
func groupDigits(n, sep string) string {
	var b strings.Builder
	for i, d := range n {
		if i > 0 && (len(n)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteRune(d)
	}
	return b.String()
}
