package search

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Sort orders of a listing. Relevance is the default when there is text
// to search for, newest otherwise.
const (
	SortRelevance = "relevance"
	SortNewest    = "newest"
	SortPriceAsc  = "price_asc"
	SortPriceDesc = "price_desc"
	SortTitle     = "title"
)

// Limits of a listing request.
const (
	DefaultPageSize = 24
	MaxPageSize     = 100
	// MaxQueryLen is the longest q, in characters: longer than any
	// product title (200), short enough that no query costs much.
	MaxQueryLen = 200
	// MaxWords is how many words of q are searched for.
	MaxWords = 10
	// MaxAttributeFilters is how many attributes one listing may filter on.
	MaxAttributeFilters = 30
)

// Query is a listing request: text, filters, an order, and where to
// continue.
type Query struct {
	Text       string   // q, trimmed
	Words      []string // q's words, lower-case, in order, each once
	Category   string
	Seller     string
	MinPrice   *int64
	MaxPrice   *int64
	Attributes []AttributeFilter
	Sort       string
	After      *Cursor
	Limit      int
}

// AttributeFilter keeps products whose attribute Name equals Equals (or
// Text, the value as sent, since "2024" may be stored as a string), and for
// numbers lies within [Min, Max]: the products service's rules.
type AttributeFilter struct {
	Name   string
	Equals any
	Text   string
	Min    *float64
	Max    *float64
}

// Cursor is the sort key of the last product of a page; the next page
// continues strictly after it (keyset pagination).
type Cursor struct {
	Sort  string `json:"s"`
	Key   any    `json:"k"` // created_at (unix micros), price, lower-case title, or score
	ID    string `json:"i"`
	Query string `json:"q"` // fingerprint of the filters, so a cursor is not reused elsewhere
}

var (
	errBadCursor    = errs.New(errs.Invalid, "invalid_cursor", "the cursor is not one this listing returned")
	attrNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	sorts           = []string{SortRelevance, SortNewest, SortPriceAsc, SortPriceDesc, SortTitle}
)

// ParseQuery reads a listing's URL parameters: q, category, seller,
// min_price, max_price, sort, cursor, limit, and attr.<name>=<value>,
// attr.<name>.min=<n>, attr.<name>.max=<n>. Anything else, or anything
// given twice, is refused.
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
	parseText(&q, v.Get("q"), fields)
	parseSort(&q, fields)
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
	rest, ok := strings.CutPrefix(name, "attr.")
	return ok && attrNamePattern.MatchString(strings.TrimSuffix(strings.TrimSuffix(rest, ".min"), ".max"))
}

func parseText(q *Query, s string, fields map[string]string) {
	q.Text = strings.TrimSpace(s)
	switch {
	case !utf8.ValidString(q.Text):
		fields["q"] = "must be valid UTF-8"
	case utf8.RuneCountInString(q.Text) > MaxQueryLen:
		fields["q"] = fmt.Sprintf("must be at most %d characters", MaxQueryLen)
	default:
		q.Words = Words(q.Text)
		if len(q.Words) > MaxWords {
			fields["q"] = fmt.Sprintf("may have at most %d words", MaxWords)
		}
	}
}

func parseSort(q *Query, fields map[string]string) {
	if q.Sort == "" {
		q.Sort = SortNewest
		if len(q.Words) > 0 {
			q.Sort = SortRelevance
		}
	}
	switch {
	case !slices.Contains(sorts, q.Sort):
		fields["sort"] = "must be relevance, newest, price_asc, price_desc or title"
	case q.Sort == SortRelevance && len(q.Words) == 0:
		fields["sort"] = "relevance needs words to search for in q"
	}
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
	get := func(name string) *AttributeFilter {
		if byName[name] == nil {
			byName[name] = &AttributeFilter{Name: name}
		}
		return byName[name]
	}
	for param := range v {
		rest, ok := strings.CutPrefix(param, "attr.")
		if !ok || !knownParam(param) {
			continue
		}
		val := v.Get(param)
		if base, bound, isRange := cutBound(rest); isRange {
			n, err := strconv.ParseFloat(val, 64)
			if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
				fields[param] = "must be a number"
				continue
			}
			if bound == "min" {
				get(base).Min = &n
			} else {
				get(base).Max = &n
			}
			continue
		}
		if val == "" || utf8.RuneCountInString(val) > 200 {
			fields[param] = "must have 1 to 200 characters"
			continue
		}
		f := get(rest)
		f.Equals, f.Text = attributeValue(val), val
	}
	if len(byName) > MaxAttributeFilters {
		fields["attr"] = fmt.Sprintf("at most %d attribute filters", MaxAttributeFilters)
	}
	out := make([]AttributeFilter, 0, len(byName))
	for _, f := range byName {
		out = append(out, *f)
	}
	slices.SortFunc(out, func(a, b AttributeFilter) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// cutBound splits "wattage.min" into "wattage" and "min".
func cutBound(s string) (name, bound string, ok bool) {
	for _, b := range []string{"min", "max"} {
		if n, found := strings.CutSuffix(s, "."+b); found {
			return n, b, true
		}
	}
	return s, "", false
}

// attributeValue reads a filter value as the type it most likely has:
// numbers and booleans as such, anything else as a string.
func attributeValue(s string) any {
	if s == "true" || s == "false" {
		return s == "true"
	}
	if n, err := strconv.ParseFloat(s, 64); err == nil && !math.IsNaN(n) && !math.IsInf(n, 0) {
		return n
	}
	return s
}

// Words splits text into lower-case words, in order, each once. Anything
// but a letter or digit separates words, so query-syntax characters such
// as + - " * : ( ) ~ are never more than separators.
func Words(text string) []string {
	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	})
	out := words[:0]
	for _, w := range words {
		if !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

// fingerprint identifies the filters and order of q, not the page.
func (q Query) fingerprint() string {
	c := q
	c.After, c.Limit, c.Text = nil, 0, ""
	b, _ := json.Marshal(c)
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// encodeCursor returns the cursor continuing after hit in q's order.
func encodeCursor(q Query, hit Hit) string {
	p := hit.Product
	c := Cursor{Sort: q.Sort, ID: p.ID, Query: q.fingerprint()}
	switch q.Sort {
	case SortRelevance:
		c.Key = hit.Score
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
	if err := json.Unmarshal(b, &c); err != nil || c.ID == "" || len(c.ID) > 64 || c.Sort != q.Sort || c.Query != q.fingerprint() {
		return Cursor{}, errBadCursor
	}
	switch k := c.Key.(type) {
	case float64:
		switch {
		case q.Sort == SortRelevance:
		case q.Sort == SortTitle || k != math.Trunc(k) || math.Abs(k) > 1<<53:
			return Cursor{}, errBadCursor
		default:
			c.Key = int64(k)
		}
	case string:
		if q.Sort != SortTitle {
			return Cursor{}, errBadCursor
		}
	default:
		return Cursor{}, errBadCursor
	}
	return c, nil
}
