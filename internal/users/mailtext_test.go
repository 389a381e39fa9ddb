package users

import "testing"

func TestMoneyIsWrittenTheWayTheBuyersLanguageWritesIt(t *testing.T) {
	tests := []struct {
		lang     string
		amount   int64
		currency string
		want     string
	}{
		{"en", 123450, "EUR", "€1,234.50"},
		{"de", 123450, "EUR", "1.234,50\u00a0€"},
		{"en", 5, "USD", "$0.05"},
		{"en", 1000000, "JPY", "¥1,000,000"},
		{"de", 1000000, "JPY", "1.000.000\u00a0¥"},
		{"en", 1999, "CHF", "CHF\u00a019.99"},
		{"en", 1999, "NOK", "NOK\u00a019.99"},
		{"fr", 123, "EUR", "€1.23"},
	}
	for _, tt := range tests {
		if got := formatMoney(tt.lang, tt.amount, tt.currency); got != tt.want {
			t.Errorf("formatMoney(%s, %d, %s) = %q, want %q", tt.lang, tt.amount, tt.currency, got, tt.want)
		}
	}
}

func TestEveryLanguageHasEveryMailText(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range languages {
		for key := range cats[languages[0]] {
			if cats[lang][key] == "" {
				t.Errorf("%s has no text for %s", lang, key)
			}
		}
	}
}

func TestTheLanguageIsThePreferencesOrTheDefault(t *testing.T) {
	tests := map[string]string{
		`{"language":"de"}`: "de", `{"language":"en"}`: "en", `{"language":"fr"}`: "en", `{}`: "en", `not json`: "en",
	}
	for prefs, want := range tests {
		if got := preferredLanguage([]byte(prefs)); got != want {
			t.Errorf("preferredLanguage(%s) = %s, want %s", prefs, got, want)
		}
	}
}
