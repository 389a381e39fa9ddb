package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// TestWebBuyerJourneyThroughTheGateway drives the storefront as a browser
// without JavaScript would, through the gateway of the whole platform in
// one process: every page's main action is a plain form.
func TestWebBuyerJourneyThroughTheGateway(t *testing.T) {
	endToEnd(t)
	t.Parallel()
	gatewayAddr := freeAddr(t)
	getenv := testEnv(t, map[string]string{
		"GATEWAY_ADDR": gatewayAddr,
		"WEB_API_URL":  "http://" + gatewayAddr,
		// Signing up waits for two password hashes (the account's, then
		// the login's), each many times slower under the race detector
		// on a machine the other platform tests keep busy: past the
		// gateway's default 10 s for the page in one CI run.
		"GATEWAY_TIMEOUT": "60s",
	})
	if err := run(context.Background(), []string{"seed", "--products=40", "--sellers=1"}, getenv, io.Discard, nil); err != nil {
		t.Fatalf("seed: %v", err)
	}
	addrs, _ := startServe(t, getenv)
	untilListed(t, "http://"+addrs["gateway"])
	b := newBrowser(t, "http://"+addrs["gateway"])
	email := "web-" + uuid.NewString()[:8] + "@example.com"

	t.Run("the home page shows the categories and new products, with a strict policy", func(t *testing.T) {
		res := b.get(t, "/", http.StatusOK)
		csp := res.header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("Content-Security-Policy %q", csp)
		}
		res.want(t, `href="/search?category=electronics"`, `href="/products/`, `src="/static/htmx-2.0.11.min.js"`)
	})
	t.Run("the scripts and styles are served from the site itself", func(t *testing.T) {
		b.get(t, "/static/htmx-2.0.11.min.js", http.StatusOK).want(t, "htmx")
		b.get(t, "/static/site.css", http.StatusOK)
	})
	t.Run("an anonymous visitor is sent to log in to see a cart", func(t *testing.T) {
		b.get(t, "/cart", http.StatusOK).wantPath(t, "/login")
	})
	t.Run("a visitor registers and is signed in with a sealed HttpOnly cookie", func(t *testing.T) {
		b.get(t, "/register", http.StatusOK)
		res := b.post(t, "/register", url.Values{"display_name": {"Web Buyer"}, "email": {email},
			"password": {e2ePassword}, "next": {"/account"}}, http.StatusOK)
		res.wantPath(t, "/account")
		res.want(t, email, "Log out")
		var session *http.Cookie
		for _, c := range res.cookies {
			if c.Name == "mp_session" {
				session = c
			}
		}
		if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode {
			t.Fatalf("session cookie %+v, want HttpOnly and SameSite=Lax", session)
		}
		if strings.Contains(session.Value, "eyJ") {
			t.Error("the session cookie shows a JWT in the clear")
		}
	})
	t.Run("a form posted without the anti-forgery token is refused", func(t *testing.T) {
		res := b.postRaw(t, "/logout", url.Values{"csrf_token": {"forged"}})
		if res.status != http.StatusForbidden {
			t.Fatalf("forged logout = %d", res.status)
		}
		b.get(t, "/account", http.StatusOK).want(t, email) // still signed in
	})

	var productID string
	t.Run("search narrows by category and facet, sorts and pages", func(t *testing.T) {
		res := b.get(t, "/search?sort=price_asc", http.StatusOK)
		next := regexp.MustCompile(`href="(/search\?[^"]*)" rel="next"`).FindStringSubmatch(res.body)
		if next == nil {
			t.Fatalf("40 products and no next page: %s", res.body)
		}
		second := b.get(t, strings.ReplaceAll(next[1], "&amp;", "&"), http.StatusOK)
		second.want(t, `rel="prev"`)
		if ids(res.body)[0] == ids(second.body)[0] {
			t.Error("the next page starts with the first page's product")
		}
		res = b.get(t, "/search?category=electronics", http.StatusOK)
		brand := regexp.MustCompile(`name="attr.brand" value="([^"]+)"`).FindStringSubmatch(res.body)
		if brand == nil {
			t.Fatalf("no brand facet in electronics: %s", res.body)
		}
		narrowed := b.get(t, "/search?category=electronics&attr.brand="+url.QueryEscape(brand[1]), http.StatusOK)
		narrowed.want(t, `value="`+brand[1]+`" checked`)
		if len(ids(narrowed.body)) == 0 || len(ids(narrowed.body)) > len(ids(res.body)) {
			t.Errorf("narrowing by brand found %d products of %d", len(ids(narrowed.body)), len(ids(res.body)))
		}
		productID = ids(narrowed.body)[0]
		b.get(t, "/search?min_price=abc", http.StatusBadRequest).want(t, "must be an amount")
	})
	t.Run("the search box suggests titles as they are typed", func(t *testing.T) {
		title := regexp.MustCompile(`<h1>([^<]+)</h1>`).FindStringSubmatch(b.get(t, "/products/"+productID, http.StatusOK).body)
		if title == nil {
			t.Fatal("the product page has no title")
		}
		word := strings.Fields(title[1])[0]
		typed := word[:len(word)-1]
		b.get(t, "/search/suggest?q="+url.QueryEscape(typed), http.StatusOK).want(t, `<option value="`+title[1]+`">`)
		if res := b.get(t, "/search/suggest?q=", http.StatusOK); strings.Contains(res.body, "<option") {
			t.Errorf("an empty box has suggestions: %s", res.body)
		}
	})
	t.Run("the product page shows the attributes and puts the product in the cart", func(t *testing.T) {
		b.get(t, "/products/"+productID, http.StatusOK).want(t, "Details", "Add to cart", "brand")
		res := b.post(t, "/cart/items/"+productID, url.Values{"quantity": {"1"}}, http.StatusOK)
		res.wantPath(t, "/cart")
		res.want(t, `href="/products/`+productID+`"`, `value="1"`)
	})
	t.Run("the cart changes a quantity and removes a line", func(t *testing.T) {
		b.post(t, "/cart/items/"+productID, url.Values{"quantity": {"2"}}, http.StatusOK).want(t, `value="2"`)
		b.post(t, "/cart/items/"+productID+"/remove", url.Values{}, http.StatusOK).want(t, "Your cart is empty")
		b.post(t, "/cart/items/"+productID, url.Values{"quantity": {"-1"}}, http.StatusBadRequest)
	})

	address := url.Values{"name": {"Web Buyer"}, "line1": {"Hauptstraße 1"}, "city": {"Berlin"},
		"postal_code": {"10115"}, "country": {"de"}, "save_address": {"1"}}
	t.Run("checkout refuses a country that is not a code, and keeps what was typed", func(t *testing.T) {
		b.post(t, "/cart/items/"+productID, url.Values{"quantity": {"1"}}, http.StatusOK)
		key := b.checkoutKey(t)
		form := withValues(address, "country", "Germany", "idempotency_key", key, "payment_method", "pm_card_visa")
		b.post(t, "/checkout", form, http.StatusBadRequest).want(t, "two-letter country code", `value="Hauptstraße 1"`)
	})
	t.Run("a checkout sent twice places one order and pays it", func(t *testing.T) {
		key := b.checkoutKey(t)
		form := withValues(address, "idempotency_key", key, "payment_method", "pm_card_visa")
		first := b.post(t, "/checkout", form, http.StatusOK)
		second := b.post(t, "/checkout", form, http.StatusOK)
		if !strings.HasPrefix(first.path, "/orders/") || first.path != second.path {
			t.Fatalf("the two submits landed on %s and %s, want one order", first.path, second.path)
		}
		first.want(t, "your order is paid", "History", "Ship to", "Hauptstraße 1")
		orders := b.get(t, "/orders", http.StatusOK)
		if n := strings.Count(orders.body, `href="/orders/`); n != 1 {
			t.Errorf("%d orders listed after a double submit, want 1", n)
		}
		b.get(t, "/account", http.StatusOK).want(t, "Hauptstraße 1", "DE") // the address was kept
	})
	t.Run("a declined card is explained on the order", func(t *testing.T) {
		b.post(t, "/cart/items/"+productID, url.Values{"quantity": {"1"}}, http.StatusOK)
		form := withValues(address, "idempotency_key", b.checkoutKey(t), "payment_method", "pm_card_declined")
		b.post(t, "/checkout", form, http.StatusOK).want(t, "Your card was declined", "payment failed")
	})
	t.Run("the reset page the mail links to takes a new password, and says when the link is spent", func(t *testing.T) {
		b.get(t, "/reset-password?token=not-a-real-token", http.StatusOK).want(t, `name="token" value="not-a-real-token"`)
		b.post(t, "/reset-password", url.Values{"token": {"not-a-real-token"}, "new_password": {"a-new-password-long"}},
			http.StatusBadRequest).want(t, "expired or was already used")
	})
	t.Run("unknown addresses answer a page for people and a problem for API clients", func(t *testing.T) {
		b.get(t, "/no/such/page", http.StatusNotFound).want(t, "Page not found")
		res := b.get(t, "/v1/no-such-api", http.StatusNotFound)
		if ct := res.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("an unknown API path answers %s", ct)
		}
	})
	t.Run("logging out ends the session", func(t *testing.T) {
		b.post(t, "/logout", url.Values{}, http.StatusOK).want(t, "Log in")
		b.get(t, "/orders", http.StatusOK).wantPath(t, "/login")
	})
}

