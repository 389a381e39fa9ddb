package storefront

import (
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

func TestThePageLanguageIsThePreferenceElseTheBrowsersElseEnglish(t *testing.T) {
	tests := []struct {
		name, pref, accept, want string
	}{
		{"a preference wins over the browser", "de", "en-GB,en;q=0.9", "de"},
		{"no preference: the browser's first known language", "", "de-DE,de;q=0.9,en;q=0.8", "de"},
		{"the browser's weights decide", "", "en;q=0.5, de;q=0.8", "de"},
		{"an unknown preference is ignored", "fr", "en", "en"},
		{"an unknown browser language falls back to English", "", "fr-FR, ja;q=0.9", "en"},
		{"a malformed weight is skipped", "", "de;q=abc, en", "en"},
		{"nothing at all is English", "", "", "en"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := chooseLanguage(tt.pref, tt.accept); got != tt.want {
				t.Errorf("chooseLanguage(%q, %q) = %q, want %q", tt.pref, tt.accept, got, tt.want)
			}
		})
	}
}

// TestEveryLanguageHasEveryMessageTheTemplatesUse holds the catalogues
// to the same keys, and to every key a template or the code names.
func TestEveryLanguageHasEveryMessageTheTemplatesUse(t *testing.T) {
	cats, err := loadCatalogues()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range languages {
		raw, _ := localeFiles.ReadFile("locales/" + lang + ".json")
		var own map[string]string
		if err := json.Unmarshal(raw, &own); err != nil {
			t.Fatal(err)
		}
		for k := range cats["en"].msgs {
			if _, ok := own[k]; !ok {
				t.Errorf("%s lacks %q", lang, k)
			}
		}
	}
	used := regexp.MustCompile(`\{\{t "([a-z0-9_.]+)"|"((?:title|notice|err|field|pay|sort)\.[a-z0-9_]+)"`)
	var sources []string
	names, _ := fs.Glob(templateFiles, "templates/*.html")
	goFiles, _ := filepath.Glob("*.go")
	for _, n := range names {
		b, _ := templateFiles.ReadFile(n)
		sources = append(sources, string(b))
	}
	for _, n := range goFiles {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(n)
		sources = append(sources, string(b))
	}
	for _, src := range sources {
		for _, m := range used.FindAllStringSubmatch(src, -1) {
			key := m[1] + m[2]
			if _, ok := cats["en"].msgs[key]; !ok {
				t.Errorf("the message %q is used but not in the catalogue", key)
			}
		}
	}
	for _, prefix := range []string{"status.", "pstatus.", "role."} {
		for _, v := range map[string][]string{
			"status.":  {"pending_payment", "paid", "payment_failed", "cancelled", "shipped", "delivered"},
			"pstatus.": {"draft", "active", "archived"},
			"role.":    roleNames,
		}[prefix] {
			if _, ok := cats["de"].msgs[prefix+v]; !ok {
				t.Errorf("no message for %s%s", prefix, v)
			}
		}
	}
}

