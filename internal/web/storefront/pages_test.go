package storefront

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/httpx"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
)

// fakeAPI answers the paths of its table with a status and a JSON body
// (a problem when the status is not 2xx), and any other path with 404; it
// keeps the bodies sent to it, by method and path.
type fakeAPI struct {
	answers map[string]fakeAnswer
	mu      sync.Mutex
	sent    map[string]string
}

type fakeAnswer struct {
	status int
	body   string
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.sent[r.Method+" "+r.URL.Path] = string(b)
	f.mu.Unlock()
	a, ok := f.answers[r.Method+" "+r.URL.Path]
	if !ok {
		a = fakeAnswer{http.StatusNotFound, `{"code":"not_found","title":"Not Found"}`}
	}
	w.Header().Set("Content-Type", "application/json")
	if a.status >= 300 {
		w.Header().Set("Content-Type", "application/problem+json")
	}
	w.WriteHeader(a.status)
	_, _ = io.WriteString(w, a.body)
}

// pagesAgainst serves the pages in front of an API answering as answers
// say.
func pagesAgainst(t *testing.T, answers map[string]fakeAnswer) (http.Handler, *Handler, *fakeAPI) {
	t.Helper()
	api := &fakeAPI{answers: answers, sent: map[string]string{}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	h, err := New(Config{APIURL: srv.URL, CookieKeys: [][]byte{make([]byte, 32)}}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	rt := httpx.NewRouter("web", observability.NewHTTPMetrics(observability.NewRegistry()))
	h.Routes(rt)
	return rt, h, api
}

const (
	pageProduct = "0196a3f2-1b3c-7d4e-8f5a-6b7c8d9e0f1a"
	pageSeller  = "0196a3f2-1b3c-7d4e-8f5a-6b7c8d9e0f1b"
)

// TestTheProductPageNamesTheShopAndSaysWhatIsLeft: the product page
// names the seller's shop, linking to its products, and says whether the
// product is in stock, how many are left when few are, or that none are
// (and then offers no cart button). When the API has no shop or no
// availability to give, the page goes without them.
func TestTheProductPageNamesTheShopAndSaysWhatIsLeft(t *testing.T) {
	product := fakeAnswer{http.StatusOK, `{"id":"` + pageProduct + `","seller_id":"` + pageSeller + `","title":"Brass Lamp",
		"category":"lamps","price":{"amount":1250,"currency":"EUR"},"status":"active","attributes":{}}`}
	shop := fakeAnswer{http.StatusOK, `{"seller_id":"` + pageSeller + `","shop_name":"Lamplighters & Co"}`}
	noShop := fakeAnswer{http.StatusNotFound, `{"code":"shop_not_found","title":"Not Found"}`}
	available := func(n string) fakeAnswer {
		return fakeAnswer{http.StatusOK, `{"product_id":"` + pageProduct + `","available":` + n + `}`}
	}
	broken := fakeAnswer{http.StatusServiceUnavailable, `{"code":"catalog_unavailable","title":"Service Unavailable"}`}
	tests := []struct {
		name          string
		lang          string
		shop, stock   fakeAnswer
		want, notWant []string
	}{
		{name: "plenty in stock, from a named shop", lang: "en", shop: shop, stock: available("40"),
			want: []string{`Sold by <a class="shop" href="/search?seller=` + pageSeller + `">Lamplighters &amp; Co</a>`,
				`<p class="stock" data-stock="in">In stock</p>`, `<form action="/cart/items/` + pageProduct + `"`}},
		{name: "few left, said how many", lang: "en", shop: shop, stock: available("3"),
			want: []string{`<p class="stock" data-stock="low">Only 3 left</p>`, `class="buy"`}},
		{name: "few left, in German", lang: "de", shop: shop, stock: available("1"),
			want: []string{`Verkauft von <a class="shop"`, `<p class="stock" data-stock="low">Nur noch 1 verfügbar</p>`}},
		{name: "none left: no cart button", lang: "en", shop: shop, stock: available("0"),
			want: []string{`<p class="stock" data-stock="out">Out of stock</p>`}, notWant: []string{`class="buy"`}},
		{name: "no shop name to give: the seller's products, unnamed", lang: "en", shop: noShop, stock: available("9"),
			want: []string{`<a href="/search?seller=` + pageSeller + `">More from this seller&#39;s shop</a>`}, notWant: []string{`Sold by`}},
		{name: "the stock read failing: the page without it, still for sale", lang: "en", shop: shop, stock: broken,
			want: []string{`Lamplighters &amp; Co`, `class="buy"`}, notWant: []string{`class="stock"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, _, _ := pagesAgainst(t, map[string]fakeAnswer{
				"GET /v1/products/" + pageProduct:                product,
				"GET /v1/users/" + pageSeller + "/shop":          tt.shop,
				"GET /v1/stock/" + pageProduct + "/availability": tt.stock,
			})
			r := httptest.NewRequest(http.MethodGet, "/products/"+pageProduct, nil)
			r.Header.Set("Accept-Language", tt.lang)
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, r)
			if w.Code != http.StatusOK {
				t.Fatalf("GET /products/%s = %d: %s", pageProduct, w.Code, w.Body)
			}
			body := w.Body.String()
			for _, s := range tt.want {
				if !strings.Contains(body, s) {
					t.Errorf("the page lacks %s", s)
				}
			}
			for _, s := range tt.notWant {
				if strings.Contains(body, s) {
					t.Errorf("the page has %s", s)
				}
			}
		})
	}
}

// TestTheProfileIsEditedWithTheAPIsErrorsByTheirFields: the account
// page's profile form (a plain form post) sends the name, the phone and
// the address to the API; an emptied phone or address is removed; what
// the API refuses comes back on the form as typed, each message by its
// field; a saved profile leads back to the account page.
func TestTheProfileIsEditedWithTheAPIsErrorsByTheirFields(t *testing.T) {
	account := fakeAnswer{http.StatusOK, `{"id":"u1","email":"ada@example.com","display_name":"Ada","roles":["buyer"],
		"phone":"+4930123456","shipping_address":null,"preferences":{}}`}
	refused := fakeAnswer{http.StatusBadRequest, `{"code":"validation_failed","title":"Bad Request","errors":{
		"phone":"must be in E.164 form","shipping_address.country":"must be an ISO 3166-1 alpha-2 code","shipping_address.city":"is required"}}`}
	address := url.Values{"shipping_address.name": {"Ada Lovelace"}, "shipping_address.line1": {"1 Road"},
		"shipping_address.city": {" Berlin "}, "shipping_address.postal_code": {"10115"}, "shipping_address.country": {"de"}}
	tests := []struct {
		name       string
		lang       string
		form       url.Values
		patch      fakeAnswer
		wantStatus int
		wantSent   map[string]any
		want       []string
	}{
		{name: "a new name, phone and address are sent and saved", lang: "en", patch: account,
			form: with(address, "display_name", "Ada L.", "phone", "+4930999"),
			wantSent: map[string]any{"display_name": "Ada L.", "phone": "+4930999", "shipping_address": map[string]any{
				"name": "Ada Lovelace", "line1": "1 Road", "city": "Berlin", "postal_code": "10115", "country": "DE"}},
			wantStatus: http.StatusSeeOther},
		{name: "an emptied phone and address are removed", lang: "en", patch: account,
			form:       url.Values{"display_name": {"Ada"}, "phone": {" "}, "shipping_address.name": {""}},
			wantSent:   map[string]any{"display_name": "Ada", "phone": nil, "shipping_address": nil},
			wantStatus: http.StatusSeeOther},
		{name: "the API's refusals by their fields, the form as typed", lang: "en", patch: refused,
			form:       with(address, "display_name", "Ada L.", "phone", "12", "shipping_address.country", "XX"),
			wantStatus: http.StatusBadRequest,
			want: []string{"Please correct the marked fields.", `value="12">`, `<small class="field-error">must be in E.164 form</small>`,
				`value="XX">`, `<small class="field-error">must be an ISO 3166-1 alpha-2 code</small>`, `value="Ada L."`}},
		{name: "a common refusal in German", lang: "de", patch: refused, form: address,
			wantStatus: http.StatusBadRequest,
			want:       []string{"Bitte korrigieren Sie die markierten Felder.", `name="shipping_address.city" autocomplete="address-level2" value="Berlin"><small class="field-error">`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rt, h, api := pagesAgainst(t, map[string]fakeAnswer{"GET /v1/users/me": account, "PATCH /v1/users/me": tt.patch})
			form := url.Values{}
			for k, v := range tt.form {
				form[k] = v
			}
			form.Set(csrfField, "t")
			r := httptest.NewRequest(http.MethodPost, "/account/profile", strings.NewReader(form.Encode()))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Accept-Language", tt.lang)
			r.AddCookie(&http.Cookie{Name: csrfCookie, Value: "t"})
			sealed, err := h.sealer.seal(sessionCookie, &session{Access: "a", Refresh: "r"})
			if err != nil {
				t.Fatal(err)
			}
			r.AddCookie(&http.Cookie{Name: sessionCookie, Value: sealed})
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, r)
			if w.Code != tt.wantStatus {
				t.Fatalf("POST /account/profile = %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			if tt.wantStatus == http.StatusSeeOther && w.Header().Get("Location") != "/account?saved=profile" {
				t.Errorf("redirected to %q", w.Header().Get("Location"))
			}
			if tt.wantSent != nil {
				var sent map[string]any
				if err := json.Unmarshal([]byte(api.sent["PATCH /v1/users/me"]), &sent); err != nil {
					t.Fatalf("the PATCH body %q: %v", api.sent["PATCH /v1/users/me"], err)
				}
				if got, want := mustJSON(t, sent), mustJSON(t, tt.wantSent); got != want {
					t.Errorf("sent %s, want %s", got, want)
				}
			}
			for _, s := range tt.want {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("the page lacks %s:\n%s", s, w.Body)
				}
			}
		})
	}
}

// with is v with the pairs set, v unchanged.
func with(v url.Values, pairs ...string) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = vs
	}
	for i := 0; i+1 < len(pairs); i += 2 {
		out.Set(pairs[i], pairs[i+1])
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