// untilListed waits until the public listing shows the seeded catalog:
// the search module indexes it from product events, a moment after start.
func untilListed(t *testing.T, gateway string) {
	t.Helper()
	eventually.NoError(t, "the listing to show the seeded catalog", func() error {
		status, body := get(t, gateway+"/v1/products?limit=1")
		if status != http.StatusOK || !strings.Contains(body, `"id"`) {
			return fmt.Errorf("it answers %d %s", status, body)
		}
		return nil
	})
}

// freeAddr is a loopback address nobody listens on now: for a listener a
// test must name before it starts (the web module needs the gateway's
// address before the gateway, which starts last, binds it).
//
// The port is below the kernel's ephemeral range, so that no client
// connection of the parallel tests can take it as its own local port
// before the listener binds it: a port the kernel handed out as ":0"
// could, and a split platform then failed with "address already in use".
func freeAddr(t testing.TB) string {
	t.Helper()
	first, size := belowEphemeralPorts()
	for range size {
		// From a start of the process's own, so that two test processes
		// seldom try the same ports.
		port := first + (os.Getpid()*97+int(freePortsTried.Add(1)))%size
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // another process's
		}
		addr := l.Addr().String()
		l.Close()
		return addr
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// freePortsTried counts the ports freeAddr has tried in this process.
var freePortsTried atomic.Int64

// belowEphemeralPorts is the range freeAddr takes ports from: up to 12,000
// ports (above 1024) just below where the kernel's ephemeral ports start
// (32768 unless configured otherwise).
func belowEphemeralPorts() (first, size int) {
	start := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				start = n
			}
		}
	}
	size = max(1, min(12000, start-1025))
	return start - size, size
}

