package orderdb

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/fieldcrypt"
	"github.com/marketplace-go/marketplace/internal/platform/outbox"
)

// tx implements orders.Tx. Writes whose results nobody reads are queued
// and sent together, in one round trip, before the next read or the
// commit. BEGIN is queued like a write and COMMIT is the last one, so a
// transaction that only writes, a checkout, is one round trip from BEGIN
// to COMMIT (ADR 0053), and a payment a handful, not one per row.
//
// A transaction of a group (InGroupTx, ADR 0060) has no connection of its
// own: it only queues, and the group sends what its members queued.
type tx struct {
	conn *pgxpool.Conn // nil in a group's transaction
	pii  *fieldcrypt.Keyring
	// begun is set once BEGIN has been sent.
	begun bool
	// byUser are the statements on a user's rows (idempotency keys, the
	// cart), sent before the other writes, and reservations are sent after
	// them; both are sorted, so that the transactions of a group lock rows
	// in one order, as each on its own does.
	byUser       []userStatement
	writes       []*pgx.QueuedQuery
	reservations []reservation
}

// userStatement is a statement on the rows of user: kind orders a user's
// statements (keyKind first), and key a kind's.
type userStatement struct {
	user string
	kind int
	key  string
	q    *pgx.QueuedQuery
}

// The kinds of a userStatement, in the order they are sent.
const (
	keyKind  = iota // on an idempotency key: first, so that a key that exists answers first
	cartKind        // on the cart
)

// reservation is a call of reserve_stock.
type reservation struct {
	orders.Item
	q *pgx.QueuedQuery
}

// begin returns a transaction on conn whose BEGIN waits for the first
// flush.
func begin(conn *pgxpool.Conn, pii *fieldcrypt.Keyring) *tx {
	return &tx{conn: conn, pii: pii}
}

// queue adds a write to t.
func (t *tx) queue(sql string, args ...any) {
	t.writes = append(t.writes, &pgx.QueuedQuery{SQL: sql, Arguments: args})
}

// queueOnUser adds a statement on the rows of user to t.
func (t *tx) queueOnUser(user string, kind int, key, sql string, args ...any) {
	t.byUser = append(t.byUser, userStatement{user, kind, key, &pgx.QueuedQuery{SQL: sql, Arguments: args}})
}

// errGroupRead is a read in a group's transaction, whose statements are
// all sent at its commit.
var errGroupRead = errors.New("orderdb: a group's transaction only writes")

// commit sends what is queued with the COMMIT.
func (t *tx) commit(ctx context.Context) error { return t.send(ctx, true) }

// rollback ends a transaction that fn gave up on or the server refused;
// one that sent nothing has nothing to end.
func (t *tx) rollback(ctx context.Context) {
	rollback(ctx, t.conn)
}

// rollback ends conn's transaction, if it is in one, and reports whether
// the connection is then out of it and open. A rollback that fails leaves
// the connection in its transaction, and the pool then closes it.
func rollback(ctx context.Context, conn *pgxpool.Conn) bool {
	pc := conn.Conn().PgConn()
	if !pc.IsClosed() && pc.TxStatus() != 'I' {
		_, _ = conn.Exec(ctx, "ROLLBACK")
	}
	return !pc.IsClosed() && pc.TxStatus() == 'I'
}

// flush sends the queued writes, and BEGIN if it was not sent yet: a
// read that follows takes its locks in the transaction.
func (t *tx) flush(ctx context.Context) error {
	if t.conn == nil {
		return errGroupRead
	}
	if t.begun && t.empty() {
		return nil
	}
	return t.send(ctx, false)
}

// send sends what is queued, with BEGIN if it was not sent yet and COMMIT
// if commit is set, and empties the queues, whether the server took them
// or not: a transaction it refused is only rolled back.
func (t *tx) send(ctx context.Context, commit bool) error {
	err := sendBatch(ctx, t.conn, []*tx{t}, !t.begun, commit)
	t.begun, t.byUser, t.writes, t.reservations = true, nil, nil, nil
	return err
}

// empty reports whether t has nothing queued.
func (t *tx) empty() bool {
	return len(t.byUser)+len(t.writes)+len(t.reservations) == 0
}

