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
