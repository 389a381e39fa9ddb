package productapi

import (
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
	"github.com/marketplace-go/marketplace/internal/products"
)

func ptr[T any](v T) *T { return &v }

func TestParseQueryReadsEveryParameter(t *testing.T) {
	const def = page.DefaultLimit
	type filter = products.AttributeFilter
	tests := []struct {
		name  string
		query string
		want  products.Query
	}{
		{"no parameters give the default order and page", "", products.Query{Limit: def}},
		{"category and seller are taken as given", "category=lamps&seller=s-1", products.Query{Category: "lamps", Seller: "s-1", Limit: def}},
		{"prices are integer minor units", "min_price=0&max_price=2500", products.Query{MinPrice: ptr[int64](0), MaxPrice: ptr[int64](2500), Limit: def}},
		{"the sort is taken as given", "sort=price_desc", products.Query{Sort: products.SortPriceDesc, Limit: def}},
		{"the cursor is taken as sent, for the service to read", "cursor=abc", products.Query{Cursor: "abc", Limit: def}},
		{"the smallest page", "limit=1", products.Query{Limit: 1}},
		{"the largest page", "limit=100", products.Query{Limit: page.MaxLimit}},
		{"search words are lower-cased, split on punctuation, sorted and unique", "q=Red++desk,LAMP+red", products.Query{Words: []string{"desk", "lamp", "red"}, Limit: def}},
		{"search words keep letters beyond ASCII", "q=Café+Lämpchen", products.Query{Words: []string{"café", "lämpchen"}, Limit: def}},
		{"search of only punctuation has no words", "q=,,,", products.Query{Limit: def}},
		{"attribute values take the type they look like", "attr.size=M&attr.watts=40&attr.dimmable=true&attr.ratio=0.5&attr.exp=1e3",
			products.Query{Limit: def, Attributes: []filter{
				{Name: "dimmable", Equals: true, Text: "true"},
				{Name: "exp", Equals: 1000.0, Text: "1e3"},
				{Name: "ratio", Equals: 0.5, Text: "0.5"},
				{Name: "size", Equals: "M", Text: "M"},
				{Name: "watts", Equals: 40.0, Text: "40"},
			}}},
		{"only lower-case true and false are booleans", "attr.a=TRUE&attr.b=1&attr.c=t", products.Query{Limit: def, Attributes: []filter{
			{Name: "a", Equals: "TRUE", Text: "TRUE"}, {Name: "b", Equals: 1.0, Text: "1"}, {Name: "c", Equals: "t", Text: "t"},
		}}},
		{"NaN and infinity are strings, not numbers", "attr.a=NaN&attr.b=Inf", products.Query{Limit: def, Attributes: []filter{
			{Name: "a", Equals: "NaN", Text: "NaN"}, {Name: "b", Equals: "Inf", Text: "Inf"},
		}}},
		{"number ranges and equality on one attribute combine", "attr.watts.min=10&attr.watts.max=60.5&attr.watts=40", products.Query{Limit: def, Attributes: []filter{
			{Name: "watts", Equals: 40.0, Text: "40", Min: ptr(10.0), Max: ptr(60.5)},
		}}},
		{"a nested path is an attribute name, for the service to refuse", "attr.a.b=1", products.Query{Limit: def, Attributes: []filter{
			{Name: "a.b", Equals: 1.0, Text: "1"},
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := parseQuery(v)
			if err != nil {
				t.Fatalf("parseQuery(%s): %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("parseQuery(%s) (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func TestParseQueryRefusesWhatTheQueryStringGetsWrong(t *testing.T) {
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
		{"a range bound that is not a number", "attr.watts.min=low", "attr.watts.min"},
		{"an infinite range bound", "attr.watts.max=Inf", "attr.watts.max"},
		{"a NaN range bound", "attr.watts.max=NaN", "attr.watts.max"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			_, err = parseQuery(v)
			e, ok := errs.As(err)
			if !ok || e.Code != "validation_failed" || e.Fields[tt.field] == "" {
				t.Fatalf("parseQuery(%s) = %v, want validation_failed naming %q", tt.query, err, tt.field)
			}
		})
	}
}
