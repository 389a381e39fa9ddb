package search

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
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
	// MaxQueryLen is the longest q, in characters: longer than any
	// product title (200), short enough that no query costs much.
	MaxQueryLen = 200
	// MaxWords is how many words q may have.
	MaxWords = 10
	// MaxAttributeFilters is how many attributes one listing may filter on.
	MaxAttributeFilters = 30
	// MaxAttributeValueLen is the longest value an attribute filter takes,
	// the longest a product's attribute may have.
	MaxAttributeValueLen = 200
)

// Query is a listing request: text, filters, an order, and where to
// continue.
type Query struct {
	Text       string   // q as sent
	Words      []string // q's words, lower-case, in order, each once; set by prepare
	Category   string
	Seller     string
	MinPrice   *int64
	MaxPrice   *int64
	Attributes []AttributeFilter
	Sort       string // empty: relevance when there are words, else newest
	Cursor     string // as sent; prepare reads it into After
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
	attrNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,39}$`)
	sorts           = []string{SortRelevance, SortNewest, SortPriceAsc, SortPriceDesc, SortTitle}
)

// ValidAttributeName reports whether s can name a product attribute.
func ValidAttributeName(s string) bool { return attrNamePattern.MatchString(s) }

// prepare checks q against the rules of a listing, naming each problem by
// its query parameter, splits its text into words, chooses the default
// order, and reads its cursor.
func (q *Query) prepare() error {
	fields := map[string]string{}
	q.Text = strings.TrimSpace(q.Text)
	switch {
	case !utf8.ValidString(q.Text):
		fields["q"] = "must be valid UTF-8"
	case utf8.RuneCountInString(q.Text) > MaxQueryLen:
		fields["q"] = fmt.Sprintf("must be at most %d characters", MaxQueryLen)
	default:
		if q.Words = Words(q.Text); len(q.Words) > MaxWords {
			fields["q"] = fmt.Sprintf("may have at most %d words", MaxWords)
		}
	}
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
	q.checkAttributes(fields)
	if !page.ValidLimit(q.Limit) {
		fields["limit"] = page.LimitProblem
	}
	if len(fields) > 0 {
		return errs.Validation(fields)
	}
	return q.readCursor()
}

func (q *Query) checkAttributes(fields map[string]string) {
	if len(q.Attributes) > MaxAttributeFilters {
		fields["attr"] = fmt.Sprintf("at most %d attribute filters", MaxAttributeFilters)
	}
	for _, a := range q.Attributes {
		switch {
		case !ValidAttributeName(a.Name):
			fields["attr."+a.Name] = "is not a filter of this listing"
		case a.Equals != nil && (a.Text == "" || utf8.RuneCountInString(a.Text) > MaxAttributeValueLen):
			fields["attr."+a.Name] = fmt.Sprintf("must have 1 to %d characters", MaxAttributeValueLen)
		}
	}
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
	c.After, c.Cursor, c.Limit, c.Text = nil, "", 0, ""
	b, _ := json.Marshal(c)
	h := fnv.New64a()
	h.Write(b)
	return strconv.FormatUint(h.Sum64(), 36)
}

// cursorAt returns the cursor continuing after hit in q's order.
func (q Query) cursorAt(hit Hit) string {
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
	return page.Encode(c)
}

// readCursor reads q.Cursor into q.After. A cursor is good only for the
// query it was made for: the same filters and order, with a key of the
// order's type.
func (q *Query) readCursor() error {
	if q.Cursor == "" {
		return nil
	}
	var c Cursor
	if err := page.Decode(q.Cursor, &c); err != nil {
		return err
	}
	if c.ID == "" || len(c.ID) > 64 || c.Sort != q.Sort || c.Query != q.fingerprint() {
		return page.ErrInvalidCursor
	}
	switch k := c.Key.(type) {
	case float64:
		switch {
		case q.Sort == SortRelevance:
		case q.Sort == SortTitle || k != math.Trunc(k) || math.Abs(k) > 1<<53:
			return page.ErrInvalidCursor
		default:
			c.Key = int64(k)
		}
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
