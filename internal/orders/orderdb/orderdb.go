// Package orderdb is the PostgreSQL store of the orders service.
package orderdb

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
	"github.com/marketplace-go/marketplace/internal/platform/pg"
)

// Store implements orders.Store.
type Store struct {
	pool *pgxpool.Pool
	// pii seals shipping addresses and the stored answers that repeat them.
	pii *fieldcrypt.Keyring
	// group commits the transactions of InGroupTx.
	group *group
}

var _ orders.Store = (*Store)(nil)

// New returns a store over pool that seals personal data with pii.
func New(pool *pgxpool.Pool, pii *fieldcrypt.Keyring) *Store {
	return &Store{pool: pool, pii: pii, group: newGroup(pool)}
}

// Pool is the store's connection pool, for the outbox relay.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// InTx runs fn in a read-committed transaction. Row locks, taken in a
// fixed order (orders before stock, stock by product id), keep concurrent
// transactions from deadlocking.
func (s *Store) InTx(ctx context.Context, fn func(orders.Tx) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire a connection: %w", err)
	}
	defer conn.Release()
	t := begin(conn, s.pii)
	if err = fn(t); err == nil {
		err = t.commit(ctx)
	}
	if err != nil {
		t.rollback(ctx)
	}
	return refusal(err)
}

// The SQLSTATEs our functions raise: link_idempotency_key when the key
// already names an order, reserve_stock when a product's free units are
// too few, check_products when a product was priced at a version the
// projection no longer holds.
const (
	keyLinkedCode         = "MP001"
	insufficientStockCode = "MP002"
	productChangedCode    = "MP003"
)

// refusal turns what the server refused into the domain's errors.
func refusal(err error) error {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return err
	}
	switch {
	case pgErr.Code == keyLinkedCode:
		return fmt.Errorf("%w: %w", orders.ErrKeyLinked, err)
	case pgErr.Code == insufficientStockCode:
		return fmt.Errorf("%w: %w", &orders.InsufficientStockError{ProductID: pgErr.Detail}, err)
	case pgErr.Code == productChangedCode:
		return fmt.Errorf("%w: product %s: %w", orders.ErrProductChanged, pgErr.Detail, err)
	case pg.IsUniqueViolation(err, "idempotency_keys_pkey"):
		return fmt.Errorf("%w: %w", orders.ErrKeyTaken, err)
	}
	return err
}

const productColumns = `p.id, p.seller_id, p.title, p.price, p.currency, p.status, p.version`

func scanProduct(row pgx.Row, extra ...any) (orders.Product, error) {
	var p orders.Product
	err := row.Scan(append([]any{&p.ID, &p.SellerID, &p.Title, &p.Price.Amount, &p.Price.Currency, &p.Status, &p.Version}, extra...)...)
	return p, err
}

