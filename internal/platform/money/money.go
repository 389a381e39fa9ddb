// Package money writes amounts of money the way a reader of a language
// expects: the storefront's pages and the users service's mail show
// prices alike.
package money

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// currencyFormat is how a currency's amounts are written: its minor
// digits and its symbol.
type currencyFormat struct {
	digits int
	symbol string
}

// currencies are the currencies with a known symbol; any other ISO 4217
// code is written with two digits and its code. A small table of our own
// rather than golang.org/x/text/currency: that package writes the symbol
// before the number in every language ("€ 12,50" in German), and the few
// currencies a shop sells in fit in a few lines.
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

// Format writes amount minor units of currency (an ISO 4217 code) for a
// reader of lang; a language without a format of its own gets English's.
func Format(lang string, amount int64, currency string) string {
	cf, ok := currencies[currency]
	if !ok {
		cf = currencyFormat{2, currency}
	}
	nf, ok := numberFormats[lang]
	if !ok {
		nf = numberFormats["en"]
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

// Codes are the currencies with a format of their own, sorted.
func Codes() []string {
	out := make([]string, 0, len(currencies))
	for c := range currencies {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// Known says whether currency has a format of its own.
func Known(currency string) bool {
	_, ok := currencies[currency]
	return ok
}

// Digits is how many minor digits currency's amounts have (two for a
// currency without a format of its own).
func Digits(currency string) int {
	if cf, ok := currencies[currency]; ok {
		return cf.digits
	}
	return 2
}