func TestATypedPriceIsReadAsMinorUnits(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"25", 2500, true}, {"25.5", 2550, true}, {"25,50", 2550, true}, {" 0.99 ", 99, true}, {".5", 50, true},
		{"25.505", 0, false}, {"-3", 0, false}, {"abc", 0, false}, {"1e3", 0, false}, {"", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseAmount(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseAmount(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestALoginReturnsOnlyToAPathOfThisSite(t *testing.T) {
	tests := map[string]string{
		"/cart": "/cart", "/orders/1?x=2": "/orders/1?x=2", "": "/", "https://evil.example": "/",
		"//evil.example": "/", "/\\evil.example": "/", "javascript:alert(1)": "/",
	}
	for in, want := range tests {
		if got := localPath(in); got != want {
			t.Errorf("localPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestASealedCookieOpensOnlyUnchangedUnderItsNameAndKeys(t *testing.T) {
	oldKey, newKey := make([]byte, 32), make([]byte, 32)
	newKey[0] = 1
	before, _ := newSealer([][]byte{oldKey})
	after, _ := newSealer([][]byte{newKey, oldKey})
	other, _ := newSealer([][]byte{newKey})
	v, err := before.seal(sessionCookie, session{Access: "a", Refresh: "r"})
	if err != nil {
		t.Fatal(err)
	}
	var s session
	if !after.open(sessionCookie, v, &s) || s.Access != "a" || s.Refresh != "r" {
		t.Errorf("a cookie sealed with the old key does not open after the rotation: %+v", s)
	}
	if other.open(sessionCookie, v, &s) {
		t.Error("a cookie opened without its key")
	}
	if after.open(csrfCookie, v, &s) {
		t.Error("a cookie opened under another name")
	}
	tampered := []byte(v)
	tampered[len(tampered)/2] ^= 1
	if after.open(sessionCookie, string(tampered), &s) {
		t.Error("a changed cookie opened")
	}
}

// TestEveryFormPostNeedsTheTokenOfItsCookie: without the matching
// token, no form reaches its handler, which would call the API.
func TestEveryFormPostNeedsTheTokenOfItsCookie(t *testing.T) {
	h, err := New(Config{APIURL: "http://127.0.0.1:1", CookieKeys: [][]byte{make([]byte, 32)}}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	rt := httpx.NewRouter("web", observability.NewHTTPMetrics(observability.NewRegistry()))
	h.Routes(rt)
	tests := []struct {
		name          string
		cookie, field string
		header        [2]string
		want          int
	}{
		{name: "no cookie, no field", want: http.StatusForbidden},
		{name: "a field without its cookie", field: "t", want: http.StatusForbidden},
		{name: "a field that differs from the cookie", cookie: "t1", field: "t2", want: http.StatusForbidden},
		{name: "a cross-site post", cookie: "t", field: "t", header: [2]string{"Sec-Fetch-Site", "cross-site"}, want: http.StatusForbidden},
		// The API is unreachable: a form that passes the checks ends on
		// the page that says to try again.
		{name: "the token of the cookie", cookie: "t", field: "t", want: http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			form := url.Values{"email": {"a@example.com"}, "password": {"x"}}
			if tt.field != "" {
				form.Set(csrfField, tt.field)
			}
			r := httptest.NewRequest(http.MethodPost, "/login", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if tt.cookie != "" {
				r.AddCookie(&http.Cookie{Name: csrfCookie, Value: tt.cookie})
			}
			if tt.header[0] != "" {
				r.Header.Set(tt.header[0], tt.header[1])
			}
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Errorf("POST /login = %d, want %d: %s", w.Code, tt.want, w.Body)
			}
			if csp := w.Header().Get("Content-Security-Policy"); w.Code != http.StatusForbidden && csp != contentSecurityPolicy {
				t.Errorf("Content-Security-Policy %q", csp)
			}
		})
	}
}

func TestTheSearchFormBecomesTheListingsParameters(t *testing.T) {
	f := readSearch(url.Values{"q": {" red lamp "}, "category": {"lamps"}, "sort": {"bogus"}, "min_price": {"10"},
		"attr.colour": {"red", "blue"}, "cursor": {"c2"}, "trail": {"c1"}})
	cats, _ := loadCatalogues()
	path, bad, notes := f.apiQuery(cats["en"].text)
	u, _ := url.Parse(path)
	q := u.Query()
	if q.Get("q") != "red lamp" || q.Get("sort") != "newest" || q.Get("min_price") != "1000" || q.Get("attr.colour") != "red" ||
		q.Get("cursor") != "c2" || q.Get("limit") != "12" || len(bad) != 0 {
		t.Errorf("apiQuery = %s, %v", path, bad)
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "Only one colour") {
		t.Errorf("notes %q, want one about the second colour", notes)
	}
	if _, bad, _ := readSearch(url.Values{"max_price": {"lots"}}).apiQuery(cats["en"].text); bad["max_price"] == "" {
		t.Error("a price that is not a number is not reported")
	}
	back, _ := url.Parse(f.query("c1", nil))
	if got := back.Query(); got.Get("cursor") != "c1" || got.Has("trail") || len(got["attr.colour"]) != 2 {
		t.Errorf("the previous page's URL %s", back)
	}
}

func TestTheTimelineShowsEachChangeOnce(t *testing.T) {
	at := func(m int) time.Time { return time.Date(2026, 1, 1, 0, m, 0, 0, time.UTC) }
	one := order{History: []change{
		{To: "pending_payment", At: at(0)}, {SubOrderID: "s1", To: "paid", At: at(1)}, {To: "paid", At: at(1)},
		{SubOrderID: "s1", To: "shipped", At: at(2)},
	}}
	one.SubOrders = []subOrder{{ID: "s1"}}
	var got []string
	for _, s := range timeline(one) {
		got = append(got, s.Of+" "+s.To)
	}
	if want := []string{" pending_payment", " paid", " shipped"}; !slices.Equal(got, want) {
		t.Errorf("one seller's timeline %q, want %q", got, want)
	}
	two := one
	two.SubOrders = append(slices.Clone(one.SubOrders), one.SubOrders[0])
	two.SubOrders[1].ID = "s2"
	got = nil
	for _, s := range timeline(two) {
		got = append(got, s.Of+" "+s.To)
	}
	if want := []string{" pending_payment", "1 paid", " paid", "1 shipped"}; !slices.Equal(got, want) {
		t.Errorf("two sellers' timeline %q, want %q", got, want)
	}
}

func TestTheAPILearnsTheBrowsersAddressChain(t *testing.T) {
	tests := []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"a browser straight to the pages", "198.51.100.7:5000", nil, "198.51.100.7"},
		{"a browser through the gateway", "127.0.0.1:4000", []string{"203.0.113.9"}, "203.0.113.9, 127.0.0.1"},
		{"several header lines", "[::1]:4000", []string{"10.0.0.1", "203.0.113.9"}, "10.0.0.1, 203.0.113.9, ::1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tt.remote
			for _, v := range tt.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := forwardedFor(r); got != tt.want {
				t.Errorf("forwardedFor = %q, want %q", got, tt.want)
			}
		})
	}
}
