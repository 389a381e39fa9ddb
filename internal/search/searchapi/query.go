package searchapi

import (
	"maps"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
	"github.com/marketplace-go/marketplace/internal/platform/page"
	"github.com/marketplace-go/marketplace/internal/search"
)

// parseQuery reads a listing's URL parameters: q, category, seller,
// min_price, max_price, sort, cursor, limit, and attr.<name>=<value>,
// attr.<name>.min=<n>, attr.<name>.max=<n>: the products service's
// listing parameters. It checks what only the query string can get wrong
// (unknown or repeated parameters, numbers that are not numbers); the
// listing's own rules are the service's to check.
func parseQuery(v url.Values) (search.Query, error) {
	q := search.Query{Text: v.Get("q"), Category: v.Get("category"), Seller: v.Get("seller"), Sort: v.Get("sort"), Cursor: v.Get("cursor")}
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
	limit, err := page.Limit(v.Get("limit"))
	if e, ok := errs.As(err); ok {
		maps.Copy(fields, e.Fields)
	}
	q.Limit = limit
	q.Attributes = parseAttributeFilters(v, fields)
	if len(fields) > 0 {
		return search.Query{}, errs.Validation(fields)
	}
	return q, nil
}

func knownParam(name string) bool {
	switch name {
	case "category", "seller", "min_price", "max_price", "q", "sort", "cursor", "limit":
		return true
	}
	return strings.HasPrefix(name, "attr.")
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

// parseAttributeFilters reads the attr.* parameters, one filter per
// attribute name, in name order.
func parseAttributeFilters(v url.Values, fields map[string]string) []search.AttributeFilter {
	byName := map[string]*search.AttributeFilter{}
	get := func(name string) *search.AttributeFilter {
		if byName[name] == nil {
			byName[name] = &search.AttributeFilter{Name: name}
		}
		return byName[name]
	}
	for param := range v {
		rest, ok := strings.CutPrefix(param, "attr.")
		if !ok {
			continue
		}
		val := v.Get(param)
		name, bound, ranged := strings.Cut(rest, ".")
		if !ranged || bound != "min" && bound != "max" {
			f := get(rest)
			f.Equals, f.Text = attributeValue(val), val
			continue
		}
		n, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(n) || math.IsInf(n, 0) {
			fields[param] = "must be a number"
			continue
		}
		if f := get(name); bound == "min" {
			f.Min = &n
		} else {
			f.Max = &n
		}
	}
	out := make([]search.AttributeFilter, 0, len(byName))
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		out = append(out, *byName[name])
	}
	return out
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
