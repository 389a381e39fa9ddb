package orderdb

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
)

const orderColumns = `id, buyer_id, status, currency, total, version, reserved_until, created_at, updated_at, shipping_address_sealed`

func scanOrder(row pgx.Row, pii *fieldcrypt.Keyring, o *orders.Order) error {
	var address *string
	err := row.Scan(&o.ID, &o.BuyerID, &o.Status, &o.Total.Currency, &o.Total.Amount, &o.Version, &o.ReservedUntil, &o.CreatedAt, &o.UpdatedAt, &address)
	if errors.Is(err, pgx.ErrNoRows) {
		return orders.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("scan order: %w", err)
	}
	o.ShippingAddress, err = openAddress(pii, o.ID, address)
	return err
}

const subOrderColumns = `s.id, s.order_id, s.seller_id, s.status, s.subtotal, o.currency, coalesce(s.tracking_number, ''), s.created_at, s.updated_at`

func scanSubOrder(row pgx.Row, extra ...any) (orders.SubOrder, error) {
	var s orders.SubOrder
	err := row.Scan(append([]any{&s.ID, &s.OrderID, &s.SellerID, &s.Status, &s.Subtotal.Amount, &s.Subtotal.Currency, &s.TrackingNumber, &s.CreatedAt, &s.UpdatedAt}, extra...)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, orders.ErrNotFound
	}
	if err != nil {
		return s, fmt.Errorf("scan sub-order: %w", err)
	}
	s.Lines = []orders.Line{}
	return s, nil
}

// loadOrder reads an order (locking it when lock is set) with its
// sub-orders, lines and payment, and its history when full is set, in one
// round trip.
func loadOrder(ctx context.Context, q batcher, pii *fieldcrypt.Keyring, id string, lock, full bool) (orders.Order, error) {
	header := `SELECT ` + orderColumns + ` FROM orders WHERE id = $1`
	if lock {
		header += ` FOR UPDATE`
	}
	b := &pgx.Batch{}
	b.Queue(header, id)
	b.Queue(`SELECT `+subOrderColumns+` FROM sub_orders s JOIN orders o ON o.id = s.order_id WHERE s.order_id = $1 ORDER BY s.seller_id`, id)
	b.Queue(lineQuery+`l.order_id = $1 ORDER BY l.product_id`, id)
	b.Queue(`SELECT `+paymentColumns+` FROM payments WHERE order_id = $1`, id)
	if full {
		b.Queue(historyQuery+`order_id = $1 ORDER BY id`, id)
	}
	br := q.SendBatch(ctx, b)
	defer br.Close()
	var o orders.Order
	if err := scanOrder(br.QueryRow(), pii, &o); err != nil {
		return o, err
	}
	subs, err := collectSubOrders(br)
	if err != nil {
		return o, err
	}
	if err := attachLines(br, subs); err != nil {
		return o, err
	}
	o.SubOrders = subs
	switch p, err := scanPayment(br.QueryRow()); {
	case err == nil:
		o.Payment = &p
	case !errors.Is(err, orders.ErrNotFound):
		return o, err
	}
	if full {
		if o.History, err = collectHistory(br); err != nil {
			return o, err
		}
	}
	return o, br.Close()
}

// batcher sends a batch: a pool or a transaction.
type batcher interface {
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

const lineQuery = `SELECT l.sub_order_id, l.product_id, l.title, l.unit_price, o.currency, l.quantity
	FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE `

const historyQuery = `SELECT coalesce(sub_order_id::text, ''), coalesce(from_status, ''), to_status, actor, reason, at
	FROM order_history WHERE `

func collectSubOrders(br pgx.BatchResults) ([]orders.SubOrder, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("select sub-orders: %w", err)
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orders.SubOrder, error) { return scanSubOrder(r) })
	if subs == nil {
		subs = []orders.SubOrder{}
	}
	return subs, err
}

