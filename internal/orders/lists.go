package orders

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/page"
)

// Orders lists the caller's orders, or everyone's for an admin asking for
// all, one page at a time from cursor (empty: the first page).
func (s *Service) Orders(ctx context.Context, c auth.Claims, all bool, cursor string, limit int) (page.Page[Order], error) {
	f, err := listFilter(c, all, cursor, limit)
	if err != nil {
		return page.Page[Order]{}, err
	}
	list, err := s.store.Orders(ctx, f)
	if err != nil {
		return page.Page[Order]{}, fmt.Errorf("list orders: %w", err)
	}
	return page.Of(list, limit, func(o Order) any { return keyOf(o.CreatedAt, o.ID) }), nil
}

// SubOrders lists the sub-orders a seller has to fulfil, or everyone's for
// an admin asking for all, one page at a time from cursor.
func (s *Service) SubOrders(ctx context.Context, c auth.Claims, all bool, cursor string, limit int) (page.Page[SubOrder], error) {
	f, err := listFilter(c, all, cursor, limit)
	if err != nil {
		return page.Page[SubOrder]{}, err
	}
	list, err := s.store.SubOrders(ctx, f)
	if err != nil {
		return page.Page[SubOrder]{}, fmt.Errorf("list sub-orders: %w", err)
	}
	return page.Of(list, limit, func(sub SubOrder) any { return keyOf(sub.CreatedAt, sub.ID) }), nil
}

// listFilter is the store's filter for a page of the caller's list. A
// cursor is only a position: it shows each caller only what they may list.
func listFilter(c auth.Claims, all bool, cursor string, limit int) (OrderFilter, error) {
	after, err := readCursor(cursor)
	if err != nil {
		return OrderFilter{}, err
	}
	f := OrderFilter{UserID: c.UserID, After: after, Limit: page.Fetch(limit)}
	if all {
		if !c.HasRole(auth.RoleAdmin) {
			return OrderFilter{}, errAdminOnly
		}
		f.UserID = ""
	}
	return f, nil
}

// listKey is where a page of orders or sub-orders ends: they list newest
// first, by creation time and then id.
type listKey struct {
	At *int64 `json:"t"` // creation time in Unix microseconds, as stored
	ID string `json:"i"`
}

func keyOf(created time.Time, id string) listKey {
	at := created.UnixMicro()
	return listKey{At: &at, ID: id}
}

// maxCursorMicros is the year 9999 in Unix microseconds.
const maxCursorMicros = 253402300799999999

// readCursor reads a list cursor, nil for none. It takes only what keyOf
// makes, a time PostgreSQL can hold and an id in canonical form, so no
// other value reaches the database.
func readCursor(cursor string) (*Cursor, error) {
	if cursor == "" {
		return nil, nil
	}
	var k listKey
	if err := page.Decode(cursor, &k); err != nil {
		return nil, err
	}
	id, err := uuid.Parse(k.ID)
	if k.At == nil || *k.At < 0 || *k.At > maxCursorMicros || err != nil || id.String() != k.ID {
		return nil, page.ErrInvalidCursor
	}
	return &Cursor{CreatedAt: time.UnixMicro(*k.At).UTC(), ID: k.ID}, nil
}
