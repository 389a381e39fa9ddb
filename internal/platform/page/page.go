// Package page is the pagination kit of every list endpoint: the page size
// (one default, one cap), opaque keyset cursors (one codec), the page a
// list answers with, and the one invalid_cursor error.
//
// A list reads limit+1 items after the cursor's position and hands them to
// Of, which keeps limit and, when the extra one shows that more follow,
// makes the cursor of the last item shown. A cursor is the sort key of that
// item, so items added meanwhile are neither skipped nor repeated. Each
// list declares its key as a small struct with JSON tags; Encode and Decode
// are the only way a key becomes a cursor and back.
//
// Why one default for every list: a page size is a cost the server chooses
// for clients that did not; several defaults were three answers to one
// question. Clients that want another size send limit.
package page

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Page sizes of every list.
const (
	// DefaultLimit is the page size when a request names none.
	DefaultLimit = 20
	// MaxLimit caps what a request may ask for: a page is read in one query
	// and sent in one answer.
	MaxLimit = 100
)

// maxCursor caps a decoded cursor: keys are a few fields, and a longer
// cursor is not one Encode made.
const maxCursor = 1024

// ErrInvalidCursor answers a cursor that no list of this API handed out,
// or one handed out for another list or other filters.
var ErrInvalidCursor = errs.New(errs.Invalid, "invalid_cursor", "the cursor is not one this list returned")

// LimitProblem says what a page size must be, as validation errors name
// it under "limit".
var LimitProblem = fmt.Sprintf("must be an integer from 1 to %d", MaxLimit)

var errLimit = errs.Validation(map[string]string{"limit": LimitProblem})

// Limit reads a requested page size: empty means DefaultLimit; anything
// but an integer from 1 to MaxLimit is a validation error naming limit.
func Limit(s string) (int, error) {
	if s == "" {
		return DefaultLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || !ValidLimit(n) {
		return 0, errLimit
	}
	return n, nil
}

// ValidLimit says whether n is a page size that lists serve.
func ValidLimit(n int) bool { return n >= 1 && n <= MaxLimit }

// Encode returns the opaque cursor of key, the sort key of a page's last
// item: its JSON in unpadded base64url, safe in a query string.
func Encode(key any) string {
	b, err := json.Marshal(key)
	if err != nil {
		// Keys are structs of plain fields, which always marshal.
		panic(fmt.Sprintf("page: cursor key %T does not marshal: %v", key, err))
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor made by Encode into key, a pointer to the list's
// key struct. Anything Encode could not have made from that struct (not
// base64url, not one JSON value, an unknown field, too long) is
// ErrInvalidCursor; the caller then checks the fields' values and answers
// ErrInvalidCursor for those it would not have made either.
func Decode(cursor string, key any) error {
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || len(b) > maxCursor {
		return ErrInvalidCursor
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(key); err != nil {
		return ErrInvalidCursor
	}
	if err := dec.Decode(&json.RawMessage{}); !errors.Is(err, io.EOF) {
		return ErrInvalidCursor // more than one value
	}
	return nil
}

// Page is one page of a list and the cursor of the next, as lists answer.
type Page[T any] struct {
	Items []T `json:"items"`
	// Next is the cursor of the next page; empty on the last page.
	Next string `json:"next_cursor,omitempty"`
}

// Of makes a page from items read with limit+1 (see Fetch): the first
// limit of them and, when the extra one shows that more follow, the cursor
// of the last one kept, made from its sort key. Items is never nil, so a
// list answers [] rather than null.
func Of[T any](items []T, limit int, key func(T) any) Page[T] {
	p := Page[T]{Items: items}
	if len(items) > limit {
		p.Items = items[:limit]
		p.Next = Encode(key(items[limit-1]))
	}
	if p.Items == nil {
		p.Items = []T{}
	}
	return p
}

// Fetch is how many items to read for a page of limit: one more, so Of
// can tell whether another page follows without a page that comes back
// empty.
func Fetch(limit int) int { return limit + 1 }
