package products

import (
	"math"
	"net/url"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

func ptr[T any](v T) *T { return &v }

func TestParseQueryReadsEveryParameter(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  Query
	}{
		{"no parameters give the newest first, a default page", "", Query{Sort: SortNewest, Limit: DefaultPageSize}},
		{"category and seller are taken as given", "category=lamps&seller=s-1", Query{Category: "lamps", Seller: "s-1", Sort: SortNewest, Limit: DefaultPageSize}},
		{"prices are integer minor units", "min_price=0&max_price=2500", Query{MinPrice: ptr[int64](0), MaxPrice: ptr[int64](2500), Sort: SortNewest, Limit: DefaultPageSize}},
		{"every sort is known", "sort=price_desc", Query{Sort: SortPriceDesc, Limit: DefaultPageSize}},
		{"the smallest page", "limit=1", Query{Sort: SortNewest, Limit: 1}},
		{"the largest page", "limit=100", Query{Sort: SortNewest, Limit: MaxPageSize}},
		{"search words are lower-cased, split on punctuation, sorted and unique", "q=Red++desk,LAMP+red", Query{Words: []string{"desk", "lamp", "red"}, Sort: SortNewest, Limit: DefaultPageSize}},
		{"search words keep letters beyond ASCII", "q=Café+Lämpchen", Query{Words: []string{"café", "lämpchen"}, Sort: SortNewest, Limit: DefaultPageSize}},
		{"search of only punctuation has no words", "q=,,,", Query{Sort: SortNewest, Limit: DefaultPageSize}},
		{"attribute values take the type they look like", "attr.size=M&attr.watts=40&attr.dimmable=true&attr.ratio=0.5&attr.exp=1e3",
			Query{Sort: SortNewest, Limit: DefaultPageSize, Attributes: []AttributeFilter{
				{Name: "dimmable", Equals: true, Text: "true"},
				{Name: "exp", Equals: 1000.0, Text: "1e3"},
				{Name: "ratio", Equals: 0.5, Text: "0.5"},
				{Name: "size", Equals: "M", Text: "M"},
				{Name: "watts", Equals: 40.0, Text: "40"},
			}}},
		{"only lower-case true and false are booleans", "attr.a=TRUE&attr.b=1&attr.c=t", Query{Sort: SortNewest, Limit: DefaultPageSize, Attributes: []AttributeFilter{
			{Name: "a", Equals: "TRUE", Text: "TRUE"}, {Name: "b", Equals: 1.0, Text: "1"}, {Name: "c", Equals: "t", Text: "t"},
		}}},
		{"NaN and infinity are strings, not numbers", "attr.a=NaN&attr.b=Inf", Query{Sort: SortNewest, Limit: DefaultPageSize, Attributes: []AttributeFilter{
			{Name: "a", Equals: "NaN", Text: "NaN"}, {Name: "b", Equals: "Inf", Text: "Inf"},
		}}},
		{"number ranges and equality on one attribute combine", "attr.watts.min=10&attr.watts.max=60.5&attr.watts=40", Query{Sort: SortNewest, Limit: DefaultPageSize, Attributes: []AttributeFilter{
			{Name: "watts", Equals: 40.0, Text: "40", Min: ptr(10.0), Max: ptr(60.5)},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseQuery(v)
			if err != nil {
				t.Fatalf("ParseQuery(%s): %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ParseQuery(%s) (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func TestParseQueryRefusesBadParameters(t *testing.T) {
	tests := []struct {
		name  string
		query string
		field string
	}{
		{"an unknown parameter", "colour=red", "colour"},
		{"a parameter that differs only in case", "Category=lamps", "Category"},
		{"a parameter given twice", "sort=title&sort=title", "sort"},
		{"a negative minimum price", "min_price=-1", "min_price"},
		{"a fractional maximum price", "max_price=1.5", "max_price"},
		{"a price beyond int64", "max_price=99999999999999999999", "max_price"},
		{"a page of zero", "limit=0", "limit"},
		{"a negative page", "limit=-5", "limit"},
		{"a page over the cap", "limit=101", "limit"},
		{"a page that is not a number", "limit=many", "limit"},
		{"an unknown sort", "sort=popular", "sort"},
		{"eleven search words", "q=a+b+c+d+e+f+g+h+i+j+k", "q"},
		{"a range bound that is not a number", "attr.watts.min=low", "attr.watts.min"},
		{"an infinite range bound", "attr.watts.max=Inf", "attr.watts.max"},
		{"a NaN range bound", "attr.watts.max=NaN", "attr.watts.max"},
		{"an upper-case attribute name", "attr.Size=M", "attr.Size"},
		{"an attribute name with an operator", "attr.$where=1", "attr.$where"},
		{"a bare attr prefix", "attr.=1", "attr."},
		{"a nested attribute path", "attr.a.b=1", "attr.a.b"},
		{"more than 30 attribute filters", attrFilters(31), "attr"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseQuery(v)
			e, ok := errs.As(err)
			if !ok || e.Code != "validation_failed" || e.Fields[tt.field] == "" {
				t.Fatalf("ParseQuery(%s) = %v, want validation_failed naming %q", tt.query, err, tt.field)
			}
		})
	}
}

func attrFilters(n int) string {
	v := url.Values{}
	for i := range n {
		v.Set("attr.a"+strconv.Itoa(i), "x")
	}
	return v.Encode()
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
			v := url.Values{"sort": {tt.sort}, "category": {"lamps"}, "attr.watts.min": {"10"}, "q": {"desk"}}
			q, err := ParseQuery(v)
			if err != nil {
				t.Fatal(err)
			}
			q.Categories, q.Statuses, q.Limit = []string{"lamps", "desk-lamps"}, []string{StatusActive}, 3 // not part of the fingerprint
			v.Set("cursor", EncodeCursor(q, p))
			v.Set("limit", "50")
			next, err := ParseQuery(v)
			if err != nil {
				t.Fatalf("ParseQuery with its own cursor: %v", err)
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
	base := url.Values{"sort": {SortPriceAsc}, "category": {"lamps"}}
	q, err := ParseQuery(base)
	if err != nil {
		t.Fatal(err)
	}
	cursor := EncodeCursor(q, p)
	tests := []struct {
		name   string
		change url.Values
	}{
		{"another sort", url.Values{"sort": {SortPriceDesc}}},
		{"another category", url.Values{"category": {"rugs"}}},
		{"a seller added", url.Values{"seller": {"s-1"}}},
		{"a price bound added", url.Values{"min_price": {"0"}}},
		{"an attribute added", url.Values{"attr.colour": {"red"}}},
		{"a search added", url.Values{"q": {"lamp"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := url.Values{"cursor": {cursor}}
			for k, vals := range base {
				v[k] = vals
			}
			for k, vals := range tt.change {
				v[k] = vals
			}
			if _, err := ParseQuery(v); !errs.Is(err, "invalid_cursor") {
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
