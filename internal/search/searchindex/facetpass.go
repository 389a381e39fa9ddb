package searchindex

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"slices"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	"github.com/blevesearch/bleve/v2/numeric"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/marketplace-go/marketplace/internal/search"
)

// Disjunctive facets in one pass.
//
// A facet's counts ignore the facet's own filter, so that a shopper who
// picked red still sees how many blue ones there are. Bleve would need
// one more search per filtered facet (the same words and filters but that
// one), each reading and matching the text again. Instead, one search
// without scores runs with the filters no facet ignores (status,
// category, seller, and attributes that are not facets), and each
// document it finds is tested against the facets' filters on the decoded
// columns: a document that meets them all is a hit, counts in the total
// and in every facet; one that fails exactly one facet's filter counts in
// that facet only and is left out; others count nowhere. The counts are
// those of the separate searches. (searchWithFacets then ranks the page
// with every filter, if there are hits; when no facet has a filter of its
// own, the pass wraps that scored search itself: ADR 48.)

// facetFilter is one condition of a facet's filter: that some term of
// field is one of terms, or else that some full-precision number of field
// is within bounds (included, compared as Bleve's numeric range query
// compares them: as sortable integers). An attribute's filter may have
// several, each met by any of its values, as the products service's store
// does for arrays.
type facetFilter struct {
	// facet is the index of the facet the condition belongs to.
	facet  int
	field  string
	terms  []string
	bounds [2]int64
}

// numberBounds is the range of sortable integers between optional bounds.
func numberBounds(lo, hi *float64) [2]int64 {
	out := [2]int64{numeric.Float64ToInt64(math.Inf(-1)), numeric.Float64ToInt64(math.Inf(1))}
	if lo != nil {
		out[0] = numeric.Float64ToInt64(*lo)
	}
	if hi != nil {
		out[1] = numeric.Float64ToInt64(*hi)
	}
	return out
}

// facetPass counts the facets of one search and tells which of the
// documents its query finds are hits.
type facetPass struct {
	cols    *columns
	specs   []facetSpec
	filters []facetFilter
	// terms[i] counts facet i's terms (unused for the price), prices the
	// price buckets.
	terms  []map[string]int
	prices []int64
	// hits counts the documents that met every facet's filter; cut, if
	// set, drops those of them that cannot be on the page (pagecut.go).
	hits int64
	cut  *pageCut
	// hitDocs lists the hits' document numbers, in order, if record is
	// set: the ranking pass's filter (hitlist.go).
	record  bool
	hitDocs []uint64

	snap *snapshot
	// The segment of the last document (a search's documents come in
	// document order): its columns of the facets and of the filters, the
	// facets' counts by ordinal, and, per filter with terms, which of its
	// column's ordinals are among them.
	seg         int
	begin, end  uint64
	facetCols   []*column
	facetCounts [][]int
	filterCols  []*column
	filterTerms [][]bool
	// idCol is the segment's ids, and keyCol its keys the cut's order
	// sorts by (nil for the score), for the cut.
	idCol, keyCol *column
}

// newFacetPass counts specs, each document tested against filters.
func newFacetPass(cols *columns, specs []facetSpec, filters []facetFilter) *facetPass {
	p := &facetPass{cols: cols, specs: specs, filters: filters, terms: make([]map[string]int, len(specs)),
		prices: make([]int64, len(search.PriceBucketEdges)), seg: -1}
	for i := range specs {
		p.terms[i] = map[string]int{}
	}
	return p
}

// errNotScorch is returned when the index is not a scorch one, whose
// segments the facets are counted from.
var errNotScorch = errors.New("searchindex: facet counts need a scorch index")

// start sets the snapshot the search reads.
func (p *facetPass) start(r index.IndexReader) error {
	if p.snap != nil {
		return errors.New("searchindex: a facet pass counts one search only")
	}
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return errNotScorch
	}
	p.snap, p.seg = newSnapshot(snap), -1
	snap.AddRef() // for source, after Bleve has let it go
	return nil
}

// hitsOr is a filter of p's hits on the snapshot p read, of what
// otherwise matches on any other.
func (p *facetPass) hitsOr(otherwise query.Query) query.Query {
	return &hitsQuery{snap: p.snap.IndexSnapshot, docs: p.hitDocs, otherwise: otherwise}
}

// release lets go of the snapshot the search read. Every pass must be
// released once its search is over.
func (p *facetPass) release() {
	if p.snap != nil {
		_ = p.snap.DecRef()
	}
}

