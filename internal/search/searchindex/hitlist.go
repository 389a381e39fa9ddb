package searchindex

import (
	"context"
	"reflect"
	"sort"

	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/mapping"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	index "github.com/blevesearch/bleve_index_api"
)

// The ranking pass filters by the counting pass's hits.
//
// A search with a facet filter counts in one pass and ranks the page in a
// second (searchWithFacets). The first has found exactly which documents
// are hits, in document order; the second would find them again through
// the filters (status, category, the facets' own), a conjunction of
// postings stepped through document by document, about a quarter of a
// search with many hits. Instead the second filters by the first's list,
// as long as it reads the same snapshot: document numbers belong to a
// snapshot, so if a write has come between the two, the filters run as
// before.

// hitsQuery matches the documents docs names in snapshot snap, and on any
// other snapshot what otherwise matches. It is a filter: it scores
// nothing.
type hitsQuery struct {
	snap      *scorch.IndexSnapshot
	docs      []uint64
	otherwise query.Query
}

var _ query.Query = (*hitsQuery)(nil)

// Searcher implements query.Query.
func (q *hitsQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping,
	options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	if snap, ok := i.(*scorch.IndexSnapshot); !ok || snap != q.snap {
		return q.otherwise.Searcher(ctx, i, m, options)
	}
	return &hitsSearcher{docs: q.docs}, nil
}

// hitsSearcher returns the documents of a sorted list.
type hitsSearcher struct {
	docs []uint64
	next int
}

var reflectStaticSizeHits = int(reflect.TypeOf(hitsSearcher{}).Size())

// Next returns the next document of the list.
func (s *hitsSearcher) Next(ctx *bsearch.SearchContext) (*bsearch.DocumentMatch, error) {
	if s.next >= len(s.docs) {
		return nil, nil
	}
	d := ctx.DocumentMatchPool.Get()
	d.IndexInternalID = index.NewIndexInternalID(d.IndexInternalID, s.docs[s.next])
	s.next++
	return d, nil
}

// Advance returns the first document of the list at or after id.
func (s *hitsSearcher) Advance(ctx *bsearch.SearchContext, id index.IndexInternalID) (*bsearch.DocumentMatch, error) {
	target := id.Value()
	rest := s.docs[s.next:]
	s.next += sort.Search(len(rest), func(i int) bool { return rest[i] >= target })
	return s.Next(ctx)
}

func (s *hitsSearcher) Close() error               { return nil }
func (s *hitsSearcher) Weight() float64            { return 1 }
func (s *hitsSearcher) SetQueryNorm(float64)       {}
func (s *hitsSearcher) Count() uint64              { return uint64(len(s.docs)) }
func (s *hitsSearcher) Min() int                   { return 0 }
func (s *hitsSearcher) Size() int                  { return reflectStaticSizeHits + 8*cap(s.docs) }
func (s *hitsSearcher) DocumentMatchPoolSize() int { return 1 }
