package searchindex

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"golang.org/x/sync/errgroup"

	"github.com/marketplace-go/marketplace/internal/search"
)

// Search answers one listing: the hits after r's cursor in r's order, the
// total, and facet counts over the whole result (not only the page), each
// facet ignoring its own filter.
//
// Words must all match (each in the title, the description, the category
// path or an attribute value, stemmed, or within the typo allowance, or
// as a prefix for the last). When that finds nothing, the search is
// retried leniently: one word may be missing, and words of 3 and 4
// letters may have a typo too, so that "dsk lamp" still finds desk lamps.
func (x *Index) Search(ctx context.Context, r search.Request) (search.Result, error) {
	var typos *typoMemo // Bleve's own fuzzy queries, for the tests' reference
	if !x.bleveFilters {
		typos = newTypoMemo(x.automata)
	}
	res, err := x.search(ctx, r, false, typos)
	if err == nil && res.Total == 0 && x.leniencyWidens(r.Words) {
		return x.search(ctx, r, true, typos)
	}
	return res, err
}

// leniencyWidens reports whether the lenient query of words differs from
// the strict one: it has two words or more to leave one out of, or a word
// that leniency gives a typo. (A single long word's lenient query is the
// strict one, which has just found nothing.)
func (x *Index) leniencyWidens(words []string) bool {
	kept := 0
	for i, w := range words {
		if i < len(words)-1 && x.stopWord(w) {
			continue // as textQuery: not required
		}
		kept++
		if kept > 1 || allowedEdits(w, true) != allowedEdits(w, false) {
			return true
		}
	}
	return false
}

func (x *Index) search(ctx context.Context, r search.Request, lenient bool, typos *typoMemo) (search.Result, error) {
	text := x.textQuery(r.Words, lenient, typos)
	if text == nil && len(r.Words) > 0 {
		return search.Result{Facets: emptyFacets(r)}, nil // only stop words: nothing to look for
	}
	if x.bleveFilters || r.NoFacets {
		return x.searchRequests(ctx, r, text)
	}
	return x.searchWithFacets(ctx, r, text)
}

// searchWithFacets answers r with at most two Bleve searches. The first
// finds, without scores, the documents that meet every filter but the
// facets' own, and counts every facet and the total from them
// (facetPass). Only if that finds hits does the second, with every
// filter, rank the page of them; a search that finds nothing (and is
// then retried leniently) costs the unscored one only. When no facet has
// a filter of its own, the documents counted are the hits, and one
// scored search counts them as it ranks the page.
func (x *Index) searchWithFacets(ctx context.Context, r search.Request, text query.Query) (search.Result, error) {
	specs, filters := facetPlan(r)
	if len(filters) == 0 {
		return x.searchCounting(ctx, r, text, specs)
	}
	passAttrs, passPrice := map[string]bool{}, false
	for _, f := range filters {
		if s := specs[f.facet]; s.price {
			passPrice = true
		} else {
			passAttrs[s.name] = true
		}
	}
	count := x.request(r, text, func(name string) bool { return passAttrs[name] }, passPrice)
	pass := newFacetPass(x.columns, specs, filters)
	pass.record = true
	count.Query = &facetedQuery{query: count.Query, pass: pass}
	count.Score = "none" // counts only: nothing to rank
	defer pass.release()
	res, err := x.idx.SearchInContext(ctx, count)
	if err != nil {
		return search.Result{}, fmt.Errorf("searchindex: %w", err)
	}
	fs, err := facets(r, []facetCounts{pass.counts()})
	if err != nil {
		return search.Result{}, err
	}
	if res.Total == 0 || r.Size == 0 {
		return search.Result{Total: int64(res.Total), Hits: []search.Hit{}, Facets: fs}, nil
	}
	out, _, err := x.rankPage(ctx, r, text, specs[len(specs)-1:], pass) // the price, for a price order's cut
	out.Facets = fs
	return out, err
}

