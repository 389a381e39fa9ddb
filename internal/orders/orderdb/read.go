package orderdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/orders"
)

const orderColumns = `id, buyer_id, status, currency, total, version, reserved_until, created_at, updated_at`

func scanOrder(row pgx.Row, o *orders.Order) error {
	err := row.Scan(&o.ID, &o.BuyerID, &o.Status, &o.Total.Currency, &o.Total.Amount, &o.Version, &o.ReservedUntil, &o.CreatedAt, &o.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return orders.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("scan order: %w", err)
	}
	return nil
}

const subOrderColumns = `s.id, s.order_id, s.seller_id, s.status, s.subtotal, o.currency, coalesce(s.tracking_number, ''), s.created_at, s.updated_at`

func scanSubOrder(row pgx.Row) (orders.SubOrder, error) {
	var s orders.SubOrder
	err := row.Scan(&s.ID, &s.OrderID, &s.SellerID, &s.Status, &s.Subtotal.Amount, &s.Subtotal.Currency, &s.TrackingNumber, &s.CreatedAt, &s.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, orders.ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("scan sub-order: %w", err)
	}
	s.Lines = []orders.Line{}
	return s, nil
}

// loadOrder reads an order's header (locking it when lock is set), its
// sub-orders and their lines.
func loadOrder(ctx context.Context, q querier, id string, lock bool) (orders.Order, error) {
	sql := `SELECT ` + orderColumns + ` FROM orders WHERE id = $1`
	if lock {
		sql += ` FOR UPDATE`
	}
	var o orders.Order
	if err := scanOrder(q.QueryRow(ctx, sql, id), &o); err != nil {
		return o, err
	}
	subs, err := subOrders(ctx, q, `s.order_id = ANY($1::uuid[]) ORDER BY s.seller_id`, []string{id})
	if err != nil {
		return o, err
	}
	o.SubOrders = subs
	return o, nil
}

// subOrders reads the sub-orders a condition selects, with their lines.
func subOrders(ctx context.Context, q querier, where string, args ...any) ([]orders.SubOrder, error) {
	rows, err := q.Query(ctx, `SELECT `+subOrderColumns+` FROM sub_orders s JOIN orders o ON o.id = s.order_id WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("select sub-orders: %w", err)
	}
	defer rows.Close()
	subs := []orders.SubOrder{}
	index := map[string]int{}
	for rows.Next() {
		s, err := scanSubOrder(rows)
		if err != nil {
			return nil, err
		}
		index[s.ID] = len(subs)
		subs = append(subs, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select sub-orders: %w", err)
	}
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.ID
	}
	lines, err := q.Query(ctx, `SELECT l.sub_order_id, l.product_id, l.title, l.unit_price, o.currency, l.quantity
		FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE l.sub_order_id = ANY($1::uuid[]) ORDER BY l.product_id`, ids)
	if err != nil {
		return nil, fmt.Errorf("select lines: %w", err)
	}
	defer lines.Close()
	for lines.Next() {
		var subID string
		var l orders.Line
		if err := lines.Scan(&subID, &l.ProductID, &l.Title, &l.UnitPrice.Amount, &l.UnitPrice.Currency, &l.Quantity); err != nil {
			return nil, fmt.Errorf("scan line: %w", err)
		}
		s := &subs[index[subID]]
		s.Lines = append(s.Lines, l)
	}
	return subs, lines.Err()
}

func history(ctx context.Context, q querier, where string, arg string) ([]orders.Change, error) {
	rows, err := q.Query(ctx, `SELECT coalesce(sub_order_id::text, ''), coalesce(from_status, ''), to_status, actor, reason, at
		FROM order_history WHERE `+where+` ORDER BY id`, arg)
	if err != nil {
		return nil, fmt.Errorf("select history: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (orders.Change, error) {
		var c orders.Change
		err := r.Scan(&c.SubOrderID, &c.From, &c.To, &c.Actor, &c.Reason, &c.At)
		return c, err
	})
}

// Order returns an order with everything about it.
func (s *Store) Order(ctx context.Context, id string) (orders.Order, error) {
	o, err := loadOrder(ctx, s.pool, id, false)
	if err != nil {
		return o, err
	}
	if o.History, err = history(ctx, s.pool, `order_id = $1`, id); err != nil {
		return o, err
	}
	p, err := scanPayment(s.pool.QueryRow(ctx, `SELECT `+paymentColumns+` FROM payments WHERE order_id = $1`, id))
	switch {
	case err == nil:
		o.Payment = &p
	case !errors.Is(err, orders.ErrNotFound):
		return o, err
	}
	return o, nil
}

// SubOrder returns a sub-order with its lines and history.
func (s *Store) SubOrder(ctx context.Context, id string) (orders.SubOrder, error) {
	subs, err := subOrders(ctx, s.pool, `s.id = $1`, id)
	if err != nil {
		return orders.SubOrder{}, err
	}
	if len(subs) == 0 {
		return orders.SubOrder{}, orders.ErrNotFound
	}
	sub := subs[0]
	sub.History, err = history(ctx, s.pool, `sub_order_id = $1`, id)
	return sub, err
}

// Orders lists orders newest first with their sub-orders.
func (s *Store) Orders(ctx context.Context, f orders.OrderFilter) ([]orders.Order, error) {
	where, args := page(f, "buyer_id", "")
	rows, err := s.pool.Query(ctx, `SELECT `+orderColumns+` FROM orders WHERE `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("select orders: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orders.Order, error) {
		var o orders.Order
		err := scanOrder(r, &o)
		return o, err
	})
	if err != nil || len(list) == 0 {
		return list, err
	}
	ids := make([]string, len(list))
	index := map[string]int{}
	for i, o := range list {
		ids[i], index[o.ID] = o.ID, i
		list[i].SubOrders = []orders.SubOrder{}
	}
	subs, err := subOrders(ctx, s.pool, `s.order_id = ANY($1::uuid[]) ORDER BY s.seller_id`, ids)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		o := &list[index[sub.OrderID]]
		o.SubOrders = append(o.SubOrders, sub)
	}
	return list, nil
}

// SubOrders lists sub-orders newest first with their lines.
func (s *Store) SubOrders(ctx context.Context, f orders.OrderFilter) ([]orders.SubOrder, error) {
	where, args := page(f, "s.seller_id", "s.")
	return subOrders(ctx, s.pool, where, args...)
}

// page builds the keyset condition of a list: newest first, ties broken
// by id, so that pages neither skip nor repeat rows.
func page(f orders.OrderFilter, owner, prefix string) (string, []any) {
	where := "true"
	var args []any
	if f.UserID != "" {
		args = append(args, f.UserID)
		where += fmt.Sprintf(" AND %s = $%d", owner, len(args))
	}
	if f.After != nil {
		args = append(args, f.After.CreatedAt, f.After.ID)
		where += fmt.Sprintf(" AND (%screated_at, %sid) < ($%d, $%d)", prefix, prefix, len(args)-1, len(args))
	}
	args = append(args, f.Limit)
	return fmt.Sprintf("%s ORDER BY %screated_at DESC, %sid DESC LIMIT $%d", where, prefix, prefix, len(args)), args
}
