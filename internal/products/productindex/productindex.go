// Package productindex keeps the active catalog in memory and answers the
// public listings from it: filters, sorts, keyset pages and facet counts,
// with the same results the store gives for the same query.
//
// Why: the embedded FerretDB evaluates every condition but equalities, and
// every sort and $group, in Go after reading each document, so one listing
// with its facets read the whole collection several times (seconds of CPU
// for 2,000 products). Here a listing is one pass over the matching
// products in memory: microseconds per product. The index is a read model:
// it is loaded from the store at start, takes this instance's writes at
// once and other instances' (or processes') writes from a periodic
// catch-up (products.Service.FollowWrites), and can always be rebuilt. It holds the whole active catalog,
// so it suits catalogs that fit in memory (about 2 KB a product); the
// search service is the path for larger ones.
package productindex

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/marketplace-go/marketplace/internal/products"
)

// Index is the in-memory read model of the active products.
type Index struct {
	mu       sync.RWMutex
	byID     map[string]entry
	versions map[string]int64 // of every product seen, active or not
}

// entry is an indexed product with the derived fields queries use.
type entry struct {
	p     products.Product
	words []string // sorted title words
	title string   // lower-case title
}

var _ products.Listings = (*Index)(nil)

// New returns an empty index.
func New() *Index {
	return &Index{byID: map[string]entry{}, versions: map[string]int64{}}
}

// Put records p unless the index has seen a newer version of it: an active
// product is indexed, any other is removed. Writes may arrive out of order
// (this instance's own write and a catch-up that read an older copy), so
// the version decides.
func (x *Index) Put(ps ...products.Product) {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, p := range ps {
		if v, ok := x.versions[p.ID]; ok && v >= p.Version {
			continue
		}
		x.versions[p.ID] = p.Version
		if p.Status != products.StatusActive {
			delete(x.byID, p.ID)
			continue
		}
		x.byID[p.ID] = entry{p: p, words: products.TitleWords(p.Title), title: strings.ToLower(p.Title)}
	}
}

// Len is the number of active products indexed.
func (x *Index) Len() int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.byID)
}

// ListProducts returns up to q.Limit active products matching q, after
// q.After, in q's order. It answers only for active products: Serves says
// which queries it takes.
func (x *Index) ListProducts(_ context.Context, q products.Query) ([]products.Product, error) {
	less := order(q.Sort)
	var from entry
	if q.After != nil {
		var ok bool
		if from, ok = cursorEntry(q.After, q.Sort); !ok {
			return []products.Product{}, nil // a key of the wrong type: nothing follows it
		}
	}
	var page []entry
	x.mu.RLock()
	for _, e := range x.byID {
		if !matches(e, q) || q.After != nil && less(from, e) >= 0 {
			continue
		}
		page = keepFirst(page, e, q.Limit, less)
	}
	x.mu.RUnlock()
	out := make([]products.Product, len(page))
	for i, e := range page {
		out[i] = e.p
	}
	return out, nil
}

// keepFirst adds e to page, a sorted list of at most limit entries, if it
// is among the first limit: a page is a partial sort, not a sort of all.
func keepFirst(page []entry, e entry, limit int, less func(a, b entry) int) []entry {
	if len(page) == limit && less(e, page[limit-1]) >= 0 {
		return page
	}
	i, _ := slices.BinarySearchFunc(page, e, less)
	page = slices.Insert(page, i, e)
	if len(page) > limit {
		page = page[:limit]
	}
	return page
}

