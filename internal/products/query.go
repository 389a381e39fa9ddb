package products

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// Sort orders of a listing.
const (
	SortNewest    = "newest"
	SortPriceAsc  = "price_asc"
	SortPriceDesc = "price_desc"
	SortTitle     = "title"
)

// Query is a listing request: filters, an order, and where to continue.
type Query struct {
	Categories []string // the category asked for and all its descendants
	Category   string
	Seller     string
	MinPrice   *int64
	MaxPrice   *int64
	Words      []string // lower-cased title words, all of which must match
	Attributes []AttributeFilter
	Statuses   []string // filled by the service from the caller's rights
	Sort       string
	// Cursor is the cursor as the caller sent it; List reads it into After,
	// checking that it was made for this query. Not part of the
	// fingerprint, like After.
	Cursor string `json:"-"`
	After  *Cursor
	Limit  int
}

// AttributeFilter keeps products whose attribute Name equals Equals (or
// Text, the value as sent, since "2024" may be stored as a string), and for
// numbers lies within [Min, Max].
type AttributeFilter struct {
	Name   string
	Equals any
	Text   string
	Min    *float64
	Max    *float64
}

// Cursor is the sort key of the last product of a page, the key of the
// listing's cursors (see package page). Keyset pagination continues
// strictly after it, so products added meanwhile are neither skipped nor
// repeated.
type Cursor struct {
	Sort  string `json:"s"`
	Key   any    `json:"k"` // created_at (unix micros), price or title of the last item
	ID    string `json:"i"`
	Query string `json:"q"` // fingerprint of the filters, so a cursor is not reused elsewhere
}

// Facets are the counts shown beside a result page.
type Facets struct {
	Attributes map[string][]FacetValue `json:"attributes"`
	Prices     []PriceBucket           `json:"prices"`
}

// FacetValue is one value of an attribute and how many products have it.
type FacetValue struct {
	Value any   `json:"value"`
	Count int64 `json:"count"`
}

// PriceBucket counts products whose price lies in [Min, Max) (Max 0: no
// upper bound), in minor units.
type PriceBucket struct {
	Min   int64 `json:"min"`
	Max   int64 `json:"max,omitempty"`
	Count int64 `json:"count"`
}

// PriceBucketEdges are the lower bounds of the price buckets, in minor units.
var PriceBucketEdges = []int64{0, 1000, 2500, 5000, 10000, 25000, 50000}

// PriceBuckets returns the price buckets with their counts, count(i) being
// the count of the i-th.
func PriceBuckets(count func(i int) int64) []PriceBucket {
	out := make([]PriceBucket, len(PriceBucketEdges))
	for i, lo := range PriceBucketEdges {
		out[i] = PriceBucket{Min: lo, Count: count(i)}
		if i+1 < len(PriceBucketEdges) {
			out[i].Max = PriceBucketEdges[i+1]
		}
	}
	return out
}

// BucketOf returns the index of the price bucket of amount.
func BucketOf(amount int64) int {
	i, found := slices.BinarySearch(PriceBucketEdges, amount)
	if found {
		return i
	}
	return i - 1
}

// ListPage is one page of a listing, with the facet counts of the whole
// result.
type ListPage struct {
	page.Page[Product]
	Facets Facets `json:"facets"`
}

// Rules of a listing query.
const (
	// MaxSearchWords caps the words of a title search.
	MaxSearchWords = 10
)

// Sorts are the orders a listing may be sorted in.
var Sorts = []string{SortNewest, SortPriceAsc, SortPriceDesc, SortTitle}

// Validate checks q against the rules of a listing, naming each problem by
// its query parameter. An empty sort is the newest first.
func (q Query) Validate() error {
	fields := map[string]string{}
	if q.Sort != "" && !slices.Contains(Sorts, q.Sort) {
		fields["sort"] = "must be " + strings.Join(Sorts[:len(Sorts)-1], ", ") + " or " + Sorts[len(Sorts)-1]
	}
	if len(q.Words) > MaxSearchWords {
		fields["q"] = fmt.Sprintf("may have at most %d words", MaxSearchWords)
	}
	if len(q.Attributes) > MaxAttributes {
		fields["attr"] = fmt.Sprintf("at most %d attribute filters", MaxAttributes)
	}
	for _, a := range q.Attributes {
		if !validAttrName(a.Name) {
			fields["attr."+a.Name] = "is not a filter of this listing"
		}
	}
	if !page.ValidLimit(q.Limit) {
		fields["limit"] = page.LimitProblem
	}
	if len(fields) > 0 {
		return errs.Validation(fields)
	}
	return nil
}

// titleWords splits a title or search text into lower-case words.
func titleWords(s string) []string {
	words := strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r > 127)
	})
	slices.Sort(words)
	return slices.Compact(words)
}

// TitleWords is titleWords for stores, which index the words of titles.
func TitleWords(title string) []string { return titleWords(title) }

// fingerprint identifies the filters and order of q, not the page.
func (q Query) fingerprint() string {
	c := q
	c.After, c.Limit, c.Statuses, c.Categories = nil, 0, nil, nil
	b, _ := json.Marshal(c)
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// cursorAt returns the cursor key continuing after p in q's order.
func (q Query) cursorAt(p Product) Cursor {
	c := Cursor{Sort: q.Sort, ID: p.ID, Query: q.fingerprint()}
	switch q.Sort {
	case SortPriceAsc, SortPriceDesc:
		c.Key = p.Price.Amount
	case SortTitle:
		c.Key = strings.ToLower(p.Title)
	default:
		c.Key = p.CreatedAt.UnixMicro()
	}
	return c
}

// readCursor reads q.Cursor into q.After. A cursor is good only for the
// query it was made for: the same filters and sort, with a key of the
// sort's type.
func (q *Query) readCursor() error {
	if q.Cursor == "" {
		return nil
	}
	var c Cursor
	if err := page.Decode(q.Cursor, &c); err != nil {
		return err
	}
	if c.ID == "" || c.Sort != q.Sort || c.Query != q.fingerprint() {
		return page.ErrInvalidCursor
	}
	switch k := c.Key.(type) {
	case float64:
		if q.Sort == SortTitle || k != math.Trunc(k) {
			return page.ErrInvalidCursor
		}
		c.Key = int64(k)
	case string:
		if q.Sort != SortTitle {
			return page.ErrInvalidCursor
		}
	default:
		return page.ErrInvalidCursor
	}
	q.After = &c
	return nil
}
