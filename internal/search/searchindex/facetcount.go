package searchindex

import (
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/numeric"
	segment "github.com/blevesearch/scorch_segment_api/v2"
)

// Facet counts without Bleve's facet builders.
//
// Bleve counts a facet by reading, for every hit, the hit's doc values of
// the facet's field: one snappy-decoded chunk per field whenever the hit
// is in another chunk than the last, which with hits spread over the
// catalog is nearly every hit, for every facet. At 100,000 products that
// was a third of a search's CPU.
//
// A segment of the index never changes once written (scorch writes new
// segments and merges old ones into new ones), so its doc values can be
// decoded once into a column of small integers per field, kept while the
// segment is live, and a facet counted from a hit with two slice reads.
// The columns belong to the segments of the snapshot the search itself
// reads, so the counts are those of that snapshot exactly, as Bleve's.

// facetSpec is one facet a search counts: the values of a term field, or
// the price buckets.
type facetSpec struct {
	name  string
	field string
	price bool
}

// column is one field's doc values in one segment: the terms of local
// document d are terms[ords[start[d]:start[d+1]]], in the order Bleve
// visits them; numbers holds each term's value when the term is a
// full-precision number (the term a numeric range facet reads), NaN if it
// is not one, and buckets the price bucket of that number (priceBucket),
// worked out once rather than per hit.
type column struct {
	start   []uint32
	ords    []uint32
	terms   []string
	numbers []float64
	buckets []int8
}

// columnKey names a column: a segment (by its id, unique in the index and
// never reused) and a field.
type columnKey struct {
	segment uint64
	field   string
}

// columns are the decoded doc values of the segments searches have read,
// built on first use, and the products their pages showed (products.go).
type columns struct {
	mu       sync.Mutex
	built    map[columnKey]*columnOnce
	products products
}

type columnOnce struct {
	once sync.Once
	col  *column
	err  error
}

func newColumns() *columns {
	return &columns{built: map[columnKey]*columnOnce{}, products: products{bySegment: map[uint64]*segmentProducts{}, limit: maxProducts}}
}

// get returns field's column in segment ss of snapshot snap, decoding it
// the first time. Building one drops the columns and products of segments
// snap no longer has (merged away): a search still reading an older snapshot
// rebuilds what it needs, so memory stays that of the live segments.
func (c *columns) get(snap *scorch.IndexSnapshot, ss *scorch.SegmentSnapshot, field string) (*column, error) {
	key := columnKey{ss.Id(), field}
	c.mu.Lock()
	e, ok := c.built[key]
	if !ok {
		e = &columnOnce{}
		c.built[key] = e
		c.pruneLocked(snap)
	}
	c.mu.Unlock()
	e.once.Do(func() {
		if field == idField {
			e.col, e.err = decodeIDs(ss.Segment())
		} else {
			e.col, e.err = decodeColumn(ss.Segment(), field)
		}
	})
	return e.col, e.err
}

func (c *columns) pruneLocked(snap *scorch.IndexSnapshot) {
	live := map[uint64]bool{}
	for _, ss := range snap.Segments() {
		live[ss.Id()] = true
	}
	for k := range c.built {
		if !live[k.segment] {
			delete(c.built, k)
		}
	}
	c.products.keepOnlyLocked(live)
}

// decodeColumn reads field's doc values of every document of seg, in
// document order, so that each chunk is decompressed once.
func decodeColumn(seg segment.Segment, field string) (*column, error) {
	dv, ok := seg.(segment.DocValueVisitable)
	if !ok {
		return nil, fmt.Errorf("searchindex: segment %T has no doc values", seg)
	}
	n := seg.Count()
	col := &column{start: make([]uint32, 1, n+1)}
	ordOf := map[string]uint32{}
	fields := []string{field}
	var state segment.DocVisitState
	var err error
	for d := range n {
		state, err = dv.VisitDocValues(d, fields, func(_ string, term []byte) {
			o, ok := ordOf[string(term)]
			if !ok {
				o = uint32(len(col.terms))
				ordOf[string(term)] = o
				col.terms = append(col.terms, string(term))
				n := fullPrecisionNumber(term)
				col.numbers = append(col.numbers, n)
				col.buckets = append(col.buckets, int8(priceBucket(n)))
			}
			col.ords = append(col.ords, o)
		}, state)
		if err != nil {
			return nil, fmt.Errorf("searchindex: doc values of %s: %w", field, err)
		}
		col.start = append(col.start, uint32(len(col.ords)))
	}
	col.ords = slices.Clip(col.ords)
	return col, nil
}

// idField names the column of the documents' ids. Bleve keeps no doc
// values of ids: decodeIDs reads each document's stored id.
const idField = "_id"

// The fields of the newest and the title orders' keys: the documents'
// creation time, in microseconds, and their title in lower case.
const (
	createdField   = "created"
	titleSortField = "title_sort"
)

// decodeIDs reads the id of every document of seg. A document has exactly
// one, so the column is its terms alone: terms[d] is local document d's
// id (start and ords are nil). Reading them once, in document order,
// costs what Bleve's collector pays for each hit it sorts by id.
func decodeIDs(seg segment.Segment) (*column, error) {
	n := seg.Count()
	col := &column{terms: make([]string, n)}
	for d := range n {
		id, err := seg.DocID(d)
		if err != nil {
			return nil, fmt.Errorf("searchindex: id of document %d: %w", d, err)
		}
		col.terms[d] = string(id)
	}
	return col, nil
}

// fullPrecisionNumber is the number a prefix-coded term holds if it is
// the full-precision one (shift 0), the only one Bleve's numeric facet
// reads; NaN otherwise.
func fullPrecisionNumber(term []byte) float64 {
	p := numeric.PrefixCoded(term)
	if shift, err := p.Shift(); err != nil || shift != 0 {
		return math.NaN()
	}
	i, err := p.Int64()
	if err != nil {
		return math.NaN()
	}
	return numeric.Int64ToFloat64(i)
}