// searchCounting answers r, none of whose facets has a filter of its own,
// with one search that ranks the page and counts specs.
func (x *Index) searchCounting(ctx context.Context, r search.Request, text query.Query, specs []facetSpec) (search.Result, error) {
	out, pass, err := x.rankPage(ctx, r, text, specs, nil)
	if err != nil {
		return search.Result{}, err
	}
	out.Facets, err = facets(r, []facetCounts{pass.counts()})
	return out, err
}

// rankPage ranks r's page with every filter, through a facet pass that
// counts specs (the price last) and cuts the hits to the page as they
// come (pagecut.go). The total is the pass's count: Bleve's counts only
// the hits the cut let through. If counted is the pass that counted r,
// its hits are the filter (hitlist.go).
func (x *Index) rankPage(ctx context.Context, r search.Request, text query.Query, specs []facetSpec, counted *facetPass) (search.Result, *facetPass, error) {
	req := x.pageRequest(r, text)
	req.Fields = nil // the pass reads the page's sources
	if counted != nil {
		if q, ok := req.Query.(*filteredQuery); ok {
			q.filter = counted.hitsOr(q.filter)
		} else {
			req.Query = counted.hitsOr(req.Query) // no words: the filters are the query
		}
	}
	pass := newFacetPass(x.columns, specs, nil)
	defer pass.release()
	pass.cut = newPageCut(r)
	sortKeysFromColumns(req, pass)
	req.Query = &facetedQuery{query: req.Query, pass: pass}
	res, err := x.idx.SearchInContext(ctx, req)
	if err != nil {
		return search.Result{}, nil, fmt.Errorf("searchindex: %w", err)
	}
	out, err := hits(res, pass.product)
	if err != nil {
		return search.Result{}, nil, err
	}
	out.Total = pass.hits
	return out, pass, nil
}

// facetPlan is what r's one-pass search counts, and the conditions of
// the facets' filters: of each facet attribute that r filters on, and of
// the price range.
func facetPlan(r search.Request) ([]facetSpec, []facetFilter) {
	var specs []facetSpec
	var filters []facetFilter
	for _, name := range r.FacetAttributes {
		specs = append(specs, facetSpec{name: name, field: "attr." + name + ".f"})
		for _, a := range r.Attributes {
			if a.Name == name {
				filters = append(filters, attributeConditions(len(specs)-1, a)...)
			}
		}
	}
	specs = append(specs, facetSpec{name: "price", field: "price", price: true})
	if r.MinPrice != nil || r.MaxPrice != nil {
		filters = append(filters, facetFilter{facet: len(specs) - 1, field: "price", bounds: numberBounds(amount(r.MinPrice), amount(r.MaxPrice))})
	}
	return specs, filters
}

// attributeConditions are the conditions of attributeFilter(a), of facet i.
func attributeConditions(i int, a search.AttributeFilter) []facetFilter {
	field := "attr." + a.Name
	var out []facetFilter
	if a.Equals != nil {
		out = append(out, facetFilter{facet: i, field: field + ".f", terms: equalityTerms(a)})
	}
	if a.Min != nil {
		out = append(out, facetFilter{facet: i, field: field + ".n", bounds: numberBounds(a.Min, nil)})
	}
	if a.Max != nil {
		out = append(out, facetFilter{facet: i, field: field + ".n", bounds: numberBounds(nil, a.Max)})
	}
	return out
}