// sendBatch sends, in one round trip on conn, what the transactions ts
// queued, as one transaction: BEGIN if begin is set, then every statement
// on a user's rows, sorted by user, kind and key, then the writes,
// transaction by transaction, then every reservation, sorted by product,
// and COMMIT if commit is set. It leaves their queues as they were, so
// that a group can send its members again one by one. A COMMIT that the
// server answers with ROLLBACK (the transaction had failed) is an error.
func sendBatch(ctx context.Context, conn *pgxpool.Conn, ts []*tx, begin, commit bool) error {
	var (
		b      pgx.Batch
		byUser []userStatement
		res    []reservation
	)
	for _, t := range ts {
		byUser = append(byUser, t.byUser...)
		res = append(res, t.reservations...)
	}
	slices.SortStableFunc(byUser, func(a, b userStatement) int {
		return cmp.Or(cmp.Compare(a.user, b.user), cmp.Compare(a.kind, b.kind), cmp.Compare(a.key, b.key))
	})
	slices.SortStableFunc(res, func(a, b reservation) int { return cmp.Compare(a.ProductID, b.ProductID) })
	// Copies, so that statements sent again after a failure are fresh.
	add := func(q *pgx.QueuedQuery) { b.Queue(q.SQL, q.Arguments...) }
	if begin {
		b.Queue("BEGIN")
	}
	for _, u := range byUser {
		add(u.q)
	}
	for _, t := range ts {
		for _, q := range t.writes {
			add(q)
		}
	}
	for _, r := range res {
		add(r.q)
	}
	if commit {
		b.Queue("COMMIT").Exec(func(tag pgconn.CommandTag) error {
			if tag.String() == "ROLLBACK" {
				return pgx.ErrTxCommitRollback
			}
			return nil
		})
	}
	if err := conn.SendBatch(ctx, &b).Close(); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

func (t *tx) SetStock(ctx context.Context, productID string, onHand int64) (orders.Stock, error) {
	return t.stockChange(ctx, `INSERT INTO stock (product_id, on_hand) VALUES ($1, $2)
		ON CONFLICT (product_id) DO UPDATE SET on_hand = EXCLUDED.on_hand, updated_at = now()
		RETURNING `+stockColumns, productID, onHand)
}

func (t *tx) AdjustStock(ctx context.Context, productID string, delta int64) (orders.Stock, error) {
	return t.stockChange(ctx, `INSERT INTO stock (product_id, on_hand) VALUES ($1, $2)
		ON CONFLICT (product_id) DO UPDATE SET on_hand = stock.on_hand + EXCLUDED.on_hand, updated_at = now()
		RETURNING `+stockColumns, productID, delta)
}

func (t *tx) stockChange(ctx context.Context, sql string, args ...any) (orders.Stock, error) {
	if err := t.flush(ctx); err != nil {
		return orders.Stock{}, err
	}
	st, err := scanStock(t.conn.QueryRow(ctx, sql, args...))
	if isCheckViolation(err) {
		return st, orders.ErrBelowReserved
	}
	if err != nil {
		return st, fmt.Errorf("change stock: %w", err)
	}
	return st, nil
}

// sorted returns items in product order: every transaction locks stock
// rows in that order, so two can never wait on each other.
func sorted(items []orders.Item) []orders.Item {
	s := slices.Clone(items)
	slices.SortFunc(s, func(a, b orders.Item) int { return cmp.Compare(a.ProductID, b.ProductID) })
	return s
}

// Reserve holds stock with one reserve_stock call per product: a product
// whose available units are too few fails it in the server, which aborts
// the transaction, so the refusal surfaces as *orders.InsufficientStockError
// from the flush that sends it, the commit at the latest. The calls go
// after every other statement of their flush, so a transaction that
// commits in the same flush holds the stock rows' locks only from the
// reservation to the commit, both in the server, which matters when every
// buyer wants the same product.
func (t *tx) Reserve(_ context.Context, items []orders.Item) error {
	for _, it := range items {
		q := &pgx.QueuedQuery{SQL: `SELECT reserve_stock($1, $2)`, Arguments: []any{it.ProductID, it.Quantity}}
		t.reservations = append(t.reservations, reservation{it, q})
	}
	return nil
}

// CheckProducts queues check_products, which fails the transaction when a
// product is no longer at the version it was priced at. It reads the
// projection's rows without locking them: a product edit never waits for
// a checkout, nor a checkout for another that bought the same product.
func (t *tx) CheckProducts(_ context.Context, ps []orders.Product) error {
	ids, versions := make([]string, len(ps)), make([]int64, len(ps))
	for i, p := range ps {
		ids[i], versions[i] = p.ID, p.Version
	}
	t.queue(`SELECT check_products($1::uuid[], $2::bigint[])`, ids, versions)
	return nil
}

func (t *tx) Release(ctx context.Context, items []orders.Item) error {
	return t.eachStock(ctx, items, `UPDATE stock SET reserved = reserved - $2, updated_at = now() WHERE product_id = $1`)
}

func (t *tx) Consume(ctx context.Context, items []orders.Item) error {
	return t.eachStock(ctx, items, `UPDATE stock SET on_hand = on_hand - $2, reserved = reserved - $2, updated_at = now() WHERE product_id = $1`)
}

func (t *tx) Restock(ctx context.Context, items []orders.Item) error {
	return t.eachStock(ctx, items, `UPDATE stock SET on_hand = on_hand + $2, updated_at = now() WHERE product_id = $1`)
}

func (t *tx) eachStock(_ context.Context, items []orders.Item, sql string) error {
	for _, it := range sorted(items) {
		t.queue(sql, it.ProductID, it.Quantity)
	}
	return nil
}

func (t *tx) CreateOrder(_ context.Context, o orders.Order, key orders.OrderKey) error {
	if a := key.Answer; a != nil {
		// A key statement, sent first: a key that exists fails the batch
		// before its other statements run.
		t.queueOnUser(o.BuyerID, keyKind, key.Name, `INSERT INTO idempotency_keys (user_id, key, operation, request_hash, resource_id, status, response)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			o.BuyerID, key.Name, a.Operation, a.RequestHash, o.ID, a.Status, sealAnswer(t.pii, o.BuyerID, key.Name, a.Body))
	}
	t.queue(`INSERT INTO orders (id, buyer_id, status, currency, total, version, reserved_until, created_at, updated_at, shipping_address_sealed)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		o.ID, o.BuyerID, o.Status, o.Total.Currency, o.Total.Amount, o.Version, o.ReservedUntil, o.CreatedAt, o.UpdatedAt,
		sealAddress(t.pii, o.ID, o.ShippingAddress))
	for _, s := range o.SubOrders {
		t.queue(`INSERT INTO sub_orders (id, order_id, seller_id, status, subtotal, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			s.ID, o.ID, s.SellerID, s.Status, s.Subtotal.Amount, s.CreatedAt, s.UpdatedAt)
		for _, l := range s.Lines {
			t.queue(`INSERT INTO order_lines (order_id, sub_order_id, product_id, title, unit_price, quantity) VALUES ($1, $2, $3, $4, $5, $6)`,
				o.ID, s.ID, l.ProductID, l.Title, l.UnitPrice.Amount, l.Quantity)
		}
	}
	if key.Name != "" && key.Answer == nil {
		t.queueOnUser(o.BuyerID, keyKind, key.Name, `SELECT link_idempotency_key($1, $2, $3)`, o.BuyerID, key.Name, o.ID)
	}
	return nil
}

func (t *tx) RemoveFromCart(_ context.Context, buyerID string, productIDs []string) error {
	t.queueOnUser(buyerID, cartKind, "", `DELETE FROM cart_items WHERE buyer_id = $1 AND product_id = ANY($2::uuid[])`, buyerID, productIDs)
	return nil
}

func (t *tx) LockOrder(ctx context.Context, id string) (orders.Order, error) {
	if err := t.flush(ctx); err != nil {
		return orders.Order{}, err
	}
	return loadOrder(ctx, t.conn, t.pii, id, true, false)
}

func (t *tx) OrderOfSubOrder(ctx context.Context, subOrderID string) (string, error) {
	if err := t.flush(ctx); err != nil {
		return "", err
	}
	var id string
	err := t.conn.QueryRow(ctx, `SELECT order_id FROM sub_orders WHERE id = $1`, subOrderID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", orders.ErrNotFound
	}
	return id, err
}

func (t *tx) UpdateOrder(_ context.Context, o orders.Order) error {
	t.queue(`UPDATE orders SET status = $2, version = $3, updated_at = $4 WHERE id = $1`, o.ID, o.Status, o.Version, o.UpdatedAt)
	for _, s := range o.SubOrders {
		t.queue(`UPDATE sub_orders SET status = $2, tracking_number = nullif($3, ''), updated_at = $4 WHERE id = $1`,
			s.ID, s.Status, s.TrackingNumber, s.UpdatedAt)
	}
	return nil
}

func (t *tx) AddHistory(_ context.Context, orderID string, changes []orders.Change) error {
	for _, c := range changes {
		t.queue(`INSERT INTO order_history (order_id, sub_order_id, from_status, to_status, actor, reason, at)
			VALUES ($1, nullif($2, '')::uuid, nullif($3, ''), $4, $5, $6, $7)`, orderID, c.SubOrderID, c.From, c.To, c.Actor, c.Reason, c.At)
	}
	return nil
}

func (t *tx) AddEvents(ctx context.Context, evs ...events.Event) error {
	var b pgx.Batch
	if err := outbox.Queue(ctx, &b, evs...); err != nil {
		return err
	}
	t.writes = append(t.writes, b.QueuedQueries...)
	return nil
}

func (t *tx) SavePayment(_ context.Context, p orders.Payment) error {
	// refund_requested_at is set once, when a refund status first appears:
	// the refund key's first use, from which the provider keeps it.
	t.queue(`INSERT INTO payments (order_id, provider, charge_key, payment_method, amount, currency, status,
			charge_id, decline_reason, attempts, refund_status, refund_id, updated_at, refund_requested_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), $10, nullif($11, ''), nullif($12, ''), $13,
			CASE WHEN $11 <> '' THEN now() END)
		ON CONFLICT (order_id) DO UPDATE SET status = EXCLUDED.status, charge_id = EXCLUDED.charge_id,
			decline_reason = EXCLUDED.decline_reason, attempts = EXCLUDED.attempts, refund_status = EXCLUDED.refund_status,
			refund_id = EXCLUDED.refund_id, updated_at = EXCLUDED.updated_at,
			refund_requested_at = coalesce(payments.refund_requested_at, EXCLUDED.refund_requested_at)
		WHERE payments.status = 'processing' OR EXCLUDED.status <> 'processing'`,
		p.OrderID, p.Provider, p.ChargeKey, p.PaymentMethod, p.Amount.Amount, p.Amount.Currency, p.Status,
		p.ChargeID, p.DeclineReason, p.Attempts, p.RefundStatus, p.RefundID, p.UpdatedAt)
	return nil
}
