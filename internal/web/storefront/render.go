package storefront

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	moneyfmt "github.com/marketplace-go/marketplace/internal/platform/money"
)

// page is what every template gets.
type page struct {
	// Title is a message key (or a text, such as a product's title).
	Title string
	// Lang is the page's language.
	Lang string
	// Seller and Admin are the visitor's roles, which the header's links
	// follow; the API decides what each may do.
	Seller, Admin bool
	// SignedIn is whether the visitor has a session; the header shows
	// the account's links or the log-in link by it.
	SignedIn bool
	// CSRF is the anti-forgery token for the page's forms.
	CSRF string
	// Notice is good news; Error is what went wrong, to act on.
	Notice, Error string
	// Fields are the errors of a form's fields, by name.
	Fields map[string]string
	// Data is the page's own.
	Data any
}

// parsePages parses each page template with the layout around it, once
// per language: the templates' "t" and "money" speak that language.
func parsePages(cats map[string]*catalogue) (map[string]map[string]*template.Template, error) {
	out := map[string]map[string]*template.Template{}
	for lang, c := range cats {
		pages, err := parseLanguage(c)
		if err != nil {
			return nil, err
		}
		out[lang] = pages
	}
	return out, nil
}

func parseLanguage(c *catalogue) (map[string]*template.Template, error) {
	fm := template.FuncMap{
		"t":     c.text,
		"money": func(m money) string { return moneyfmt.Format(c.lang, m.Amount, m.Currency) },
		"when":  func(t time.Time) string { return t.UTC().Format(c.text("format.time")) },
	}
	for k, f := range funcs {
		fm[k] = f
	}
	names, err := fs.Glob(templateFiles, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("storefront: templates: %w", err)
	}
	pages := map[string]*template.Template{}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New(name).Funcs(fm).ParseFS(templateFiles, "templates/layout.html", n)
		if err != nil {
			return nil, fmt.Errorf("storefront: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}

// render writes the named page. It renders into a buffer first, so that a
// template error is a 500 page rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	s := h.loadSession(r)
	p.SignedIn = s != nil
	if s != nil {
		roles := s.roles()
		p.Seller, p.Admin = slices.Contains(roles, "seller"), slices.Contains(roles, "admin")
	}
	p.Lang = h.lang(r)
	p.CSRF = h.csrfToken(w, r)
	c := h.cats[p.Lang]
	p.Title, p.Notice, p.Error = c.text(p.Title), c.text(p.Notice), c.text(p.Error)
	if len(p.Fields) > 0 {
		fields := make(map[string]string, len(p.Fields))
		for k, msg := range p.Fields {
			fields[k] = c.text(msg)
		}
		p.Fields = fields
	}
	var buf bytes.Buffer
	if err := h.pages[p.Lang][name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(r.Context(), "render", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(h.cats[p.Lang].text("err.internal")))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

var funcs = template.FuncMap{
	"label": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"value": func(v any) string { return fmt.Sprint(v) },
	"int64": func(n int) int64 { return int64(n) },
	"add1":  func(i int) int { return i + 1 },
	// currencyCodes are the currencies a price may be in.
	"currencyCodes": moneyfmt.Codes,
}

// money is an amount in minor units of a currency, as the API sends it.
type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// parseAmount reads a price a person typed ("25", "25.5", "25,50") as
// minor units of a two-digit currency.
func parseAmount(s string) (int64, bool) {
	s = strings.ReplaceAll(strings.TrimSpace(s), ",", ".")
	if s == "" || s == "." {
		return 0, false
	}
	whole, frac, _ := strings.Cut(s, ".")
	if whole == "" {
		whole = "0"
	}
	if len(frac) > 2 {
		return 0, false
	}
	frac += strings.Repeat("0", 2-len(frac))
	w, err := strconv.ParseUint(whole, 10, 40)
	if err != nil {
		return 0, false
	}
	f, err := strconv.ParseUint(frac, 10, 8)
	if err != nil {
		return 0, false
	}
	return int64(w)*100 + int64(f), true
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