// searchRequests answers r with Bleve's means: one search for the hits
// and Bleve's facet builders, and one more per filtered facet.
func (x *Index) searchRequests(ctx context.Context, r search.Request, text query.Query) (search.Result, error) {
	main := x.pageRequest(r, text)
	reqs := []*bleve.SearchRequest{main}
	var specs [][]facetSpec
	if !r.NoFacets {
		reqs, specs = x.facetRequests(r, text, main)
	}
	results := make([]*bleve.SearchResult, len(reqs))
	g, gctx := errgroup.WithContext(ctx)
	for i, req := range reqs {
		if i < len(specs) {
			addBleveFacets(req, specs[i])
		}
		g.Go(func() (err error) {
			results[i], err = x.idx.SearchInContext(gctx, req)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return search.Result{}, fmt.Errorf("searchindex: %w", err)
	}
	out, err := hits(results[0], loadedProduct)
	if err != nil || r.NoFacets {
		return out, err
	}
	counts := make([]facetCounts, len(reqs))
	for i, res := range results {
		counts[i] = bleveCounts(res)
	}
	if out.Facets, err = facets(r, counts); err != nil {
		return search.Result{}, err
	}
	return out, nil
}

// loadedProduct is a hit's product, from its stored JSON as Bleve loaded
// it (pageRequest).
func loadedProduct(h *bsearch.DocumentMatch) (*search.Product, error) {
	src, _ := h.Fields["src"].(string)
	return decodeProduct(h, []byte(src))
}

// decodeProduct is hit h's product, from its stored JSON src.
func decodeProduct(h *bsearch.DocumentMatch, src []byte) (*search.Product, error) {
	var p search.Product
	if err := json.Unmarshal(src, &p); err != nil {
		return nil, fmt.Errorf("searchindex: decode %s: %w", h.ID, err)
	}
	return &p, nil
}

// pageRequest is the search of r's page: every filter, in r's order, the
// hits with their stored JSON.
func (x *Index) pageRequest(r search.Request, text query.Query) *bleve.SearchRequest {
	req := x.request(r, text, nil, false)
	req.Size = r.Size
	req.Fields = []string{"src"}
	sortBy(req, r)
	return req
}

// hits are the products res found, which product reads. A product may be
// shared with other searches: the hits copy it, and nothing changes it.
func hits(res *bleve.SearchResult, product func(*bsearch.DocumentMatch) (*search.Product, error)) (search.Result, error) {
	out := search.Result{Total: int64(res.Total), Hits: make([]search.Hit, 0, len(res.Hits))}
	for _, h := range res.Hits {
		p, err := product(h)
		if err != nil {
			return search.Result{}, err
		}
		out.Hits = append(out.Hits, search.Hit{Product: *p, Score: h.Score})
	}
	return out, nil
}

// request builds a search of r's filters and text: all of r's filters but
// those on the attributes skip names (nil: none), and on the price if
// skipPrice.
func (x *Index) request(r search.Request, text query.Query, skip func(string) bool, skipPrice bool) *bleve.SearchRequest {
	filter := bleve.NewConjunctionQuery(filters(r, skip, skipPrice)...)
	if x.bleveFilters {
		return bleveFiltered(text, filter)
	}
	if text == nil {
		// Nothing to score: the filters are the query.
		req := bleve.NewSearchRequestOptions(filter, 0, 0, false)
		req.Score = "none"
		return req
	}
	return bleve.NewSearchRequestOptions(&filteredQuery{must: text, filter: filter}, 0, 0, false)
}

// bleveFiltered is the request as Bleve's own Boolean filter runs it:
// every match of the text scored, then filtered. The tests compare
// filteredQuery's answers with it.
func bleveFiltered(text, filter query.Query) *bleve.SearchRequest {
	q := bleve.NewBooleanQuery()
	if text != nil {
		q.AddMust(text)
	} else {
		q.AddMust(bleve.NewMatchAllQuery())
	}
	q.AddFilter(filter)
	req := bleve.NewSearchRequestOptions(q, 0, 0, false)
	if text == nil {
		req.Score = "none"
	}
	return req
}

// filters are r's conditions other than text: status, category subtree,
// seller, price range and attributes.
func filters(r search.Request, skip func(string) bool, skipPrice bool) []query.Query {
	out := []query.Query{anyTerm("status", r.Statuses...)}
	if len(r.Categories) > 0 {
		out = append(out, anyTerm("category", r.Categories...))
	}
	if r.Seller != "" {
		out = append(out, anyTerm("seller", r.Seller))
	}
	if !skipPrice && (r.MinPrice != nil || r.MaxPrice != nil) {
		out = append(out, numberRange("price", amount(r.MinPrice), amount(r.MaxPrice)))
	}
	for _, a := range r.Attributes {
		if skip == nil || !skip(a.Name) {
			out = append(out, attributeFilter(a)...)
		}
	}
	return out
}

// attributeFilter applies the products service's rules: equality with the
// value read as its likely type, or as the text sent (a number or boolean
// may be stored as a string), and bounds that only numbers meet. For an
// array, each condition may be met by a different element, as in MongoDB.
func attributeFilter(a search.AttributeFilter) []query.Query {
	field := "attr." + a.Name
	var out []query.Query
	if a.Equals != nil {
		out = append(out, anyTerm(field+".f", equalityTerms(a)...))
	}
	if a.Min != nil {
		out = append(out, numberRange(field+".n", a.Min, nil))
	}
	if a.Max != nil {
		out = append(out, numberRange(field+".n", nil, a.Max))
	}
	return out
}

// equalityTerms are the terms an attribute equal to a's value may have.
func equalityTerms(a search.AttributeFilter) []string {
	terms := []string{}
	if t, ok := typedTerm(a.Equals); ok {
		terms = append(terms, t)
	}
	if _, isString := a.Equals.(string); !isString && a.Text != "" {
		terms = append(terms, "s:"+a.Text)
	}
	return terms
}

func anyTerm(field string, terms ...string) query.Query {
	if len(terms) == 1 {
		return termQuery(field, terms[0])
	}
	d := bleve.NewDisjunctionQuery()
	for _, t := range terms {
		d.AddQuery(termQuery(field, t))
	}
	return d
}

func termQuery(field, term string) query.Query {
	q := bleve.NewTermQuery(term)
	q.SetField(field)
	return q
}

func numberRange(field string, lo, hi *float64) query.Query {
	yes := true
	q := bleve.NewNumericRangeInclusiveQuery(lo, hi, &yes, &yes)
	q.SetField(field)
	return q
}

func amount(v *int64) *float64 {
	if v == nil {
		return nil
	}
	f := float64(*v)
	return &f
}

// Boosts of the ways a word can match: a title word outweighs the same
// word elsewhere, and any exact word a typo or a prefix, whatever their
// rarity (a rare word one typo away, "boots" for "books", would otherwise
// outscore a common exact one), as search engines rank fewer typos first.
const (
	boostTitle       = 10
	boostTitleRaw    = 5
	boostText        = 3
	boostTitlePrefix = 2
	boostTitleTypo   = 0.2
	boostTextTypo    = 0.05
)

// textQuery requires each word (or, leniently, all but one), or returns
// nil when there is no word to look for. Typos are looked up through
// typos (typo.go), or by Bleve's fuzzy query if it is nil.
func (x *Index) textQuery(words []string, lenient bool, typos *typoMemo) query.Query {
	var parts []query.Query
	for i, w := range words {
		last := i == len(words)-1
		if !last && x.stopWord(w) {
			continue // "the", "of", ...: found everywhere, required nowhere
		}
		parts = append(parts, wordQuery(w, last, lenient, typos))
	}
	switch {
	case len(parts) == 0:
		return nil
	case len(parts) == 1:
		// The word's own query: a conjunction of one scores the same
		// (the sum of one score, the same query norm) at a cost per hit.
		return parts[0]
	case lenient:
		d := bleve.NewDisjunctionQuery(parts...)
		d.SetMin(float64(len(parts) - 1))
		return d
	}
	return bleve.NewConjunctionQuery(parts...)
}

// stopWord reports whether English analysis drops w.
func (x *Index) stopWord(w string) bool {
	a := x.idx.Mapping().AnalyzerNamed(en.AnalyzerName)
	return a != nil && len(a.Analyze([]byte(w))) == 0
}

// wordQuery is one word in any of the ways it may match.
func wordQuery(w string, last, lenient bool, typos *typoMemo) query.Query {
	d := bleve.NewDisjunctionQuery(
		match(w, "title", boostTitle),
		termBoosted("title_raw", w, boostTitleRaw),
		match(w, "text", boostText),
	)
	if edits := allowedEdits(w, lenient); edits > 0 {
		d.AddQuery(fuzzy(typos, "title_raw", w, edits, boostTitleTypo), fuzzy(typos, "text_raw", w, edits, boostTextTypo))
	}
	if last {
		p := bleve.NewPrefixQuery(w)
		p.SetField("title_raw")
		p.SetBoost(boostTitlePrefix)
		d.AddQuery(p)
	}
	return d
}

// allowedEdits is the typo allowance of a word: one edit from 5 letters,
// two from 9; leniently, one from 3.
func allowedEdits(w string, lenient bool) int {
	switch n := utf8.RuneCountInString(w); {
	case n >= 9:
		return 2
	case n >= 5:
		return 1
	case lenient && n >= 3:
		return 1
	}
	return 0
}

func match(w, field string, boost float64) query.Query {
	q := bleve.NewMatchQuery(w)
	q.SetField(field)
	q.SetBoost(boost)
	return q
}

func termBoosted(field, term string, boost float64) query.Query {
	q := bleve.NewTermQuery(term)
	q.SetField(field)
	q.SetBoost(boost)
	return q
}

func fuzzy(typos *typoMemo, field, term string, edits int, boost float64) query.Query {
	if typos != nil {
		return &typoQuery{field: field, word: typoWord{term, edits}, boost: boost, memo: typos}
	}
	q := bleve.NewFuzzyQuery(term)
	q.SetField(field)
	q.SetFuzziness(edits)
	q.SetBoost(boost)
	return q
}

// sortBy sets the order of r, each with the id as the last key in the
// same direction, and the cursor to continue after. Numeric keys are
// typed, so that Bleve encodes the cursor's number as it indexed them.
func sortBy(req *bleve.SearchRequest, r search.Request) {
	number := func(field string, desc bool) bsearch.SearchSort {
		return &bsearch.SortField{Field: field, Type: bsearch.SortFieldAsNumber, Desc: desc}
	}
	id := func(desc bool) bsearch.SearchSort { return &bsearch.SortDocID{Desc: desc} }
	var keys bsearch.SortOrder
	switch r.Sort {
	case search.SortRelevance:
		keys = bsearch.SortOrder{&bsearch.SortScore{Desc: true}, id(true)}
	case search.SortPriceAsc:
		keys = bsearch.SortOrder{number("price", false), id(false)}
	case search.SortPriceDesc:
		keys = bsearch.SortOrder{number("price", true), id(true)}
	case search.SortTitle:
		keys = bsearch.SortOrder{&bsearch.SortField{Field: titleSortField, Type: bsearch.SortFieldAsString}, id(false)}
	default:
		keys = bsearch.SortOrder{number(createdField, true), id(true)}
	}
	req.SortByCustom(keys)
	if r.After != nil {
		req.SearchAfter = []string{cursorKey(r.After.Key), r.After.ID}
	}
}

// cursorKey writes a cursor's key as SearchAfter takes it: numbers in
// decimal (Bleve encodes them for numeric fields), text as it is.
func cursorKey(k any) string {
	switch v := k.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'g', -1, 64)
	case string:
		return v
	}
	return fmt.Sprint(k)
}

