package searchindex

import (
	"context"
	"math"
	"reflect"

	"github.com/blevesearch/bleve/v2/mapping"
	bsearch "github.com/blevesearch/bleve/v2/search"
	"github.com/blevesearch/bleve/v2/search/query"
	"github.com/blevesearch/bleve/v2/search/searcher"
	index "github.com/blevesearch/bleve_index_api"
)

// filteredQuery is a Boolean query of one must clause and a non-scoring
// filter that finds the same documents with the same scores as Bleve's
// (BooleanQuery with Must and Filter), but cheaper when the filter is
// selective.
//
// Bleve walks every document the must clause matches, scores it, and only
// then asks the filter: a search for "lamp" in one category with one
// colour scored every lamp of the catalog (at 100,000 products most of the
// query's time). Here the two leapfrog instead: each side skips ahead to
// the other's next document, so the text is read and scored only where
// the filter lets it match. The must side is wrapped in the same Boolean
// searcher's query norm, so its scores are Bleve's.
type filteredQuery struct {
	must   query.Query
	filter query.Query
}

var _ query.Query = (*filteredQuery)(nil)

// Searcher implements query.Query.
func (q *filteredQuery) Searcher(ctx context.Context, i index.IndexReader, m mapping.IndexMapping,
	options bsearch.SearcherOptions) (bsearch.Searcher, error) {
	must, err := q.must.Searcher(ctx, i, m, options)
	if err != nil {
		return nil, err
	}
	if _, none := must.(*searcher.MatchNoneSearcher); none {
		return must, nil
	}
	if options.Score == "none" {
		// Nothing to score, so nothing to leapfrog for: Bleve's
		// conjunction intersects the two sides' postings bitmaps at once
		// where both are plain (its "unadorned" optimization), rather
		// than stepping through them document by document.
		filter, err := q.filter.Searcher(ctx, i, m, options)
		if err != nil {
			_ = must.Close()
			return nil, err
		}
		return searcher.NewConjunctionSearcher(ctx, i, []bsearch.Searcher{must, filter}, options)
	}
	// The query norm Bleve's Boolean searcher would give its must clause,
	// so that the scores are the same as through it. (The Boolean
	// searcher itself is not used: it reads one match ahead, a whole
	// text search step wasted each time the filter skips past it.)
	scored := must
	scored.SetQueryNorm(1 / math.Sqrt(must.Weight()))
	// As Bleve does for a filter: no scores, term vectors or explanations.
	filter, err := q.filter.Searcher(ctx, i, m, bsearch.SearcherOptions{Score: "none"})
	if err != nil {
		_ = scored.Close()
		return nil, err
	}
	return &leapfrogSearcher{scored: scored, filter: filter}, nil
}

// leapfrogSearcher returns the documents of scored that filter matches
// too, with scored's scores.
type leapfrogSearcher struct {
	scored, filter bsearch.Searcher
	done           bool
}

var reflectStaticSizeLeapfrog = int(reflect.TypeOf(leapfrogSearcher{}).Size())

// Next returns the next document both sides match. Each side only ever
// moves forward past what it returned, as Bleve's searchers require.
func (s *leapfrogSearcher) Next(ctx *bsearch.SearchContext) (*bsearch.DocumentMatch, error) {
	if s.done {
		return nil, nil
	}
	f, err := s.filter.Next(ctx)
	if err != nil || f == nil {
		s.done = true
		return nil, err
	}
	return s.from(ctx, f)
}

// Advance returns the first document at or after id that both sides
// match.
func (s *leapfrogSearcher) Advance(ctx *bsearch.SearchContext, id index.IndexInternalID) (*bsearch.DocumentMatch, error) {
	if s.done {
		return nil, nil
	}
	f, err := s.filter.Advance(ctx, id)
	if err != nil || f == nil {
		s.done = true
		return nil, err
	}
	return s.from(ctx, f)
}

// from leapfrogs from f, the filter's current document.
func (s *leapfrogSearcher) from(ctx *bsearch.SearchContext, f *bsearch.DocumentMatch) (*bsearch.DocumentMatch, error) {
	for {
		d, err := s.scored.Advance(ctx, f.IndexInternalID)
		if err != nil || d == nil {
			ctx.DocumentMatchPool.Put(f)
			s.done = true
			return nil, err
		}
		if d.IndexInternalID.Equals(f.IndexInternalID) {
			ctx.DocumentMatchPool.Put(f)
			return d, nil
		}
		// The text matches later than the filter: move the filter there.
		ctx.DocumentMatchPool.Put(f)
		if f, err = s.filter.Advance(ctx, d.IndexInternalID); err != nil || f == nil {
			ctx.DocumentMatchPool.Put(d)
			s.done = true
			return nil, err
		}
		if d.IndexInternalID.Equals(f.IndexInternalID) {
			ctx.DocumentMatchPool.Put(f)
			return d, nil
		}
		ctx.DocumentMatchPool.Put(d)
	}
}

func (s *leapfrogSearcher) Close() error {
	err := s.scored.Close()
	if ferr := s.filter.Close(); err == nil {
		err = ferr
	}
	return err
}

func (s *leapfrogSearcher) Weight() float64        { return s.scored.Weight() }
func (s *leapfrogSearcher) SetQueryNorm(n float64) { s.scored.SetQueryNorm(n) }
func (s *leapfrogSearcher) Count() uint64          { return s.scored.Count() }
func (s *leapfrogSearcher) Min() int               { return s.scored.Min() }
func (s *leapfrogSearcher) Size() int {
	return reflectStaticSizeLeapfrog + s.scored.Size() + s.filter.Size()
}
func (s *leapfrogSearcher) DocumentMatchPoolSize() int {
	return s.scored.DocumentMatchPoolSize() + s.filter.DocumentMatchPoolSize() + 1
}
