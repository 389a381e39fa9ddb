package searchindex

import (
	"container/heap"
	"math"
	"slices"
	"strconv"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"

	"github.com/marketplace-go/marketplace/internal/search"
)

// Hits that cannot be on the page, dropped before Bleve's collector.
//
// Bleve's collector prepares every hit it is given before it knows whether
// the hit makes the page: it reads the hit's sort keys, the price from
// its doc values (a snappy-decoded chunk whenever the hit is in another
// chunk than the last) and the id that breaks ties (a stored field). With
// thousands of hits and a page of 20, that was about 30 % of a search's
// CPU at 100,000 products. A hit whose key is worse than the page's worst
// so far cannot make the page (there are already enough better ones), so
// the counting pass, which sees every hit first, drops it, having counted
// it: the collector then prepares about the page's size times the log of
// the hits, not every hit.
//
// Keys are those Bleve sorts by: the score, the price (read from the
// facet column the pass has already), the creation time or the title's
// sort key (each from a column of its own), then the id. Bleve reads a
// hit's id from its stored fields, a few microseconds each; the cut reads
// it from a column of the segment's ids, decoded once (facetcount.go).
// Without the id, a hit whose key equals the page's worst had to be kept,
// and a word that scores its thousands of hits alike (a category word,
// most often) sent every one to the collector. A cursor's page is cut
// too: a hit that does not sort after the cursor's key and id cannot be
// on it (Bleve's SearchAfter would drop it after preparing it). Keys are
// compared by pointer: they are compared once per hit, and passing two by
// value, text and all, cost the number orders about 8 % at 100,000
// products.

// pageCut keeps the best hits seen so far, up to a page's worth.
type pageCut struct {
	size int
	// by is the order: keyScore, keyPriceAsc, keyPriceDesc, keyNewest
	// or keyTitle.
	by int
	// after is the key of a cursor's last hit, which every hit on the
	// page sorts after; nil on a first page.
	after *cutKey
	best  cutHeap
}

// cutKey is where a hit sorts: by key, higher being better, or in the
// title order by text, lower being better; then by id, in the direction
// of the order's id key.
type cutKey struct {
	key  float64
	text string
	id   string
}

const (
	keyScore = iota + 1
	keyPriceAsc
	keyPriceDesc
	keyNewest
	keyTitle
)

// newPageCut returns the cut of r's page, or nil when r's page is not cut
// (a cursor whose key is not of the order's kind).
func newPageCut(r search.Request) *pageCut {
	var by int
	switch r.Sort {
	case search.SortRelevance:
		by = keyScore
	case search.SortPriceAsc:
		by = keyPriceAsc
	case search.SortPriceDesc:
		by = keyPriceDesc
	case search.SortTitle:
		by = keyTitle
	default: // sortBy's default
		by = keyNewest
	}
	c := &pageCut{size: r.Size, by: by}
	c.best.better = c.better
	if r.After != nil {
		k, ok := c.cursorKey(*r.After)
		if !ok {
			return nil
		}
		c.after = &k
	}
	return c
}

// cursorKey is the key of the hit a cursor names, as the cut compares
// it: the text, or the number Bleve compares, turned as the order turns
// the hits'.
func (c *pageCut) cursorKey(cur search.Cursor) (cutKey, bool) {
	var v float64
	switch k := cur.Key.(type) {
	case string:
		return cutKey{text: k, id: cur.ID}, c.by == keyTitle
	case int64:
		v = float64(k)
	case float64:
		v = k
	default:
		return cutKey{}, false
	}
	if c.by == keyTitle || math.IsNaN(v) {
		return cutKey{}, false
	}
	if c.by == keyPriceAsc {
		v = -v
	}
	return cutKey{key: v, id: cur.ID}, true
}

// better reports whether a sorts before b, as sortBy orders hits: ids
// ascending with the cheapest first and by title, descending otherwise.
func (c *pageCut) better(a, b *cutKey) bool {
	switch {
	case a.key != b.key:
		return a.key > b.key
	case c.by == keyTitle && a.text != b.text:
		return a.text < b.text
	case c.by == keyPriceAsc || c.by == keyTitle:
		return a.id < b.id
	}
	return a.id > b.id
}

// keep reports whether a hit of key k may be on the page, and counts it
// among the best if it is one of them. Ids are unique, so no two keys
// are equal.
func (c *pageCut) keep(k cutKey) bool {
	switch {
	case c.size == 0:
		return false
	case c.after != nil && !c.better(c.after, &k):
		return false // at or before the cursor
	case len(c.best.keys) < c.size:
		heap.Push(&c.best, k)
		return true
	case !c.better(&k, &c.best.keys[0]):
		return false
	}
	c.best.keys[0] = k
	heap.Fix(&c.best, 0)
	return true
}

