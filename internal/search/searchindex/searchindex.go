// Package searchindex is the search service's embedded engine: a Bleve v2
// index on local disk (scorch segments), which implements search.Engine.
//
// What it does for the listing that a plain database query could not:
// English stemming ("lamps" finds "lamp"), typo tolerance (one edit for
// words of 5+ letters, two for 9+), the last word taken as a prefix
// (search as you type), relevance ranking (BM25), and disjunctive facets.
// Every query is built from typed query objects, never from Bleve's query
// string syntax, so characters such as + - " * : ~ in a shopper's text are
// only text.
//
// Each product is one document keyed by its id, of any status (a seller
// lists their own drafts from here too); its JSON is stored beside the
// indexed fields, so a result page needs no other read. The version of
// every product indexed is kept in memory as well, so that a write of a
// version the index has already seen (a redelivered or late event) is
// dropped before it costs a disk write.
package searchindex

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/blevesearch/bleve/v2"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	"github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	"github.com/blevesearch/bleve/v2/analysis/lang/en"
	"github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	"github.com/blevesearch/bleve/v2/analysis/tokenizer/unicode"
	"github.com/blevesearch/bleve/v2/index/scorch"
	"github.com/blevesearch/bleve/v2/index/scorch/mergeplan"
	"github.com/blevesearch/bleve/v2/mapping"
	index "github.com/blevesearch/bleve_index_api"

	"github.com/marketplace-go/marketplace/internal/search"
)

// Index is a Bleve index of the catalog.
type Index struct {
	idx bleve.Index
	// mu serialises writes, so that the version check and the write it
	// allows are one step; searches do not take it.
	mu         sync.Mutex
	statsMu    sync.RWMutex
	versions   map[string]int64
	versionSum int64
	// shops is every seller's shop the index knows, kept in the index
	// too (under shopsKey) so that it outlives a restart.
	shops      map[string]search.Shop
	attributes map[string]bool
	// columns are the facet fields' doc values of the live segments,
	// decoded for counting facets.
	columns *columns
	// automata builds the typo allowance's automata (typo.go).
	automata *automata
	// bleveFilters makes searches filter as Bleve's BooleanQuery does
	// and count facets with Bleve's facet builders (the reference the
	// tests compare filteredQuery and facetCounter with).
	bleveFilters bool
}

var _ search.Engine = (*Index)(nil)

// rawAnalyzer splits text into lower-case words and keeps them as they
// are: the field typo tolerance and prefixes compare with.
const rawAnalyzer = "raw"

// Open opens the index in dir, creating it if dir holds none.
func Open(dir string) (*Index, error) {
	var (
		idx bleve.Index
		err error
	)
	if _, statErr := os.Stat(filepath.Join(dir, "index_meta.json")); statErr == nil {
		idx, err = bleve.Open(dir)
	} else {
		if err = os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return nil, fmt.Errorf("searchindex: %w", err)
		}
		idx, err = bleve.New(dir, newMapping())
	}
	if err != nil {
		return nil, fmt.Errorf("searchindex: open %s: %w", dir, err)
	}
	x := &Index{idx: idx, versions: map[string]int64{}, attributes: map[string]bool{}, shops: map[string]search.Shop{}, columns: newColumns()}
	if x.automata, err = newAutomata(); err != nil {
		_ = idx.Close()
		return nil, err
	}
	if err := x.load(); err != nil {
		_ = idx.Close()
		return nil, err
	}
	return x, nil
}

