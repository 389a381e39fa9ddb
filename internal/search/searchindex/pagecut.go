package searchindex

import (
	"container/heap"
	"math"
	"slices"

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
// Keys are those Bleve sorts by: the score, or the price (read from the
// facet column the pass has already). A hit whose key equals the page's
// worst is kept, as the id decides between them. Only a first page is
// cut: a cursor's page starts after a key, which the cut would have to
// follow too.

// pageCut keeps the best keys seen so far, up to a page's worth, higher
// being better.
type pageCut struct {
	size int
	// by is the order: keyScore, keyPriceAsc or keyPriceDesc.
	by   int
	best minHeap
}

const (
	keyScore = iota + 1
	keyPriceAsc
	keyPriceDesc
)

// newPageCut returns the cut of r's page, or nil when r's page is not cut
// (a cursor's page, or an order other than relevance and price).
func newPageCut(r search.Request) *pageCut {
	if r.After != nil {
		return nil
	}
	var by int
	switch r.Sort {
	case search.SortRelevance:
		by = keyScore
	case search.SortPriceAsc:
		by = keyPriceAsc
	case search.SortPriceDesc:
		by = keyPriceDesc
	default:
		return nil
	}
	return &pageCut{size: r.Size, by: by}
}

// keep reports whether a hit of key may be on the page, and counts it
// among the best if it is one of them.
func (c *pageCut) keep(key float64) bool {
	switch {
	case len(c.best) < c.size:
		heap.Push(&c.best, key)
		return true
	case c.size == 0 || key < c.best[0]:
		return false
	case key > c.best[0]:
		c.best[0] = key
		heap.Fix(&c.best, 0)
	}
	return true
}

// priceKey is the key of a price under c's order: a missing price sorts
// last either way, as in Bleve.
func (c *pageCut) priceKey(col *column, local uint64) float64 {
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

// minHeap is a heap of keys, the least first.
type minHeap []float64

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