// Products returns the projection's copies of the products asked for.
func (s *Store) Products(ctx context.Context, ids []string) (map[string]orders.Product, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+productColumns+` FROM products p WHERE p.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, fmt.Errorf("select products: %w", err)
	}
	defer rows.Close()
	out := make(map[string]orders.Product, len(ids))
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, fmt.Errorf("scan product: %w", err)
		}
		out[p.ID] = p
	}
	return out, rows.Err()
}

// inboxConsumer names the product events' consumer in the inbox.
const inboxConsumer = "orders.products"

// SaveProduct stores p unless the copy held is as new or newer.
func (s *Store) SaveProduct(ctx context.Context, p orders.Product, eventID string) (bool, error) {
	saved := false
	err := pgx.BeginFunc(ctx, s.pool, func(t pgx.Tx) error {
		if eventID != "" {
			seen, err := outbox.Seen(ctx, t, inboxConsumer, eventID)
			if err != nil || seen {
				return err
			}
		}
		tag, err := t.Exec(ctx, `INSERT INTO products (id, seller_id, title, price, currency, status, version)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (id) DO UPDATE SET seller_id = EXCLUDED.seller_id, title = EXCLUDED.title, price = EXCLUDED.price,
				currency = EXCLUDED.currency, status = EXCLUDED.status, version = EXCLUDED.version, synced_at = now()
			WHERE products.version < EXCLUDED.version`,
			p.ID, p.SellerID, p.Title, p.Price.Amount, p.Price.Currency, p.Status, p.Version)
		if err != nil {
			return fmt.Errorf("upsert product: %w", err)
		}
		saved = tag.RowsAffected() == 1
		return nil
	})
	return saved, err
}

const stockColumns = `product_id, on_hand, reserved, on_hand - reserved, updated_at`

func scanStock(row pgx.Row) (orders.Stock, error) {
	var st orders.Stock
	err := row.Scan(&st.ProductID, &st.OnHand, &st.Reserved, &st.Available, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return st, orders.ErrNotFound
	}
	return st, err
}

// Stock returns a product's inventory.
func (s *Store) Stock(ctx context.Context, productID string) (orders.Stock, error) {
	return scanStock(s.pool.QueryRow(ctx, `SELECT `+stockColumns+` FROM stock WHERE product_id = $1`, productID))
}

// Cart returns a buyer's cart, oldest line first.
func (s *Store) Cart(ctx context.Context, buyerID string) ([]orders.CartLine, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+productColumns+`, c.quantity, coalesce(st.on_hand - st.reserved, 0)
		FROM cart_items c JOIN products p ON p.id = c.product_id LEFT JOIN stock st ON st.product_id = c.product_id
		WHERE c.buyer_id = $1 ORDER BY c.added_at, c.product_id`, buyerID)
	if err != nil {
		return nil, fmt.Errorf("select cart: %w", err)
	}
	defer rows.Close()
	lines := []orders.CartLine{}
	for rows.Next() {
		var l orders.CartLine
		if l.Product, err = scanProduct(rows, &l.Quantity, &l.Available); err != nil {
			return nil, fmt.Errorf("scan cart line: %w", err)
		}
		lines = append(lines, l)
	}
	return lines, rows.Err()
}

// SetCartItem adds or changes a cart line; a line that would make the
// cart longer than maxLines gives orders.ErrCartFull.
//
// Changes to one cart take turns on an advisory lock of the buyer's: under
// read committed, two inserts that each counted maxLines-1 other lines
// would otherwise both go in. The lock and the insert go in one batch, one
// implicit transaction: one round trip, and the insert's count sees every
// line committed before the lock was granted.
func (s *Store) SetCartItem(ctx context.Context, buyerID, productID string, quantity, maxLines int) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('cart:' || $1, 0))`, buyerID)
	added := b.Queue(`INSERT INTO cart_items (buyer_id, product_id, quantity)
		SELECT $1, $2, $3 WHERE (SELECT count(*) FROM cart_items WHERE buyer_id = $1 AND product_id <> $2) < $4
		ON CONFLICT (buyer_id, product_id) DO UPDATE SET quantity = EXCLUDED.quantity`, buyerID, productID, quantity, maxLines)
	full := false
	added.Exec(func(tag pgconn.CommandTag) error {
		full = tag.RowsAffected() == 0
		return nil
	})
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("upsert cart item: %w", err)
	}
	if full {
		return orders.ErrCartFull
	}
	return nil
}

// RemoveCartItem deletes a cart line.
func (s *Store) RemoveCartItem(ctx context.Context, buyerID, productID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM cart_items WHERE buyer_id = $1 AND product_id = $2`, buyerID, productID)
	return err
}

// ClearCart deletes every line of a cart.
func (s *Store) ClearCart(ctx context.Context, buyerID string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM cart_items WHERE buyer_id = $1`, buyerID)
	return err
}

// ExpiredOrders returns unpaid orders past their reservation with no
// charge in flight, after the one after.
func (s *Store) ExpiredOrders(ctx context.Context, now time.Time, after orders.Expiry, limit int) ([]orders.Expiry, error) {
	afterID := after.OrderID
	if afterID == "" {
		afterID = uuid.Nil.String()
	}
	rows, err := s.pool.Query(ctx, `SELECT o.id, o.reserved_until FROM orders o
		WHERE o.status = 'pending_payment' AND o.reserved_until < $1 AND (o.reserved_until, o.id) > ($3, $4::uuid)
		AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.status = 'processing')
		ORDER BY o.reserved_until, o.id LIMIT $2`, now, limit, after.ReservedUntil, afterID)
	if err != nil {
		return nil, fmt.Errorf("select expired orders: %w", err)
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[orders.Expiry])
}