// newMapping describes the fields of a product document.
func newMapping() mapping.IndexMapping {
	im := bleve.NewIndexMapping()
	im.ScoringModel = index.BM25Scoring
	im.StoreDynamic = false
	im.DocValuesDynamic = true
	if err := im.AddCustomAnalyzer(rawAnalyzer, map[string]any{
		"type": custom.Name, "tokenizer": unicode.Name, "token_filters": []any{lowercase.Name},
	}); err != nil {
		panic(err) // a constant definition: cannot fail
	}
	doc := bleve.NewDocumentStaticMapping()
	doc.AddFieldMappingsAt("title", textField(en.AnalyzerName))
	doc.AddFieldMappingsAt("title_raw", textField(rawAnalyzer))
	doc.AddFieldMappingsAt("text", textField(en.AnalyzerName))
	doc.AddFieldMappingsAt("text_raw", textField(rawAnalyzer))
	doc.AddFieldMappingsAt(titleSortField, keywordField(true))
	for _, f := range []string{"category", "seller", "status"} {
		doc.AddFieldMappingsAt(f, keywordField(false))
	}
	doc.AddFieldMappingsAt("price", numericField(true, false))
	doc.AddFieldMappingsAt(createdField, numericField(true, false))
	doc.AddFieldMappingsAt("version", numericField(false, true))
	doc.AddFieldMappingsAt("attr_names", storedField())
	doc.AddFieldMappingsAt("src", storedField())
	// Attributes are free-form: attr.<name>.f holds each value as a typed
	// term ("s:red", "n:40", "b:true") for equality and facets, and
	// attr.<name>.n each number for ranges.
	attrs := bleve.NewDocumentMapping()
	attrs.DefaultAnalyzer = keyword.Name
	doc.AddSubDocumentMapping("attr", attrs)
	im.DefaultMapping = doc
	im.DefaultAnalyzer = keyword.Name
	return im
}

func textField(analyzer string) *mapping.FieldMapping {
	f := bleve.NewTextFieldMapping()
	f.Analyzer, f.Store, f.IncludeInAll, f.IncludeTermVectors, f.DocValues = analyzer, false, false, false, false
	return f
}

func keywordField(docValues bool) *mapping.FieldMapping {
	f := bleve.NewKeywordFieldMapping()
	f.Store, f.IncludeInAll, f.IncludeTermVectors, f.DocValues = false, false, false, docValues
	return f
}

func numericField(docValues, store bool) *mapping.FieldMapping {
	f := bleve.NewNumericFieldMapping()
	f.Store, f.IncludeInAll, f.DocValues = store, false, docValues
	return f
}

func storedField() *mapping.FieldMapping {
	f := bleve.NewTextFieldMapping()
	f.Analyzer, f.Index, f.Store, f.IncludeInAll, f.IncludeTermVectors, f.DocValues = keyword.Name, false, true, false, false, false
	return f
}

// shopsKey is the key of the shops in the index's internal store: one
// value holds them all, as Bleve cannot list its internal keys, and they
// are few beside the products.
const shopsKey = "shops"

// load reads the shops, and the version and attribute names of every
// product indexed.
func (x *Index) load() error {
	b, err := x.idx.GetInternal([]byte(shopsKey))
	if err != nil {
		return fmt.Errorf("searchindex: load shops: %w", err)
	}
	if b != nil {
		if err := json.Unmarshal(b, &x.shops); err != nil {
			return fmt.Errorf("searchindex: load shops: %w", err)
		}
	}
	const page = 5000
	var after []string
	for {
		req := bleve.NewSearchRequestOptions(bleve.NewMatchAllQuery(), page, 0, false)
		req.Fields = []string{"version", "attr_names"}
		req.SortBy([]string{"_id"})
		req.Score = "none"
		if after != nil {
			req.SearchAfter = after
		}
		res, err := x.idx.Search(req)
		if err != nil {
			return fmt.Errorf("searchindex: load versions: %w", err)
		}
		for _, h := range res.Hits {
			v, _ := h.Fields["version"].(float64)
			x.versions[h.ID] = int64(v)
			x.versionSum += int64(v)
			names, _ := h.Fields["attr_names"].(string)
			for _, n := range strings.Fields(names) {
				x.attributes[n] = true
			}
		}
		if len(res.Hits) < page {
			return nil
		}
		after = []string{res.Hits[len(res.Hits)-1].ID}
	}
}