// facetRequests returns main and one request per facet that has a
// filter of its own (the same search without that filter, counting that
// facet only), and the facets each counts: main, those its own filters
// do not narrow.
func (x *Index) facetRequests(r search.Request, text query.Query, main *bleve.SearchRequest) ([]*bleve.SearchRequest, [][]facetSpec) {
	filtered := map[string]bool{}
	for _, a := range r.Attributes {
		filtered[a.Name] = true
	}
	reqs := []*bleve.SearchRequest{main}
	specs := [][]facetSpec{nil}
	count := func(req *bleve.SearchRequest, spec facetSpec) {
		if req == main {
			specs[0] = append(specs[0], spec)
			return
		}
		req.Score = "none" // counts only: nothing to rank
		reqs, specs = append(reqs, req), append(specs, []facetSpec{spec})
	}
	for _, name := range r.FacetAttributes {
		target := main
		if filtered[name] {
			target = x.request(r, text, func(n string) bool { return n == name }, false)
		}
		count(target, facetSpec{name: name, field: "attr." + name + ".f"})
	}
	target := main
	if r.MinPrice != nil || r.MaxPrice != nil {
		target = x.request(r, text, nil, true)
	}
	count(target, facetSpec{name: "price", field: "price", price: true})
	return reqs, specs
}

