package productindex

import (
	"cmp"
	"fmt"
	"reflect"

	"github.com/marketplace-go/marketplace/internal/products"
)

// matchesAttribute applies one attribute filter to a product's value v with
// MongoDB's rules, which the store's query follows: a missing value matches
// nothing; an array matches when an element does, each condition on its
// own; numbers compare as numbers whatever their type; ranges compare only
// numbers. The conditions are the store's: equality with Equals (or with
// Text, the value as sent, when Equals was read as a number or boolean),
// and the bounds.
func matchesAttribute(v any, a products.AttributeFilter) bool {
	if v == nil {
		return false
	}
	if a.Equals != nil {
		candidates := []any{a.Equals}
		if _, isString := a.Equals.(string); !isString && a.Text != "" {
			candidates = append(candidates, a.Text)
		}
		if !anyElement(v, func(x any) bool {
			for _, c := range candidates {
				if equalValues(x, c) {
					return true
				}
			}
			return false
		}) {
			return false
		}
	}
	if a.Min != nil && !anyElement(v, func(x any) bool { n, ok := number(x); return ok && n >= *a.Min }) {
		return false
	}
	if a.Max != nil && !anyElement(v, func(x any) bool { n, ok := number(x); return ok && n <= *a.Max }) {
		return false
	}
	return true
}

// anyElement reports whether v, or an element of v if it is an array,
// satisfies ok.
func anyElement(v any, ok func(any) bool) bool {
	if ok(v) {
		return true
	}
	for _, x := range elements(v) {
		if ok(x) {
			return true
		}
	}
	return false
}

// elements returns the elements of an array value (from JSON or BSON), or
// nil for any other value.
func elements(v any) []any {
	r := reflect.ValueOf(v)
	if r.Kind() != reflect.Slice || r.Type().Elem().Kind() == reflect.Uint8 {
		return nil
	}
	out := make([]any, r.Len())
	for i := range out {
		out[i] = r.Index(i).Interface()
	}
	return out
}

func equalValues(a, b any) bool { return compareValues(a, b) == 0 }

// compareValues orders values as BSON does across types (numbers, then
// strings, then documents, then arrays, then booleans), and within a type
// by value.
func compareValues(a, b any) int {
	if c := cmp.Compare(typeRank(a), typeRank(b)); c != 0 {
		return c
	}
	switch x := a.(type) {
	case string:
		return cmp.Compare(x, b.(string))
	case bool:
		return cmp.Compare(boolRank(x), boolRank(b.(bool)))
	}
	if n, ok := number(a); ok {
		m, _ := number(b)
		return cmp.Compare(n, m)
	}
	if ea, eb := elements(a), elements(b); ea != nil || eb != nil {
		for i := range min(len(ea), len(eb)) {
			if c := compareValues(ea[i], eb[i]); c != 0 {
				return c
			}
		}
		return cmp.Compare(len(ea), len(eb))
	}
	return cmp.Compare(fmt.Sprint(a), fmt.Sprint(b)) // documents: rare in facets, any stable order will do
}

func typeRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case string:
		return 2
	case bool:
		return 5
	}
	if _, ok := number(v); ok {
		return 1
	}
	if elements(v) != nil {
		return 4
	}
	return 3
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// number returns v as a float64 if it is a number of any Go type a JSON or
// BSON decoder produces.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}
