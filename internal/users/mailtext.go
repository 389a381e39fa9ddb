package users

import (
	"embed"
	"encoding/json"
	"fmt"
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