// Facets counts, over the active products matching q, the products per
// value of each named attribute (the 50 most frequent, most frequent first,
// ties in value order) and per price bucket, as the store's $group does.
func (x *Index) Facets(_ context.Context, q products.Query, attributes []string) (products.Facets, error) {
	counts := make([][]valueCount, len(attributes))
	buckets := make([]int64, len(products.PriceBucketEdges))
	x.mu.RLock()
	for _, e := range x.byID {
		if !matches(e, q) {
			continue
		}
		for i, name := range attributes {
			if v, ok := e.p.Attributes[name]; ok && v != nil {
				counts[i] = countValue(counts[i], v)
			}
		}
		if b := products.BucketOf(e.p.Price.Amount); b >= 0 {
			buckets[b]++
		}
	}
	x.mu.RUnlock()
	out := products.Facets{Attributes: map[string][]products.FacetValue{}}
	for i, name := range attributes {
		out.Attributes[name] = topValues(counts[i], 50)
	}
	out.Prices = products.PriceBuckets(func(i int) int64 { return buckets[i] })
	return out, nil
}

type valueCount struct {
	value any
	count int64
}

// countValue adds one to v's count. Attribute values are few per facet, so
// a list searched with the BSON equality beats hashing values of any type.
func countValue(counts []valueCount, v any) []valueCount {
	for i := range counts {
		if compareValues(counts[i].value, v) == 0 {
			counts[i].count++
			return counts
		}
	}
	return append(counts, valueCount{value: v, count: 1})
}

func topValues(counts []valueCount, n int) []products.FacetValue {
	slices.SortFunc(counts, func(a, b valueCount) int {
		return cmp.Or(cmp.Compare(b.count, a.count), compareValues(a.value, b.value))
	})
	out := make([]products.FacetValue, 0, min(len(counts), n))
	for _, c := range counts[:min(len(counts), n)] {
		out = append(out, products.FacetValue{Value: c.value, Count: c.count})
	}
	return out
}

// order returns the comparison of q's sort: the sort key, then the id in
// the same direction, as the store sorts.
func order(sort string) func(a, b entry) int {
	switch sort {
	case products.SortPriceAsc:
		return func(a, b entry) int {
			return cmp.Or(cmp.Compare(a.p.Price.Amount, b.p.Price.Amount), strings.Compare(a.p.ID, b.p.ID))
		}
	case products.SortPriceDesc:
		return func(a, b entry) int {
			return cmp.Or(cmp.Compare(b.p.Price.Amount, a.p.Price.Amount), strings.Compare(b.p.ID, a.p.ID))
		}
	case products.SortTitle:
		return func(a, b entry) int {
			return cmp.Or(strings.Compare(a.title, b.title), strings.Compare(a.p.ID, b.p.ID))
		}
	default:
		return func(a, b entry) int {
			return cmp.Or(b.p.CreatedAt.Compare(a.p.CreatedAt), strings.Compare(b.p.ID, a.p.ID))
		}
	}
}

// cursorEntry is where a cursor stands in sort's order: an entry with the
// cursor's key and id, so that the order's own comparison decides what
// comes after it.
func cursorEntry(c *products.Cursor, sort string) (entry, bool) {
	e := entry{p: products.Product{ID: c.ID}}
	switch sort {
	case products.SortPriceAsc, products.SortPriceDesc:
		key, ok := c.Key.(int64)
		e.p.Price.Amount = key
		return e, ok
	case products.SortTitle:
		key, ok := c.Key.(string)
		e.title = key
		return e, ok
	default:
		key, ok := c.Key.(int64)
		e.p.CreatedAt = time.UnixMicro(key)
		return e, ok
	}
}

// matches applies q's filters (not its cursor) to e.
func matches(e entry, q products.Query) bool {
	p := e.p
	switch {
	case !slices.Contains(q.Statuses, p.Status),
		len(q.Categories) > 0 && !slices.Contains(q.Categories, p.Category),
		q.Seller != "" && p.SellerID != q.Seller,
		q.MinPrice != nil && p.Price.Amount < *q.MinPrice,
		q.MaxPrice != nil && p.Price.Amount > *q.MaxPrice:
		return false
	}
	for _, w := range q.Words {
		if _, found := slices.BinarySearch(e.words, w); !found {
			return false
		}
	}
	for _, a := range q.Attributes {
		if !matchesAttribute(p.Attributes[a.Name], a) {
			return false
		}
	}
	return true
}