// addBleveFacets has Bleve count specs, as the reference the tests
// compare facetCounter's counts with.
func addBleveFacets(req *bleve.SearchRequest, specs []facetSpec) {
	for _, s := range specs {
		if s.price {
			req.AddFacet(s.name, priceFacet())
		} else {
			req.AddFacet(s.name, bleve.NewFacetRequest(s.field, 1000))
		}
	}
}

func priceFacet() *bleve.FacetRequest {
	f := bleve.NewFacetRequest("price", len(search.PriceBucketEdges))
	for i, lo := range search.PriceBucketEdges {
		min := float64(lo)
		var max *float64
		if i+1 < len(search.PriceBucketEdges) {
			m := float64(search.PriceBucketEdges[i+1])
			max = &m
		}
		f.AddNumericRange(strconv.Itoa(i), &min, max)
	}
	return f
}

// facetCounts are one request's counts: each term facet's count by term,
// and the price buckets' if it counted them.
type facetCounts struct {
	terms  map[string]map[string]int
	prices []int64
}

// bleveCounts are the counts of Bleve's facet builders in res.
func bleveCounts(res *bleve.SearchResult) facetCounts {
	out := facetCounts{terms: map[string]map[string]int{}}
	for name, fr := range res.Facets {
		if name == "price" {
			out.prices = make([]int64, len(search.PriceBucketEdges))
			for _, nr := range fr.NumericRanges {
				i, _ := strconv.Atoi(nr.Name)
				out.prices[i] = int64(nr.Count)
			}
			continue
		}
		counts := map[string]int{}
		for _, t := range fr.Terms.Terms() {
			counts[t.Term] = t.Count
		}
		out.terms[name] = counts
	}
	return out
}

