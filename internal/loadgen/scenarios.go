package loadgen

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

var sorts = []string{"newest", "price_asc", "price_desc", "title"}

// browse is a shopper looking around: mostly product pages, some listing
// pages (a category, a sort, the next page) and the category tree.
type browse struct {
	req *req
	f   *fixture

	mu    sync.Mutex
	pages []string // next-page queries seen in answers, newest last
}

const maxPages = 64

func (b *browse) next(tgt *vegeta.Target) {
	switch b.req.pick(10, 30, 60) {
	case 0:
		b.req.fill(tgt, tag{Scenario: Browse, Op: "categories"}, "GET", "/v1/categories", "", nil)
	case 1:
		b.listing(tgt)
	default:
		productPage(b.req, b.f, tgt, Browse)
	}
}

// productPage asks for the page of a product of the catalog sample.
func productPage(r *req, f *fixture, tgt *vegeta.Target, scenario string) {
	p := f.Catalog[r.intn(len(f.Catalog))]
	r.fill(tgt, tag{Scenario: scenario, Op: "product"}, "GET", "/v1/products/"+p.ID, "", nil)
}

// detail reads product pages and nothing else.
type detail struct {
	req *req
	f   *fixture
}

func (d *detail) next(tgt *vegeta.Target) { productPage(d.req, d.f, tgt, Detail) }

func (d *detail) observe(tag, *vegeta.Result) {}

// listing asks for a first page, or half the time for a next page seen
// in an earlier answer.
func (b *browse) listing(tgt *vegeta.Target) {
	if q, ok := b.nextPage(); ok && b.req.intn(2) == 0 {
		b.req.fill(tgt, tag{Scenario: Browse, Op: "listing-next"}, "GET", "/v1/products?"+q, "", nil)
		return
	}
	q := url.Values{"sort": {sorts[b.req.intn(len(sorts))]}}
	if b.req.intn(10) < 7 {
		q.Set("category", b.f.Categories[b.req.intn(len(b.f.Categories))])
	}
	b.req.fill(tgt, tag{Scenario: Browse, Op: "listing"}, "GET", "/v1/products?"+q.Encode(), "", nil)
}

// nextPage takes one of the next-page queries, so each is read once.
func (b *browse) nextPage() (string, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pages) == 0 {
		return "", false
	}
	q := b.pages[len(b.pages)-1]
	b.pages = b.pages[:len(b.pages)-1]
	return q, true
}

func (b *browse) observe(t tag, res *vegeta.Result) {
	if !strings.HasPrefix(t.Op, "listing") || !ok(res) {
		return
	}
	var page struct {
		NextCursor string `json:"next_cursor"`
	}
	if json.Unmarshal(res.Body, &page) != nil || page.NextCursor == "" {
		return
	}
	q := queryOf(res.URL)
	q.Set("cursor", page.NextCursor)
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pages) >= maxPages {
		b.pages = b.pages[1:]
	}
	b.pages = append(b.pages, q.Encode())
}

// search looks for words of real titles, so that searches find things,
// sometimes within the product's category (which adds facet counts), with
// a sort or a price cap.
type search struct {
	req *req
	f   *fixture
}

func (s *search) next(tgt *vegeta.Target) {
	p := s.f.Catalog[s.req.intn(len(s.f.Catalog))]
	q := url.Values{}
	if w := s.words(p); w != "" {
		q.Set("q", w)
	}
	op := "search"
	if s.req.intn(10) < 4 {
		op = "search-filtered"
		q.Set("category", p.Category)
		switch s.req.intn(3) {
		case 0:
			q.Set("sort", "price_asc")
		case 1:
			q.Set("max_price", fmt.Sprint(5000+s.req.intn(50000)))
		}
	}
	s.req.fill(tgt, tag{Scenario: Search, Op: op}, "GET", "/v1/products?"+q.Encode(), "", nil)
}

// words are one or two words of p's title (or of any title).
func (s *search) words(p product) string {
	words := titleWords(p.Title)
	if len(words) == 0 && len(s.f.Words) > 0 {
		words = []string{s.f.Words[s.req.intn(len(s.f.Words))]}
	}
	if len(words) == 0 {
		return ""
	}
	w := words[s.req.intn(len(words))]
	if len(words) > 1 && s.req.intn(10) < 3 {
		w += " " + words[s.req.intn(len(words))]
	}
	return w
}

func (s *search) observe(tag, *vegeta.Result) {}

// cart is a buyer filling a cart: put a product in, change a quantity,
// take one out. Its buyers' carts are theirs alone, and each is kept small
// (a cart holds at most 100 products).
type cart struct {
	req    *req
	f      *fixture
	buyers []*account

	mu    sync.Mutex
	lines map[*account][]string // product ids believed in each cart
}

const maxCartLines = 5

func newCart(r *req, f *fixture, buyers []*account) *cart {
	return &cart{req: r, f: f, buyers: buyers, lines: map[*account][]string{}}
}

func (c *cart) next(tgt *vegeta.Target) {
	b := c.buyers[c.req.intn(len(c.buyers))]
	op, id := c.change(b)
	t := tag{Scenario: Cart, Op: op}
	if op == "remove" {
		c.req.fill(tgt, t, "DELETE", "/v1/cart/items/"+id, b.token(), nil)
		return
	}
	body := fmt.Appendf(nil, `{"quantity":%d}`, 1+c.req.intn(3))
	c.req.fill(tgt, t, "PUT", "/v1/cart/items/"+id, b.token(), body)
}

// change picks what to do to b's cart, and to which product, and notes it.
func (c *cart) change(b *account) (op, id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lines := c.lines[b]
	switch {
	case len(lines) == 0:
		op = "add"
	case len(lines) >= maxCartLines:
		op = []string{"update", "remove"}[c.req.pick(60, 40)]
	default:
		op = []string{"add", "update", "remove"}[c.req.pick(50, 30, 20)]
	}
	switch op {
	case "add":
		id = c.product()
		c.lines[b] = append(lines, id)
	case "update":
		id = lines[c.req.intn(len(lines))]
	case "remove":
		i := c.req.intn(len(lines))
		id = lines[i]
		c.lines[b] = append(lines[:i:i], lines[i+1:]...)
	}
	return op, id
}

// product is any listed product, half the time one of the loadgen's own.
func (c *cart) product() string {
	if c.req.intn(2) == 0 {
		return c.f.Own[c.req.intn(len(c.f.Own))].ID
	}
	return c.f.Catalog[c.req.intn(len(c.f.Catalog))].ID
}

func (c *cart) observe(tag, *vegeta.Result) {}

// login signs a prepared buyer in: the argon2 cost of a login is the
// point of measuring it.
type login struct {
	req *req
	f   *fixture
}

func (l *login) next(tgt *vegeta.Target) {
	b := l.f.Buyers[l.req.intn(len(l.f.Buyers))]
	body, _ := json.Marshal(map[string]string{"email": b.Email, "password": b.Password})
	l.req.fill(tgt, tag{Scenario: Login, Op: "login"}, "POST", "/v1/auth/login", "", body)
}

func (l *login) observe(tag, *vegeta.Result) {}
