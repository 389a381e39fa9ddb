package products

import (
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

func ptr[T any](v T) *T { return &v }

func TestValidateRefusesQueriesAgainstTheListingRules(t *testing.T) {
	filters := func(n int) []AttributeFilter {
		out := make([]AttributeFilter, n)
		for i := range out {
			out[i] = AttributeFilter{Name: "a" + strconv.Itoa(i), Equals: "x", Text: "x"}
		}
		return out
	}
	ok := Query{Sort: SortNewest, Limit: 1}
	tests := []struct {
		name   string
		change func(q *Query)
		field  string // "" for a query that keeps the rules
	}{
		{"the smallest page keeps the rules", func(q *Query) {}, ""},
		{"the largest page keeps the rules", func(q *Query) { q.Limit = 100 }, ""},
		{"an empty sort is the default", func(q *Query) { q.Sort = "" }, ""},
		{"ten search words keep the rules", func(q *Query) { q.Words = strings.Fields("a b c d e f g h i j") }, ""},
		{"thirty attribute filters keep the rules", func(q *Query) { q.Attributes = filters(30) }, ""},
		{"an unknown sort", func(q *Query) { q.Sort = "popular" }, "sort"},
		{"eleven search words", func(q *Query) { q.Words = strings.Fields("a b c d e f g h i j k") }, "q"},
		{"more than 30 attribute filters", func(q *Query) { q.Attributes = filters(31) }, "attr"},
		{"an upper-case attribute name", func(q *Query) { q.Attributes = []AttributeFilter{{Name: "Size"}} }, "attr.Size"},
		{"an attribute name with an operator", func(q *Query) { q.Attributes = []AttributeFilter{{Name: "$where"}} }, "attr.$where"},
		{"an empty attribute name", func(q *Query) { q.Attributes = []AttributeFilter{{Name: ""}} }, "attr."},
		{"a nested attribute path", func(q *Query) { q.Attributes = []AttributeFilter{{Name: "a.b"}} }, "attr.a.b"},
		{"a page of zero", func(q *Query) { q.Limit = 0 }, "limit"},
		{"a page over the cap", func(q *Query) { q.Limit = 101 }, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := ok
			tt.change(&q)
			err := q.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if e, isErr := errs.As(err); !isErr || e.Code != "validation_failed" || e.Fields[tt.field] == "" {
				t.Fatalf("Validate() = %v, want validation_failed naming %q", err, tt.field)
			}
		})
	}
}

// lampQuery is a listing query with every kind of filter.
func lampQuery(sort string) Query {
	return Query{Sort: sort, Category: "lamps", Words: []string{"desk"}, Limit: 3,
		Attributes: []AttributeFilter{{Name: "watts", Min: ptr(10.0)}}}
}

func TestCursorsRoundTripInEveryOrder(t *testing.T) {
	created := time.Date(2025, 3, 4, 5, 6, 7, 123_000_000, time.UTC)
	p := Product{ID: "0195-id", Title: "Desk LAMP", Price: Money{Amount: 1999, Currency: "EUR"}, CreatedAt: created}
	tests := []struct {
		sort string
		key  any
	}{
		{SortNewest, created.UnixMicro()},
		{SortPriceAsc, int64(1999)},
		{SortPriceDesc, int64(1999)},
		{SortTitle, "desk lamp"},
	}
	for _, tt := range tests {
		t.Run(tt.sort, func(t *testing.T) {
			q := lampQuery(tt.sort)
			q.Categories, q.Statuses = []string{"lamps", "desk-lamps"}, []string{StatusActive} // not part of the fingerprint
			next := lampQuery(tt.sort)
			next.Limit, next.Cursor = 50, page.Encode(q.cursorAt(p))
			if err := next.readCursor(); err != nil {
				t.Fatalf("reading its own cursor: %v", err)
			}
			want := &Cursor{Sort: tt.sort, Key: tt.key, ID: p.ID, Query: q.fingerprint()}
			if diff := cmp.Diff(want, next.After); diff != "" {
				t.Errorf("cursor (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCursorsAreBoundToTheirQuery(t *testing.T) {
	p := Product{ID: "0195-id", Title: "Lamp", Price: Money{Amount: 500, Currency: "EUR"}, CreatedAt: time.Now()}
	base := Query{Sort: SortPriceAsc, Category: "lamps", Limit: 3}
	cursor := page.Encode(base.cursorAt(p))
	tests := []struct {
		name   string
		change func(q *Query)
	}{
		{"another sort", func(q *Query) { q.Sort = SortPriceDesc }},
		{"another category", func(q *Query) { q.Category = "rugs" }},
		{"a seller added", func(q *Query) { q.Seller = "s-1" }},
		{"a price bound added", func(q *Query) { q.MinPrice = ptr[int64](0) }},
		{"an attribute added", func(q *Query) { q.Attributes = []AttributeFilter{{Name: "colour", Equals: "red", Text: "red"}} }},
		{"a search added", func(q *Query) { q.Words = []string{"lamp"} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := base
			q.Cursor = cursor
			tt.change(&q)
			if err := q.readCursor(); !errs.Is(err, "invalid_cursor") {
				t.Errorf("cursor reused with %s: %v, want invalid_cursor", tt.name, err)
			}
		})
	}
}

func TestBucketOfPutsEachEdgeInTheBucketItStarts(t *testing.T) {
	tests := []struct {
		amount int64
		want   int
	}{
		{0, 0}, {1, 0}, {999, 0},
		{1000, 1}, {2499, 1},
		{2500, 2}, {4999, 2},
		{5000, 3}, {9999, 3},
		{10000, 4}, {24999, 4},
		{25000, 5}, {49999, 5},
		{50000, 6}, {MaxPrice, 6}, {math.MaxInt64, 6},
	}
	for _, tt := range tests {
		if got := BucketOf(tt.amount); got != tt.want {
			t.Errorf("BucketOf(%d) = %d, want %d", tt.amount, got, tt.want)
		}
	}
	if !slices.IsSorted(PriceBucketEdges) || PriceBucketEdges[0] != 0 {
		t.Errorf("PriceBucketEdges %v must rise from 0", PriceBucketEdges)
	}
}

func TestTitleWordsAreTheLowerCaseWordsOfATitle(t *testing.T) {
	tests := []struct {
		title string
		want  []string
	}{
		{"Desk Lamp", []string{"desk", "lamp"}},
		{"LED-Lamp, 40W (warm)", []string{"40w", "lamp", "led", "warm"}},
		{"lamp Lamp LAMP", []string{"lamp"}},
		{"Crème brûlée torch", []string{"brûlée", "crème", "torch"}},
		{"  ", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, TitleWords(tt.title), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("TitleWords(%q) (-want +got):\n%s", tt.title, diff)
		}
	}
}
