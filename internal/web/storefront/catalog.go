package storefront

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
)

// product is a product as the catalog shows it.
type product struct {
	ID          string         `json:"id"`
	SellerID    string         `json:"seller_id"`
	Title       string         `json:"title"`
	Description string         `json:"description"`
	Category    string         `json:"category"`
	Price       money          `json:"price"`
	Attributes  map[string]any `json:"attributes"`
	Status      string         `json:"status"`
}

type category struct {
	ID     string   `json:"id"`
	Name   string   `json:"name"`
	Parent string   `json:"parent"`
	Facets []string `json:"facets"`
}

type facetValue struct {
	Value any `json:"value"`
	Count int `json:"count"`
}

type productPage struct {
	Items      []product `json:"items"`
	NextCursor string    `json:"next_cursor"`
	Facets     struct {
		Attributes map[string][]facetValue `json:"attributes"`
		Prices     []struct {
			Min   int64  `json:"min"`
			Max   *int64 `json:"max"`
			Count int    `json:"count"`
		} `json:"prices"`
	} `json:"facets"`
}

// categoryNode is a category with its children, for the home page's tree.
type categoryNode struct {
	category
	Children []categoryNode
}

func (v *visitor) categories() ([]category, error) {
	var list struct {
		Categories []category `json:"categories"`
	}
	_, err := v.call(call{method: http.MethodGet, path: "/v1/categories"}, &list)
	return list.Categories, err
}

func tree(cats []category, parent string) []categoryNode {
	var out []categoryNode
	for _, c := range cats {
		if c.Parent == parent {
			out = append(out, categoryNode{category: c, Children: tree(cats, c.ID)})
		}
	}
	return out
}

func (h *Handler) home(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	var latest productPage
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/products?sort=newest&limit=8"}, &latest); err != nil {
		h.fail(w, r, err)
		return
	}
	h.render(w, r, http.StatusOK, "home", page{Title: "title.home", Data: map[string]any{
		"Categories": tree(cats, ""), "Products": latest.Items}})
}

// searchForm is the search page's query, as the person set it.
type searchForm struct {
	Q, Category, Sort, Seller string
	MinPrice, MaxPrice        string
	// Attrs are the ticked facet values, by attribute.
	Attrs map[string][]string
	// Cursor is this page's position; Trail the positions of the pages
	// before it, so that "previous" needs no server state.
	Cursor string
	Trail  []string
}

var sorts = []struct{ Value, Label string }{
	{"newest", "sort.newest"}, {"price_asc", "sort.price_asc"}, {"price_desc", "sort.price_desc"}, {"title", "sort.title"},
}

func readSearch(q url.Values) searchForm {
	f := searchForm{Q: strings.TrimSpace(q.Get("q")), Category: q.Get("category"), Sort: q.Get("sort"),
		Seller: q.Get("seller"), MinPrice: q.Get("min_price"), MaxPrice: q.Get("max_price"),
		Cursor: q.Get("cursor"), Attrs: map[string][]string{}}
	if t := q.Get("trail"); t != "" {
		f.Trail = strings.Split(t, " ")
	}
	if !slices.ContainsFunc(sorts, func(s struct{ Value, Label string }) bool { return s.Value == f.Sort }) {
		f.Sort = "newest"
	}
	for k, vs := range q {
		if name, ok := strings.CutPrefix(k, "attr."); ok && name != "" {
			f.Attrs[name] = vs
		}
	}
	return f
}

// query is the form as the search page's own URL, at cursor with trail.
func (f searchForm) query(cursor string, trail []string) string {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("q", f.Q)
	set("category", f.Category)
	set("seller", f.Seller)
	set("min_price", f.MinPrice)
	set("max_price", f.MaxPrice)
	set("sort", f.Sort)
	for k, vs := range f.Attrs {
		q["attr."+k] = vs
	}
	set("cursor", cursor)
	set("trail", strings.Join(trail, " "))
	return "/search?" + q.Encode()
}