// collectSellerSubOrders reads sub-orders with their order's shipping
// address.
func collectSellerSubOrders(br pgx.BatchResults, pii *fieldcrypt.Keyring) ([]orders.SubOrder, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("select sub-orders: %w", err)
	}
	subs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (orders.SubOrder, error) {
		var address *string
		s, err := scanSubOrder(r, &address)
		if err != nil {
			return s, err
		}
		s.ShippingAddress, err = openAddress(pii, s.OrderID, address)
		return s, err
	})
	if subs == nil {
		subs = []orders.SubOrder{}
	}
	return subs, err
}

// attachLines reads lines and puts each in its sub-order.
func attachLines(br pgx.BatchResults, subs []orders.SubOrder) error {
	index := make(map[string]int, len(subs))
	for i, s := range subs {
		index[s.ID] = i
	}
	rows, err := br.Query()
	if err != nil {
		return fmt.Errorf("select lines: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var subID string
		var l orders.Line
		if err := rows.Scan(&subID, &l.ProductID, &l.Title, &l.UnitPrice.Amount, &l.UnitPrice.Currency, &l.Quantity); err != nil {
			return fmt.Errorf("scan line: %w", err)
		}
		if i, ok := index[subID]; ok {
			subs[i].Lines = append(subs[i].Lines, l)
		}
	}
	return rows.Err()
}

func collectHistory(br pgx.BatchResults) ([]orders.Change, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, fmt.Errorf("select history: %w", err)
	}
	return pgx.CollectRows(rows, scanChange)
}

func scanChange(r pgx.CollectableRow) (orders.Change, error) {
	var c orders.Change
	err := r.Scan(&c.SubOrderID, &c.From, &c.To, &c.Actor, &c.Reason, &c.At)
	return c, err
}

// subOrders reads the sub-orders a condition selects, with their lines
// and, for the seller who ships them, their order's shipping address, in
// one round trip.
func subOrders(ctx context.Context, q batcher, pii *fieldcrypt.Keyring, where string, args ...any) ([]orders.SubOrder, error) {
	b := &pgx.Batch{}
	b.Queue(`SELECT `+subOrderColumns+`, o.shipping_address_sealed FROM sub_orders s JOIN orders o ON o.id = s.order_id WHERE `+where, args...)
	b.Queue(lineQuery+`l.sub_order_id IN (SELECT s.id FROM sub_orders s WHERE `+where+`) ORDER BY l.product_id`, args...)
	br := q.SendBatch(ctx, b)
	defer br.Close()
	subs, err := collectSellerSubOrders(br, pii)
	if err != nil {
		return nil, err
	}
	if err := attachLines(br, subs); err != nil {
		return nil, err
	}
	return subs, br.Close()
}

// Order returns an order with everything about it.
func (s *Store) Order(ctx context.Context, id string) (orders.Order, error) {
	return loadOrder(ctx, s.pool, s.pii, id, false, true)
}

// SubOrder returns a sub-order with its lines and history.
func (s *Store) SubOrder(ctx context.Context, id string) (orders.SubOrder, error) {
	subs, err := subOrders(ctx, s.pool, s.pii, `s.id = $1`, id)
	if err != nil {
		return orders.SubOrder{}, err
	}
	if len(subs) == 0 {
		return orders.SubOrder{}, orders.ErrNotFound
	}
	sub := subs[0]
	rows, err := s.pool.Query(ctx, historyQuery+`sub_order_id = $1 ORDER BY id`, id)
	if err != nil {
		return sub, fmt.Errorf("select history: %w", err)
	}
	sub.History, err = pgx.CollectRows(rows, scanChange)
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
		err := scanOrder(r, s.pii, &o)
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
	subs, err := subOrders(ctx, s.pool, s.pii, `s.order_id = ANY($1::uuid[]) ORDER BY s.seller_id`, ids)
	if err != nil {
		return nil, err
	}
	for _, sub := range subs {
		sub.ShippingAddress = nil // the order carries it, as Order has it
		o := &list[index[sub.OrderID]]
		o.SubOrders = append(o.SubOrders, sub)
	}
	return list, nil
}

// SubOrders lists sub-orders newest first with their lines.
func (s *Store) SubOrders(ctx context.Context, f orders.OrderFilter) ([]orders.SubOrder, error) {
	where, args := page(f, "s.seller_id", "s.")
	return subOrders(ctx, s.pool, s.pii, where, args...)
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
