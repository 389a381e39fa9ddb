package money_test

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/money"
)

func TestMoneyIsWrittenInTheCurrencysOwnFormatForTheLanguage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lang     string
		amount   int64
		currency string
		want     string
	}{
		{"en", 2500, "EUR", "€25.00"},
		{"en", 123450, "EUR", "€1,234.50"},
		{"de", 1250, "EUR", "12,50\u00a0€"},
		{"de", 123450, "EUR", "1.234,50\u00a0€"},
		{"en", 5, "USD", "$0.05"},
		{"de", 123456789, "USD", "1.234.567,89\u00a0$"},
		{"en", 123456789, "USD", "$1,234,567.89"},
		{"en", -199, "GBP", "-£1.99"},
		{"en", 1200, "JPY", "¥1,200"},
		{"de", 1200, "JPY", "1.200\u00a0¥"},
		{"en", 1000000, "JPY", "¥1,000,000"},
		{"en", 100050, "CHF", "CHF\u00a01,000.50"},
		{"en", 1999, "NOK", "NOK\u00a019.99"},
		{"en", 100, "XYZ", "XYZ\u00a01.00"},
		{"fr", 100, "EUR", "€1.00"},
	}
	for _, tt := range tests {
		if got := money.Format(tt.lang, tt.amount, tt.currency); got != tt.want {
			t.Errorf("Format(%s, %d, %s) = %q, want %q", tt.lang, tt.amount, tt.currency, got, tt.want)
		}
	}
}