// UnresolvedPayments claims charges and refunds left without an outcome:
// their updated_at is set to now, so another instance's resolver leaves
// them alone for as long as this one's grace. A charge or refund whose key
// was first used longer ago than the provider keeps it (orders.KeyWindow)
// is not returned: a retry could then move the money again, so it needs
// reconciling by hand (by the order id in the provider's metadata). A
// refund's key is first used when the refund is asked for, which may be
// days after the charge.
func (s *Store) UnresolvedPayments(ctx context.Context, before time.Time, limit int) ([]orders.Payment, error) {
	rows, err := s.pool.Query(ctx, `UPDATE payments SET updated_at = now() WHERE order_id IN (
			SELECT order_id FROM payments
			WHERE (status = 'processing' AND created_at > now() - make_interval(secs => $3)
					OR refund_status = 'pending' AND refund_requested_at > now() - make_interval(secs => $3))
				AND updated_at < $1
			ORDER BY updated_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING `+paymentColumns, before, limit, orders.KeyWindow.Seconds())
	if err != nil {
		return nil, fmt.Errorf("select unresolved payments: %w", err)
	}
	defer rows.Close()
	var out []orders.Payment
	for rows.Next() {
		p, err := scanPayment(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

const paymentColumns = `order_id, provider, charge_key, payment_method, amount, currency, status, coalesce(charge_id, ''),
	coalesce(decline_reason, ''), attempts, coalesce(refund_status, ''), coalesce(refund_id, ''), updated_at, created_at`

func scanPayment(row pgx.Row) (orders.Payment, error) {
	var p orders.Payment
	err := row.Scan(&p.OrderID, &p.Provider, &p.ChargeKey, &p.PaymentMethod, &p.Amount.Amount, &p.Amount.Currency, &p.Status,
		&p.ChargeID, &p.DeclineReason, &p.Attempts, &p.RefundStatus, &p.RefundID, &p.UpdatedAt, &p.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return p, orders.ErrNotFound
	}
	if err != nil {
		return p, fmt.Errorf("scan payment: %w", err)
	}
	return p, nil
}

func isCheckViolation(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "23514"
}

// Backlog is how many payments wait on their provider, and how long the
// oldest of them has waited (zero when none does), among those the
// resolver still retries; Unreconciled counts those it has given up on
// (see UnresolvedPayments), which need a person.
type Backlog struct {
	Count        int
	Oldest       time.Duration
	Unreconciled int
}

// UnsettledPayments reports the charges whose outcome is not known yet,
// dated from the charge, and the refunds asked for and not yet made, dated
// from the request, for the metrics that the alerts on stuck payments
// watch. It reads only the rows of the resolver's partial index.
func (s *Store) UnsettledPayments(ctx context.Context) (charges, refunds Backlog, err error) {
	var chargeAge, refundAge float64
	err = s.pool.QueryRow(ctx, `WITH unsettled AS (
			SELECT status = 'processing' AS charge, refund_status = 'pending' AS refund, created_at AS charged,
				refund_requested_at AS asked, now() - make_interval(secs => $1) AS window_start
			FROM payments WHERE status = 'processing' OR refund_status = 'pending')
		SELECT
			count(*) FILTER (WHERE charge AND charged > window_start),
			coalesce(extract(epoch FROM now() - min(charged) FILTER (WHERE charge AND charged > window_start)), 0)::float8,
			count(*) FILTER (WHERE charge AND charged <= window_start),
			count(*) FILTER (WHERE refund AND asked > window_start),
			coalesce(extract(epoch FROM now() - min(asked) FILTER (WHERE refund AND asked > window_start)), 0)::float8,
			count(*) FILTER (WHERE refund AND asked <= window_start)
		FROM unsettled`, orders.KeyWindow.Seconds()).
		Scan(&charges.Count, &chargeAge, &charges.Unreconciled, &refunds.Count, &refundAge, &refunds.Unreconciled)
	if err != nil {
		return Backlog{}, Backlog{}, fmt.Errorf("count unsettled payments: %w", err)
	}
	charges.Oldest, refunds.Oldest = seconds(chargeAge), seconds(refundAge)
	return charges, refunds, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