// product is hit h's product in the snapshot its search read, found by
// its document number and decoded from its stored JSON once per segment
// (products.go). Bleve loads a hit's stored fields by its id, which it
// looks up in the ids' dictionary and postings first: that cost several
// times the read itself.
func (p *facetPass) product(h *bsearch.DocumentMatch) (*search.Product, error) {
	seg, local, err := p.snap.locate(h.IndexInternalID.Value())
	if err != nil {
		return nil, err
	}
	ss := p.snap.segments[seg]
	return p.cols.product(p.snap.IndexSnapshot, ss, local, func() (*search.Product, error) {
		var prod *search.Product
		var decodeErr error
		err := ss.Segment().VisitStoredFields(local, func(field string, _ byte, value []byte, _ []uint64) bool {
			if field == "src" {
				// Decoded here: value is the segment's buffer, reused.
				prod, decodeErr = decodeProduct(h, value)
				return false
			}
			return true
		})
		switch {
		case err != nil:
			return nil, err
		case decodeErr != nil:
			return nil, decodeErr
		case prod == nil:
			return nil, fmt.Errorf("searchindex: %s has no stored source", h.ID)
		}
		return prod, nil
	})
}

// take counts document doc in the facets and reports whether it is a
// hit: whether it meets every facet's filter.
func (p *facetPass) take(doc uint64) (bool, error) {
	if p.seg < 0 || doc < p.begin || doc >= p.end {
		if err := p.enter(doc); err != nil {
			return false, err
		}
	}
	local := doc - p.begin
	failed := -1
	for i := range p.filters {
		if p.meets(i, local) {
			continue
		}
		switch f := p.filters[i].facet; {
		case failed < 0:
			failed = f
		case failed != f:
			return false, nil // two facets' filters failed: counts nowhere
		}
	}
	if failed >= 0 {
		p.count(failed, local)
		return false, nil
	}
	for i := range p.specs {
		p.count(i, local)
	}
	p.hits++
	if p.record {
		p.hitDocs = append(p.hitDocs, doc)
	}
	return true, nil
}

// onPage reports whether the hit d, which p has just taken, may be on the
// page. One that may is given its id from the column, so that Bleve's
// collector, which sorts by it, need not read it from stored fields.
func (p *facetPass) onPage(d *bsearch.DocumentMatch) bool {
	if p.cut == nil {
		return true
	}
	local := d.IndexInternalID.Value() - p.begin
	k := cutKey{key: d.Score, id: p.idCol.terms[local]}
	switch p.cut.by {
	case keyScore:
	case keyTitle:
		text, ok := textKey(p.keyCol, local)
		if !ok {
			d.ID = k.id
			return true // no title to place it by: the collector sorts it last
		}
		k.key, k.text = 0, text
	default:
		k.key = p.cut.numberKey(p.keyCol, local)
	}
	if !p.cut.keep(k) {
		return false
	}
	d.ID = k.id
	return true
}

// meets reports whether the local document meets filter i.
func (p *facetPass) meets(i int, local uint64) bool {
	f, col := &p.filters[i], p.filterCols[i]
	ords := col.ords[col.start[local]:col.start[local+1]]
	if f.terms != nil {
		return slices.ContainsFunc(ords, func(o uint32) bool { return p.filterTerms[i][o] })
	}
	return slices.ContainsFunc(ords, func(o uint32) bool {
		n := col.numbers[o]
		if math.IsNaN(n) {
			return false
		}
		v := numeric.Float64ToInt64(n)
		return f.bounds[0] <= v && v <= f.bounds[1]
	})
}

// count adds the local document to facet i.
func (p *facetPass) count(i int, local uint64) {
	col := p.facetCols[i]
	ords := col.ords[col.start[local]:col.start[local+1]]
	if p.specs[i].price {
		for _, o := range ords {
			if b := col.buckets[o]; b >= 0 {
				p.prices[b]++
			}
		}
		return
	}
	for _, o := range ords {
		p.facetCounts[i][o]++
	}
}

// enter moves to the segment holding doc.
func (p *facetPass) enter(doc uint64) error {
	p.flush()
	seg, _, err := p.snap.locate(doc)
	if err != nil {
		return err
	}
	p.seg, p.begin = seg, p.snap.firsts[seg]
	p.end = p.begin + p.snap.segments[seg].Segment().Count()
	return p.load()
}

// load reads the current segment's columns.
func (p *facetPass) load() error {
	ss := p.snap.segments[p.seg]
	p.facetCols, p.facetCounts = p.facetCols[:0], p.facetCounts[:0]
	for _, s := range p.specs {
		col, err := p.cols.get(p.snap.IndexSnapshot, ss, s.field)
		if err != nil {
			return err
		}
		p.facetCols = append(p.facetCols, col)
		var counts []int
		if !s.price {
			counts = make([]int, len(col.terms))
		}
		p.facetCounts = append(p.facetCounts, counts)
	}
	p.filterCols, p.filterTerms = p.filterCols[:0], p.filterTerms[:0]
	for _, f := range p.filters {
		col, err := p.cols.get(p.snap.IndexSnapshot, ss, f.field)
		if err != nil {
			return err
		}
		p.filterCols = append(p.filterCols, col)
		var in []bool
		if f.terms != nil {
			in = make([]bool, len(col.terms))
			for o, t := range col.terms {
				in[o] = slices.Contains(f.terms, t)
			}
		}
		p.filterTerms = append(p.filterTerms, in)
	}
	if p.cut != nil {
		col, err := p.cols.get(p.snap.IndexSnapshot, ss, idField)
		if err != nil {
			return err
		}
		p.idCol = col
		if p.keyCol, err = p.cutKeys(ss); err != nil {
			return err
		}
	}
	return nil
}