// facets gathers the counts of a search's requests.
func facets(r search.Request, counts []facetCounts) (search.Facets, error) {
	out := emptyFacets(r)
	for _, c := range counts {
		for name, terms := range c.terms {
			values, err := facetValues(terms)
			if err != nil {
				return search.Facets{}, err
			}
			out.Attributes[name] = values
		}
		for i, n := range c.prices {
			out.Prices[i].Count = n
		}
	}
	return out, nil
}

// emptyFacets are r's facets with every count zero.
func emptyFacets(r search.Request) search.Facets {
	out := search.Facets{Attributes: map[string][]search.FacetValue{}, Prices: make([]search.PriceBucket, len(search.PriceBucketEdges))}
	for _, name := range r.FacetAttributes {
		out.Attributes[name] = []search.FacetValue{}
	}
	for i, lo := range search.PriceBucketEdges {
		out.Prices[i].Min = lo
		if i+1 < len(search.PriceBucketEdges) {
			out.Prices[i].Max = search.PriceBucketEdges[i+1]
		}
	}
	return out
}

// facetValues orders a facet's values as the products service did: most
// frequent first, ties by value (numbers, then strings, then booleans,
// each in its own order), the first MaxFacetValues.
func facetValues(terms map[string]int) ([]search.FacetValue, error) {
	out := make([]search.FacetValue, 0, len(terms))
	for t, n := range terms {
		v, err := valueOfTerm(t)
		if err != nil {
			return nil, err
		}
		out = append(out, search.FacetValue{Value: v, Count: int64(n)})
	}
	slices.SortFunc(out, func(a, b search.FacetValue) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), compareValues(a.Value, b.Value))
	})
	return out[:min(len(out), search.MaxFacetValues)], nil
}

func compareValues(a, b any) int {
	if c := cmp.Compare(rank(a), rank(b)); c != 0 {
		return c
	}
	switch x := a.(type) {
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		return cmp.Compare(boolRank(x), boolRank(b.(bool)))
	}
	return 0
}

func rank(v any) int {
	switch v.(type) {
	case float64:
		return 1
	case string:
		return 2
	}
	return 5
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