// Apply indexes docs, each unless the index holds the same or a newer
// version of its product (of two in docs for one product, the newer).
// It returns once the batch is on disk.
func (x *Index) Apply(ctx context.Context, docs []search.Doc) ([]search.Doc, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	newest := map[string]int{}
	for i, d := range docs {
		if j, ok := newest[d.ID]; ok && docs[j].Version >= d.Version {
			continue
		}
		if v, ok := x.currentVersion(d.ID); ok && v >= d.Version {
			continue
		}
		newest[d.ID] = i
	}
	if len(newest) == 0 {
		return nil, nil
	}
	b := x.idx.NewBatch()
	applied := make([]search.Doc, 0, len(newest))
	for _, i := range slices.Sorted(maps.Values(newest)) {
		body, err := document(docs[i], x.shopName(docs[i].SellerID))
		if err != nil {
			return nil, err
		}
		if err := b.Index(docs[i].ID, body); err != nil {
			return nil, fmt.Errorf("searchindex: index %s: %w", docs[i].ID, err)
		}
		applied = append(applied, docs[i])
	}
	// A search may see the batch as soon as it is written, and a filter
	// on an attribute the index does not know is refused: the names are
	// known first. If the write fails they stay known, and a filter on
	// them finds nothing until the retry writes the products.
	x.knowAttributes(applied)
	if err := x.idx.Batch(b); err != nil {
		return nil, fmt.Errorf("searchindex: write %d products: %w", len(applied), err)
	}
	x.remember(applied)
	return applied, nil
}

func (x *Index) knowAttributes(docs []search.Doc) {
	x.statsMu.Lock()
	defer x.statsMu.Unlock()
	for _, d := range docs {
		for name := range d.Attributes {
			x.attributes[name] = true
		}
	}
}

func (x *Index) currentVersion(id string) (int64, bool) {
	x.statsMu.RLock()
	defer x.statsMu.RUnlock()
	v, ok := x.versions[id]
	return v, ok
}

func (x *Index) remember(docs []search.Doc) {
	x.statsMu.Lock()
	defer x.statsMu.Unlock()
	for _, d := range docs {
		x.versionSum += d.Version - x.versions[d.ID]
		x.versions[d.ID] = d.Version
	}
}

// Stats describe what the index holds. Attributes is a copy.
func (x *Index) Stats() search.Stats {
	x.statsMu.RLock()
	defer x.statsMu.RUnlock()
	return search.Stats{Products: int64(len(x.versions)), VersionSum: x.versionSum, Attributes: maps.Clone(x.attributes),
		Segments: x.segments()}
}

// segments is how many segments the index's current snapshot holds, on
// disk and in memory; 0 if it cannot tell.
func (x *Index) segments() int {
	adv, err := x.idx.Advanced()
	if err != nil {
		return 0
	}
	r, err := adv.Reader()
	if err != nil {
		return 0
	}
	defer r.Close()
	snap, ok := r.(*scorch.IndexSnapshot)
	if !ok {
		return 0
	}
	return len(snap.Segments())
}

// Compact merges the index's segments into one (Bleve's force merge).
// Bleve's own merges keep up to ten segments per size tier, so a bulk load
// of 100,000 products left 12, and each search looks its terms up, runs
// its typo automata and iterates its postings once per segment; merged,
// searches took about a third less time (bench/results/search.md).
func (x *Index) Compact(ctx context.Context) error {
	adv, err := x.idx.Advanced()
	if err != nil {
		return fmt.Errorf("searchindex: compact: %w", err)
	}
	s, ok := adv.(*scorch.Scorch)
	if !ok {
		return nil
	}
	if err := s.ForceMerge(ctx, compactPlan()); err != nil {
		return fmt.Errorf("searchindex: compact: %w", err)
	}
	return nil
}