// numberKey is the key of a document's number (its price or its creation
// time) under c's order: a missing number sorts last either way, as in
// Bleve.
func (c *pageCut) numberKey(col *column, local uint64) float64 {
	ords := col.ords[col.start[local]:col.start[local+1]]
	i := slices.IndexFunc(ords, func(o uint32) bool { return !math.IsNaN(col.numbers[o]) })
	switch {
	case i < 0:
		return math.Inf(-1)
	case c.by == keyPriceAsc:
		return -col.numbers[ords[i]]
	}
	return col.numbers[ords[i]]
}

// textKey is a document's title sort key, or false if it has none: then
// the cut cannot place it, and leaves it to Bleve's collector.
func textKey(col *column, local uint64) (string, bool) {
	ords := col.ords[col.start[local]:col.start[local+1]]
	if len(ords) == 0 {
		return "", false
	}
	return col.terms[ords[0]], true
}

// cutHeap is a heap of keys, the worst first.
type cutHeap struct {
	keys   []cutKey
	better func(a, b *cutKey) bool
}

func (h *cutHeap) Len() int           { return len(h.keys) }
func (h *cutHeap) Less(i, j int) bool { return h.better(&h.keys[j], &h.keys[i]) }
func (h *cutHeap) Swap(i, j int)      { h.keys[i], h.keys[j] = h.keys[j], h.keys[i] }
func (h *cutHeap) Push(x any)         { h.keys = append(h.keys, x.(cutKey)) }
func (h *cutHeap) Pop() any {
	x := h.keys[len(h.keys)-1]
	h.keys = h.keys[:len(h.keys)-1]
	return x
}

// Keys for Bleve's collector, from the cut's column.
//
// The collector reads each hit it prepares by price, creation time or
// title from its doc values: a snappy-decoded chunk whenever the hit is in
// another chunk than the last, which is nearly every hit. Once a page's
// products were kept decoded (ADR 66), that was half of a listing page's
// CPU. The cut has just read the same key from its column for the same
// hit (onPage), so keySort gives the collector that key: the very term
// Bleve's own sort would produce, so that the order, ties and SearchAfter
// are Bleve's to the byte (a test compares every order's pages with
// Bleve's).

// keySort is a field's sort whose values come from pass's key column.
type keySort struct {
	*bsearch.SortField
	pass *facetPass
}

// sortKeysFromColumns has the collector of req, whose page pass cuts,
// read the order's key from the cut's column. Bleve prefix-codes a
// cursor's number itself only for its own sort, so it is coded here.
func sortKeysFromColumns(req *bleve.SearchRequest, pass *facetPass) {
	if pass.cut == nil || pass.cut.by == keyScore {
		return
	}
	for i, s := range req.Sort {
		f, ok := s.(*bsearch.SortField)
		if !ok {
			continue
		}
		req.Sort[i] = &keySort{SortField: f, pass: pass}
		if req.SearchAfter != nil && f.Type == bsearch.SortFieldAsNumber {
			n, err := strconv.ParseFloat(req.SearchAfter[i], 64)
			if err != nil {
				req.Sort[i] = f // Bleve's validation refuses it, as before
				continue
			}
			req.SearchAfter[i] = string(numeric.MustNewPrefixCodedInt64(numeric.Float64ToInt64(n), 0))
		}
	}
}

// UpdateVisitor ignores doc values: keySort needs none.
func (s *keySort) UpdateVisitor(string, []byte) {}

// RequiresFields is none, so that the collector reads no doc values.
func (s *keySort) RequiresFields() []string { return nil }

// Value is hit d's key as Bleve's SortField would give it: the first of
// its terms, of full precision for a number; a missing one sorts last.
// d is the hit the pass has just taken, in the pass's current segment.
func (s *keySort) Value(d *bsearch.DocumentMatch) string {
	col, local := s.pass.keyCol, d.IndexInternalID.Value()-s.pass.begin
	for _, o := range col.ords[col.start[local]:col.start[local+1]] {
		if s.Type != bsearch.SortFieldAsNumber || !math.IsNaN(col.numbers[o]) {
			return col.terms[o]
		}
	}
	if s.Desc {
		return bsearch.LowTerm
	}
	return bsearch.HighTerm
}

// Copy is a copy of s reading the same pass.
func (s *keySort) Copy() bsearch.SearchSort {
	return &keySort{SortField: s.SortField.Copy().(*bsearch.SortField), pass: s.pass}
}
