package products

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Sort orders of a listing.
const (
	SortNewest    = "newest"
	SortPriceAsc  = "price_asc"
	SortPriceDesc = "price_desc"
	SortTitle     = "title"
)

// Page sizes of a listing.
const (
	DefaultPageSize = 24
	MaxPageSize     = 100
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
	After      *Cursor
	Limit      int
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

// Cursor is the sort key of the last product of a page. Keyset pagination
// continues strictly after it, so products added meanwhile are neither
// skipped nor repeated.
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

// ListPage is one page of a listing.
type ListPage struct {
	Items  []Product `json:"items"`
	Next   string    `json:"next_cursor,omitempty"`
	Facets Facets    `json:"facets"`
}

var errBadCursor = errs.New(errs.Invalid, "invalid_cursor", "the cursor is not one this listing returned")

// ParseQuery reads a listing's URL parameters: category, seller, min_price,
// max_price, q, sort, cursor, limit, and attr.<name>=<value>,
// attr.<name>.min=<n>, attr.<name>.max=<n>.
func ParseQuery(v url.Values) (Query, error) {
	q := Query{Category: v.Get("category"), Seller: v.Get("seller"), Sort: v.Get("sort"), Limit: DefaultPageSize}
	fields := map[string]string{}
	for name, vals := range v {
		if !knownParam(name) {
			fields[name] = "is not a filter of this listing"
		} else if len(vals) > 1 {
			fields[name] = "may be given once"
		}
	}
	q.MinPrice = parseAmount(v, "min_price", fields)
	q.MaxPrice = parseAmount(v, "max_price", fields)
	q.Words = titleWords(v.Get("q"))
	if len(q.Words) > 10 {
		fields["q"] = "may have at most 10 words"
	}
	if q.Sort == "" {
		q.Sort = SortNewest
	}
	if !slices.Contains([]string{SortNewest, SortPriceAsc, SortPriceDesc, SortTitle}, q.Sort) {
		fields["sort"] = "must be newest, price_asc, price_desc or title"
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > MaxPageSize {
			fields["limit"] = fmt.Sprintf("must be an integer from 1 to %d", MaxPageSize)
		}
		q.Limit = n
	}
	q.Attributes = parseAttributeFilters(v, fields)
	if len(fields) > 0 {
		return Query{}, errs.Validation(fields)
	}
	if c := v.Get("cursor"); c != "" {
		cur, err := decodeCursor(c, q)
		if err != nil {
			return Query{}, err
		}
		q.After = &cur
	}
	return q, nil
}

func knownParam(name string) bool {
	switch name {
	case "category", "seller", "min_price", "max_price", "q", "sort", "cursor", "limit":
		return true
	}
	return strings.HasPrefix(name, "attr.") && validAttrName(strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(name, "attr."), ".min"), ".max"))
}

func parseAmount(v url.Values, name string, fields map[string]string) *int64 {
	s := v.Get(name)
	if s == "" {
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		fields[name] = "must be a non-negative integer amount in minor units"
		return nil
	}
	return &n
}

func parseAttributeFilters(v url.Values, fields map[string]string) []AttributeFilter {
	byName := map[string]*AttributeFilter{}
	var names []string
	get := func(name string) *AttributeFilter {
		if f, ok := byName[name]; ok {
			return f
		}
		byName[name] = &AttributeFilter{Name: name}
		names = append(names, name)
		return byName[name]
	}
	for param := range v {
		rest, ok := strings.CutPrefix(param, "attr.")
		if !ok {
			continue
		}
		val := v.Get(param)
		switch {
		case strings.HasSuffix(rest, ".min") || strings.HasSuffix(rest, ".max"):
			n, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				fields[param] = "must be a number"
				continue
			}
			f := get(rest[:len(rest)-4])
			if strings.HasSuffix(rest, ".min") {
				f.Min = &n
			} else {
				f.Max = &n
			}
		default:
			f := get(rest)
			f.Equals, f.Text = attributeValue(val), val
		}
	}
	if len(names) > MaxAttributes {
		fields["attr"] = fmt.Sprintf("at most %d attribute filters", MaxAttributes)
	}
	slices.Sort(names)
	out := make([]AttributeFilter, 0, len(names))
	for _, n := range names {
		out = append(out, *byName[n])
	}
	return out
}

// attributeValue reads a filter value as the type it most likely has:
// numbers and booleans as such, anything else as a string.
func attributeValue(s string) any {
	if b, err := strconv.ParseBool(s); err == nil && (s == "true" || s == "false") {
		return b
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
		return n
	}
	return s
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

// EncodeCursor returns the cursor continuing after p in q's order.
func EncodeCursor(q Query, p Product) string {
	c := Cursor{Sort: q.Sort, ID: p.ID, Query: q.fingerprint()}
	switch q.Sort {
	case SortPriceAsc, SortPriceDesc:
		c.Key = p.Price.Amount
	case SortTitle:
		c.Key = strings.ToLower(p.Title)
	default:
		c.Key = p.CreatedAt.UnixMicro()
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string, q Query) (Cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 1024 {
		return Cursor{}, errBadCursor
	}
	var c Cursor
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || c.Sort != q.Sort || c.Query != q.fingerprint() {
		return Cursor{}, errBadCursor
	}
	switch k := c.Key.(type) {
	case float64:
		if q.Sort == SortTitle || k != math.Trunc(k) {
			return Cursor{}, errBadCursor
		}
		c.Key = int64(k)
	case string:
		if q.Sort != SortTitle {
			return Cursor{}, errBadCursor
		}
	default:
		return Cursor{}, errBadCursor
	}
	return c, nil
}