// compactPlan is Bleve's single-segment merge plan with two changes.
// That plan merges ten segments per task, which left a 100,000-product
// index of 12 in 2: here one task takes them all. And its planner weighs
// each roster of segments it could merge, gently favouring smaller merges;
// when one segment holds most of the index, the roster of all the others
// wins, and the plan leaves that segment beside their merge. A catch-up
// of 1,000 products in pages of 10 could end in 2 segments that way when
// Bleve's own merges had first gathered most of them into one. Here the
// roster of the most segments wins.
func compactPlan() *mergeplan.MergePlanOptions {
	opts := mergeplan.SingleSegmentMergePlanOptions
	opts.SegmentsPerMergeTask = math.MaxInt32
	opts.ScoreSegments = func(segs []mergeplan.Segment, _ *mergeplan.MergePlanOptions) float64 {
		return 1 / float64(len(segs)) // lower is better
	}
	return &opts
}

// Version is the version of product id the index holds, if any.
func (x *Index) Version(id string) (int64, bool) { return x.currentVersion(id) }

// Close closes the index.
func (x *Index) Close() error { return x.idx.Close() }

// document is the Bleve document of d, sold by the shop named shop. The
// shop's name is searched as the description is; it is not part of the
// product the listings answer with.
func document(d search.Doc, shop string) (map[string]any, error) {
	p := d.Product
	src, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("searchindex: encode %s: %w", p.ID, err)
	}
	text := []string{p.Description}
	if shop != "" {
		text = append(text, shop)
	}
	text = append(text, d.CategoryWords...)
	attrs := map[string]any{}
	names := make([]string, 0, len(p.Attributes))
	for name, v := range p.Attributes {
		names = append(names, name)
		terms, numbers := attributeTerms(v)
		a := map[string]any{"f": terms}
		if len(numbers) > 0 {
			a["n"] = numbers
		}
		attrs[name] = a
		for _, t := range terms {
			if s, ok := strings.CutPrefix(t, "s:"); ok {
				text = append(text, s)
			}
		}
	}
	slices.Sort(names)
	joined := strings.Join(text, " \n ")
	return map[string]any{
		"title": p.Title, "title_raw": p.Title, titleSortField: strings.ToLower(p.Title),
		"text": joined, "text_raw": joined,
		"category": p.Category, "seller": p.SellerID, "status": p.Status,
		"price": float64(p.Price.Amount), createdField: float64(p.CreatedAt.UnixMicro()), "version": float64(p.Version),
		"attr": attrs, "attr_names": strings.Join(names, " "), "src": string(src),
	}, nil
}

// attributeTerms returns the typed terms of an attribute value (of each
// element, for an array) and its numbers.
func attributeTerms(v any) ([]string, []float64) {
	var terms []string
	var numbers []float64
	values := []any{v}
	if list, ok := v.([]any); ok {
		values = list
	}
	for _, x := range values {
		if t, ok := typedTerm(x); ok {
			terms = append(terms, t)
		}
		if n, ok := x.(float64); ok {
			numbers = append(numbers, n)
		}
	}
	return terms, numbers
}

// typedTerm encodes a scalar value as a term that keeps its type, so that
// the string "40" and the number 40 stay apart, as they do in the
// products service's store.
func typedTerm(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return "s:" + x, true
	case float64:
		return "n:" + strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return "b:" + strconv.FormatBool(x), true
	}
	return "", false
}

// valueOfTerm decodes a typed term.
func valueOfTerm(t string) (any, error) {
	kind, rest, ok := strings.Cut(t, ":")
	if !ok {
		return nil, errors.New("searchindex: untyped facet term " + t)
	}
	switch kind {
	case "s":
		return rest, nil
	case "n":
		return strconv.ParseFloat(rest, 64)
	case "b":
		return rest == "true", nil
	}
	return nil, errors.New("searchindex: unknown facet term " + t)
}