// cutKeys is the current segment's column of the keys the cut's order
// sorts by: the price's, which facetPlan counts last, the creation time's
// or the title's sort key; none for the score.
func (p *facetPass) cutKeys(ss *scorch.SegmentSnapshot) (*column, error) {
	switch p.cut.by {
	case keyScore:
		return nil, nil
	case keyNewest:
		return p.cols.get(p.snap.IndexSnapshot, ss, createdField)
	case keyTitle:
		return p.cols.get(p.snap.IndexSnapshot, ss, titleSortField)
	}
	return p.facetCols[len(p.facetCols)-1], nil
}

// flush adds the current segment's counts to the terms.
func (p *facetPass) flush() {
	for i, counts := range p.facetCounts {
		for o, n := range counts {
			if n > 0 {
				p.terms[i][p.facetCols[i].terms[o]] += n
			}
		}
	}
	p.facetCounts = p.facetCounts[:0]
}

// counts are what p counted, once the search is over.
func (p *facetPass) counts() facetCounts {
	p.flush()
	out := facetCounts{terms: map[string]map[string]int{}}
	for i, s := range p.specs {
		if s.price {
			out.prices = p.prices
		} else {
			out.terms[s.name] = p.terms[i]
		}
	}
	return out
}

// snapshot is a scorch snapshot with the first global document number
// of each of its segments.
type snapshot struct {
	*scorch.IndexSnapshot
	segments []*scorch.SegmentSnapshot
	// firsts[i] is the global number of segment i's first document: the
	// sum of the earlier segments' sizes, deleted documents included, as
	// scorch numbers them.
	firsts []uint64
}

func newSnapshot(snap *scorch.IndexSnapshot) *snapshot {
	s := &snapshot{IndexSnapshot: snap, segments: snap.Segments()}
	s.firsts = make([]uint64, len(s.segments))
	var next uint64
	for i, ss := range s.segments {
		s.firsts[i] = next
		next += ss.Segment().Count()
	}
	return s
}

// locate returns the segment of the document with global number doc and
// its number in there.
func (s *snapshot) locate(doc uint64) (int, uint64, error) {
	i, found := slices.BinarySearch(s.firsts, doc)
	if !found {
		i--
	}
	for ; i >= 0 && i < len(s.segments); i++ {
		if local := doc - s.firsts[i]; local < s.segments[i].Segment().Count() {
			return i, local, nil
		}
	}
	return 0, 0, fmt.Errorf("searchindex: document %d beyond the snapshot's segments", doc)
}

// priceBucket is the index of the bucket of search.PriceBucketEdges that
// holds a price, each from its edge included to the next excluded, as
// Bleve's numeric range facet counts; -1 for NaN or below the first.
func priceBucket(price float64) int {
	edges := search.PriceBucketEdges
	for i := len(edges) - 1; i >= 0; i-- {
		if price >= float64(edges[i]) {
			return i
		}
	}
	return -1
}

// facetedQuery is query with its documents passed through pass: those
// that fail a facet's filter are counted and left out.
type facetedQuery struct {
	query query.Query
	pass  *facetPass
}

var _ query.Query = (*facetedQuery)(nil)

// Searcher implements query.Query.
func (q *facetedQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping,
	options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	if err := q.pass.start(i); err != nil {
		return nil, err
	}
	s, err := q.query.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	return &facetedSearcher{Searcher: s, pass: q.pass}, nil
}

// facetedSearcher returns the hits of the embedded searcher's documents,
// as pass tells them.
type facetedSearcher struct {
	bsearch.Searcher
	pass *facetPass
}

var reflectStaticSizeFaceted = int(reflect.TypeOf(facetedSearcher{}).Size())

// Next returns the next hit.
func (s *facetedSearcher) Next(ctx *bsearch.SearchContext) (*bsearch.DocumentMatch, error) {
	d, err := s.Searcher.Next(ctx)
	return s.from(ctx, d, err)
}

// Advance returns the first hit at or after id.
func (s *facetedSearcher) Advance(ctx *bsearch.SearchContext, id index.IndexInternalID) (*bsearch.DocumentMatch, error) {
	d, err := s.Searcher.Advance(ctx, id)
	return s.from(ctx, d, err)
}

// from returns d if it is a hit, else the next hit after it.
func (s *facetedSearcher) from(ctx *bsearch.SearchContext, d *bsearch.DocumentMatch, err error) (*bsearch.DocumentMatch, error) {
	for err == nil && d != nil {
		doc := d.IndexInternalID.Value()
		hit, terr := s.pass.take(doc)
		if terr != nil {
			return nil, terr
		}
		if hit && s.pass.onPage(d) {
			return d, nil
		}
		ctx.DocumentMatchPool.Put(d)
		d, err = s.Searcher.Next(ctx)
	}
	return d, err
}

// Size implements bsearch.Searcher.
func (s *facetedSearcher) Size() int { return reflectStaticSizeFaceted + s.Searcher.Size() }
