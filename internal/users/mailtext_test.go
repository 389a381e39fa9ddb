package users

import "testing"

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