// browser is a cookie-keeping HTTP client that follows redirects, as a
// browser without JavaScript.
type browser struct {
	seen func() []*http.Cookie // the cookies set since the last call
	base string
	jar  *cookiejar.Jar
	http *http.Client
}

type webPage struct {
	status  int
	path    string // where the redirects ended
	body    string
	header  http.Header
	cookies []*http.Cookie
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{base: base, jar: jar}
	var cookies []*http.Cookie
	b.http = &http.Client{Jar: jar, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		res, err := http.DefaultTransport.RoundTrip(r)
		if err == nil {
			cookies = append(cookies, res.Cookies()...)
		}
		return res, err
	})}
	b.seen = func() []*http.Cookie { c := cookies; cookies = nil; return c }
	return b
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func (b *browser) do(t *testing.T, req *http.Request) webPage {
	t.Helper()
	b.seen()
	res, err := b.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return webPage{status: res.StatusCode, path: res.Request.URL.Path, body: string(body), header: res.Header, cookies: b.seen()}
}

func (b *browser) get(t *testing.T, path string, status int) webPage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.base+path, nil)
	p := b.do(t, req)
	if p.status != status {
		t.Fatalf("GET %s = %d, want %d: %s", path, p.status, status, p.body)
	}
	return p
}

// post sends a form with the anti-forgery token the site gave.
func (b *browser) post(t *testing.T, path string, form url.Values, status int) webPage {
	t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == "mp_csrf" {
			form = withValues(form, "csrf_token", c.Value)
		}
	}
	p := b.postRaw(t, path, form)
	if p.status != status {
		t.Fatalf("POST %s = %d, want %d: %s", path, p.status, status, p.body)
	}
	return p
}

func (b *browser) postRaw(t *testing.T, path string, form url.Values) webPage {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, b.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

// checkoutKey opens the checkout page and returns its form's
// Idempotency-Key.
func (b *browser) checkoutKey(t *testing.T) string {
	t.Helper()
	res := b.get(t, "/checkout", http.StatusOK)
	m := regexp.MustCompile(`name="idempotency_key" value="([0-9a-f]{32})"`).FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("the checkout page has no Idempotency-Key: %s", res.body)
	}
	return m[1]
}

func (p webPage) want(t *testing.T, parts ...string) {
	t.Helper()
	for _, s := range parts {
		if !strings.Contains(p.body, s) {
			t.Errorf("%s lacks %q:\n%s", p.path, s, p.body)
		}
	}
}

func (p webPage) wantPath(t *testing.T, path string) {
	t.Helper()
	if p.path != path {
		t.Errorf("landed on %s, want %s", p.path, path)
	}
}

// ids are the products a page links to, in order.
func ids(body string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`href="/products/([0-9a-f-]{36})"`).FindAllStringSubmatch(body, -1) {
		out = append(out, m[1])
	}
	return out
}

func withValues(v url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.Set(kv[i], kv[i+1])
	}
	return out
}
