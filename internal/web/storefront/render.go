package storefront

import (
	"bytes"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
)

// page is what every template gets.
type page struct {
	Title string
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

// parsePages parses each page template with the layout around it.
func parsePages() (map[string]*template.Template, error) {
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
		t, err := template.New(name).Funcs(funcs).ParseFS(templateFiles, "templates/layout.html", n)
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
	p.SignedIn = h.loadSession(r) != nil
	p.CSRF = h.csrfToken(w, r)
	var buf bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		h.log.ErrorContext(r.Context(), "render", "page", name, "err", err)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("Something went wrong on our side. Please try again."))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

var funcs = template.FuncMap{
	"money": formatMoney,
	"when":  func(t time.Time) string { return t.UTC().Format("2 Jan 2006, 15:04 UTC") },
	"label": func(s string) string { return strings.ReplaceAll(s, "_", " ") },
	"value": func(v any) string { return fmt.Sprint(v) },
	"int64": func(n int) int64 { return int64(n) },
	"add1":  func(i int) int { return i + 1 },
}

// money is an amount in minor units of a currency, as the API sends it.
type money struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

// formatMoney shows m as a person reads it: the currency's symbol where
// it has a common one, and its minor units after the point.
func formatMoney(m money) string {
	digits := 2
	switch m.Currency {
	case "JPY", "KRW", "ISK":
		digits = 0
	}
	sign := ""
	a := m.Amount
	if a < 0 {
		sign, a = "-", -a
	}
	n := strconv.FormatInt(a, 10)
	if digits > 0 {
		n = fmt.Sprintf("%0*d", digits+1, a)
		n = n[:len(n)-digits] + "." + n[len(n)-digits:]
	}
	switch m.Currency {
	case "EUR":
		return sign + "€" + n
	case "USD":
		return sign + "$" + n
	case "GBP":
		return sign + "£" + n
	}
	return sign + n + " " + m.Currency
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