// apiQuery is the form as the catalog listing's parameters. The listing
// takes one value per attribute, so of several ticked values of one
// attribute only the first is applied, and the page says so.
func (f searchForm) apiQuery(tr func(string, ...any) string) (string, map[string]string, []string) {
	q := url.Values{"sort": {f.Sort}, "limit": {"12"}}
	bad := map[string]string{}
	var notes []string
	if f.Q != "" {
		q.Set("q", f.Q)
	}
	if f.Category != "" {
		q.Set("category", f.Category)
	}
	if f.Seller != "" {
		q.Set("seller", f.Seller)
	}
	for name, field := range map[string]string{"min_price": f.MinPrice, "max_price": f.MaxPrice} {
		if field == "" {
			continue
		}
		if a, ok := parseAmount(field); ok {
			q.Set(name, fmt.Sprint(a))
		} else {
			bad[name] = "field.amount"
		}
	}
	for name, vs := range f.Attrs {
		if len(vs) > 0 {
			q.Set("attr."+name, vs[0])
		}
		if len(vs) > 1 {
			notes = append(notes, tr("notice.one_value", name, vs[0]))
		}
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	return "/v1/products?" + q.Encode(), bad, notes
}

// facetGroup is one attribute's values, as checkboxes.
type facetGroup struct {
	Name   string
	Values []facetOption
}

type facetOption struct {
	Value   string
	Count   int
	Checked bool
}

func (h *Handler) search(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	f := readSearch(r.URL.Query())
	cats, err := v.categories()
	if err != nil {
		h.fail(w, r, err)
		return
	}
	path, bad, notes := f.apiQuery(h.cats[h.lang(r)].text)
	data := map[string]any{"Form": f, "Sorts": sorts, "Categories": cats}
	p := page{Title: "title.search", Fields: bad, Data: data}
	if len(bad) > 0 {
		h.render(w, r, http.StatusBadRequest, "search", p)
		return
	}
	var res productPage
	if _, err := v.call(call{method: http.MethodGet, path: path}, &res); err != nil {
		if e, ok := err.(*apiError); ok && e.Status == http.StatusBadRequest {
			p.Error = h.t(r, "err.search_settings", h.sentence(r, e))
			h.render(w, r, http.StatusBadRequest, "search", p)
			return
		}
		h.fail(w, r, err)
		return
	}
	var groups []facetGroup
	for name, values := range res.Facets.Attributes {
		g := facetGroup{Name: name}
		for _, fv := range values {
			s := fmt.Sprint(fv.Value)
			g.Values = append(g.Values, facetOption{Value: s, Count: fv.Count, Checked: slices.Contains(f.Attrs[name], s)})
		}
		groups = append(groups, g)
	}
	slices.SortFunc(groups, func(a, b facetGroup) int { return strings.Compare(a.Name, b.Name) })
	data["Products"] = res.Items
	data["Facets"] = groups
	if res.NextCursor != "" {
		data["Next"] = f.query(res.NextCursor, append(slices.Clone(f.Trail), f.Cursor))
	}
	if f.Cursor != "" {
		trail := f.Trail
		prev := ""
		if len(trail) > 0 {
			prev, trail = trail[len(trail)-1], trail[:len(trail)-1]
		}
		data["Prev"] = f.query(prev, trail)
	}
	p.Notice = strings.Join(notes, " ")
	h.render(w, r, http.StatusOK, "search", p)
}

func (h *Handler) product(w http.ResponseWriter, r *http.Request) {
	v := h.visitor(w, r)
	var p product
	if _, err := v.call(call{method: http.MethodGet, path: "/v1/products/" + url.PathEscape(r.PathValue("id"))}, &p); err != nil {
		if isAPI(err, http.StatusBadRequest, "") {
			h.notFound(w, r)
			return
		}
		h.fail(w, r, err)
		return
	}
	names := make([]string, 0, len(p.Attributes))
	for k := range p.Attributes {
		names = append(names, k)
	}
	slices.Sort(names)
	shop, stock := h.shopAndStock(r, p)
	h.render(w, r, http.StatusOK, "product", page{Title: p.Title,
		Data: map[string]any{"Product": p, "AttributeNames": names, "Shop": shop, "Stock": stock}})
}

// lowStock is the most units for which the product page says how many
// are left rather than only that some are.
const lowStock = 5

// stockView is a product's availability as the product page shows it.
type stockView struct {
	Available int64
}

// State is "in", "low" or "out", for the page's words and its style.
func (s stockView) State() string {
	switch {
	case s.Available <= 0:
		return "out"
	case s.Available <= lowStock:
		return "low"
	}
	return "in"
}

// shopAndStock asks the API, at once, for the name of p's seller's shop
// and for how many units of p may be bought. Both are public reads, asked
// without the visitor's token. Either only adds to the page: when one is
// missing (a draft has no availability) or fails, the page goes without
// it rather than failing, and the checkout still decides on stock.
func (h *Handler) shopAndStock(r *http.Request, p product) (shop string, stock *stockView) {
	var wg sync.WaitGroup
	wg.Go(func() {
		var s struct {
			Name string `json:"shop_name"`
		}
		_, err := h.do(r, call{method: http.MethodGet, path: "/v1/users/" + url.PathEscape(p.SellerID) + "/shop"}, &s)
		h.optional(r, "shop name", err)
		shop = s.Name
	})
	wg.Go(func() {
		var a struct {
			Available int64 `json:"available"`
		}
		_, err := h.do(r, call{method: http.MethodGet, path: "/v1/stock/" + url.PathEscape(p.ID) + "/availability"}, &a)
		if h.optional(r, "availability", err) {
			stock = &stockView{Available: a.Available}
		}
	})
	wg.Wait()
	return shop, stock
}

// optional says whether a read a page can do without succeeded, and logs
// why not when the API failed rather than answered that there is none.
func (h *Handler) optional(r *http.Request, what string, err error) bool {
	if err != nil && !isAPI(err, http.StatusNotFound, "") {
		h.log.WarnContext(r.Context(), "the page goes without the "+what, "err", err)
	}
	return err == nil
}

type suggestion struct {
	Text string `json:"text"`
}

// suggest answers the search box's autocomplete (htmx asks as the person
// types): the API's completions as the options of the box's datalist.
// Autocomplete only helps, so when the API cannot complete, the list is
// empty rather than an error.
func (h *Handler) suggest(w http.ResponseWriter, r *http.Request) {
	var list struct {
		Suggestions []suggestion `json:"suggestions"`
	}
	if q := strings.TrimSpace(r.URL.Query().Get("q")); q != "" && len(q) <= 200 {
		_, err := h.do(r, call{method: http.MethodGet, path: "/v1/search/suggest?limit=8&q=" + url.QueryEscape(q)}, &list)
		if err != nil && !isAPI(err, http.StatusBadRequest, "") {
			h.log.WarnContext(r.Context(), "suggestions failed", "err", err)
		}
	}
	var buf bytes.Buffer
	if err := h.pages[languages[0]]["suggest"].ExecuteTemplate(&buf, "suggest", list.Suggestions); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = buf.WriteTo(w)
}
