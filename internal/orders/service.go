package orders

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// Config holds the service's business settings.
type Config struct {
	// ReservationTTL is how long checkout holds stock for an unpaid order.
	ReservationTTL time.Duration
	// ChargeTimeout bounds one call to the payment provider; past it the
	// outcome is unknown and the payment is resolved in the background.
	ChargeTimeout time.Duration
	// Provider names the payment gateway in payment records.
	Provider string
}

// Service is the orders business core.
type Service struct {
	store    Store
	catalog  Catalog
	gateway  PaymentGateway
	log      *slog.Logger
	cfg      Config
	now      func() time.Time
	onCommit func()
	metrics  Metrics
	// held are copies of products a checkout priced, so that the next
	// one prices without a read (ADR 0057).
	held *lru.Cache[string, Product]
}

// maxHeld bounds the copies of products held for pricing: a few MiB, more
// than a demo catalog, and for a larger one the products bought most.
const maxHeld = 16384

// NewService returns the service.
func NewService(store Store, catalog Catalog, gateway PaymentGateway, log *slog.Logger, cfg Config) *Service {
	held, err := lru.New[string, Product](maxHeld)
	if err != nil {
		panic(err) // only a size below one is refused
	}
	return &Service{store: store, catalog: catalog, gateway: gateway, log: log, cfg: cfg, now: time.Now, onCommit: func() {},
		metrics: noMetrics{}, held: held}
}

// OnEvents registers f, called after every commit that left events in the
// outbox, so a relay can publish them at once.
func (s *Service) OnEvents(f func()) { s.onCommit = f }

// SetClock replaces the clock, for tests of expiry.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

// Limits on what one request may ask for.
const (
	maxLines    = 100
	maxQuantity = 1000
	// maxCartLines caps a cart at the lines one order may have, so that
	// every cart can be checked out whole.
	maxCartLines = maxLines
)

// products returns the products asked for, from the projection or, for
// those it lacks, from the catalog (stored for next time).
func (s *Service) products(ctx context.Context, ids []string) (map[string]Product, error) {
	have, err := s.store.Products(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("load products: %w", err)
	}
	for _, id := range ids {
		if _, ok := have[id]; ok {
			continue
		}
		p, err := s.catalog.Product(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("fetch product %s: %w", id, err)
		}
		if _, err := s.store.SaveProduct(ctx, p, ""); err != nil {
			return nil, fmt.Errorf("save product %s: %w", id, err)
		}
		have[id] = p
	}
	return have, nil
}

// heldProducts returns the products asked for from the copies this
// process holds, and the rest as products does, keeping the active ones;
// held reports whether any came from the copies. A copy may be stale:
// another instance may have applied the product's latest event. Only a
// checkout uses them, and its transaction checks each one's version
// against the projection.
func (s *Service) heldProducts(ctx context.Context, ids []string) (have map[string]Product, held bool, err error) {
	have = make(map[string]Product, len(ids))
	var missing []string
	for _, id := range ids {
		if p, ok := s.held.Get(id); ok {
			have[id] = p
		} else {
			missing = append(missing, id)
		}
	}
	held = len(missing) < len(ids)
	if len(missing) == 0 {
		return have, held, nil
	}
	loaded, err := s.products(ctx, missing)
	if err != nil {
		return nil, false, err
	}
	for id, p := range loaded {
		// Only what may be sold: a copy that refuses an order is read
		// again, and one that would always refuse is not worth holding.
		if p.Status == ProductActive {
			s.held.Add(id, p)
		}
		have[id] = p
	}
	return have, held, nil
}

// forgetPrices drops the copies held of the products ids.
func (s *Service) forgetPrices(ids []string) {
	for _, id := range ids {
		s.held.Remove(id)
	}
}

func (s *Service) product(ctx context.Context, id string) (Product, error) {
	if err := checkID("product_id", id); err != nil {
		return Product{}, errProductNotFound
	}
	ps, err := s.products(ctx, []string{id})
	if err != nil {
		return Product{}, err
	}
	p, ok := ps[id]
	if !ok {
		return Product{}, errProductNotFound
	}
	return p, nil
}

// Cart returns the buyer's cart with current prices and availability.
func (s *Service) Cart(ctx context.Context, c auth.Claims) (Cart, error) {
	lines, err := s.store.Cart(ctx, c.UserID)
	if err != nil {
		return Cart{}, fmt.Errorf("load cart: %w", err)
	}
	cart := Cart{Lines: lines, Totals: []Money{}}
	for i := range cart.Lines {
		l := &cart.Lines[i]
		l.Subtotal = Money{Amount: l.Product.Price.Amount * int64(l.Quantity), Currency: l.Product.Price.Currency}
		j := slices.IndexFunc(cart.Totals, func(m Money) bool { return m.Currency == l.Subtotal.Currency })
		if j < 0 {
			cart.Totals = append(cart.Totals, Money{Currency: l.Subtotal.Currency})
			j = len(cart.Totals) - 1
		}
		cart.Totals[j].Amount += l.Subtotal.Amount
	}
	return cart, nil
}

// SetCartItem puts a product in the cart with the given quantity.
func (s *Service) SetCartItem(ctx context.Context, c auth.Claims, productID string, quantity int) (Cart, error) {
	if err := checkQuantity("quantity", quantity); err != nil {
		return Cart{}, err
	}
	p, err := s.product(ctx, productID)
	if err != nil {
		return Cart{}, err
	}
	if p.Status != ProductActive {
		return Cart{}, errProductNotFound // as for anyone but its seller in the catalog
	}
	if err := s.store.SetCartItem(ctx, c.UserID, p.ID, quantity, maxCartLines); err != nil {
		return Cart{}, fmt.Errorf("set cart item: %w", err)
	}
	return s.Cart(ctx, c)
}

// RemoveCartItem takes a product out of the cart; removing one that is not
// there is not an error.
func (s *Service) RemoveCartItem(ctx context.Context, c auth.Claims, productID string) (Cart, error) {
	if err := checkID("product_id", productID); err != nil {
		return Cart{}, errProductNotFound
	}
	if err := s.store.RemoveCartItem(ctx, c.UserID, productID); err != nil {
		return Cart{}, fmt.Errorf("remove cart item: %w", err)
	}
	return s.Cart(ctx, c)
}

// ClearCart empties the cart.
func (s *Service) ClearCart(ctx context.Context, c auth.Claims) error {
	if err := s.store.ClearCart(ctx, c.UserID); err != nil {
		return fmt.Errorf("clear cart: %w", err)
	}
	return nil
}

// Stock returns a product's inventory to its seller or an admin.
func (s *Service) Stock(ctx context.Context, c auth.Claims, productID string) (Stock, error) {
	if _, err := s.ownProduct(ctx, c, productID); err != nil {
		return Stock{}, err
	}
	st, err := s.store.Stock(ctx, productID)
	if errors.Is(err, ErrNotFound) {
		return Stock{ProductID: productID}, nil
	}
	return st, err
}

// Availability is how many units of a product on sale a buyer could
// check out now, for anyone: the product page shows it. A product not on
// sale is not found, as in the catalog for anyone but its seller.
func (s *Service) Availability(ctx context.Context, productID string) (Availability, error) {
	p, err := s.product(ctx, productID)
	if err != nil {
		return Availability{}, err
	}
	if p.Status != ProductActive {
		return Availability{}, errProductNotFound
	}
	st, err := s.store.Stock(ctx, productID)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Availability{}, fmt.Errorf("load stock: %w", err)
	}
	return Availability{ProductID: productID, Available: st.Available}, nil
}

// SetStock sets how many units of a product are on hand.
func (s *Service) SetStock(ctx context.Context, c auth.Claims, productID string, onHand int64) (Stock, error) {
	if onHand < 0 || onHand > 1_000_000_000 {
		return Stock{}, fieldError("on_hand", "must be between 0 and 1000000000")
	}
	return s.changeStock(ctx, c, productID, func(tx Tx) (Stock, error) { return tx.SetStock(ctx, productID, onHand) })
}

// AdjustStock adds delta units (negative to remove), as when a delivery
// arrives or goods are found damaged.
func (s *Service) AdjustStock(ctx context.Context, c auth.Claims, productID string, delta int64) (Stock, error) {
	if delta == 0 || delta < -1_000_000_000 || delta > 1_000_000_000 {
		return Stock{}, fieldError("delta", "must be a non-zero number between -1000000000 and 1000000000")
	}
	return s.changeStock(ctx, c, productID, func(tx Tx) (Stock, error) { return tx.AdjustStock(ctx, productID, delta) })
}

func (s *Service) changeStock(ctx context.Context, c auth.Claims, productID string, change func(Tx) (Stock, error)) (Stock, error) {
	if _, err := s.ownProduct(ctx, c, productID); err != nil {
		return Stock{}, err
	}
	var st Stock
	err := s.store.InTx(ctx, func(tx Tx) (err error) {
		st, err = change(tx)
		return err
	})
	if errors.Is(err, ErrBelowReserved) {
		return Stock{}, errBelowReserved
	}
	return st, err
}

// ownProduct loads a product that the caller sells (or any, for an admin);
// others are told it does not exist, as the products service does.
func (s *Service) ownProduct(ctx context.Context, c auth.Claims, productID string) (Product, error) {
	if !c.HasRole(auth.RoleSeller) && !c.HasRole(auth.RoleAdmin) {
		return Product{}, errSellerOnly
	}
	p, err := s.product(ctx, productID)
	if err != nil {
		return Product{}, err
	}
	if p.SellerID != c.UserID && !c.HasRole(auth.RoleAdmin) {
		return Product{}, errProductNotFound
	}
	return p, nil
}

// CheckoutRequest is what a buyer checks out.
type CheckoutRequest struct {
	// Items to buy; nil means the cart's content.
	Items []Item
	// IdempotencyKey, when set, is the key the order is made under: linked
	// to the order in its transaction, or recorded there with FirstUse.
	IdempotencyKey string
	// FirstUse, with a key, means the key was not claimed before the
	// checkout: the order's transaction records it, answered, and a key
	// that exists fails the checkout with ErrKeyTaken (ADR 0055).
	FirstUse *FirstUse
	// ShippingAddress is where to deliver; required (ADR 0041): a
	// marketplace of physical goods cannot ship an order without one.
	ShippingAddress *Address
}

// FirstUse is how a checkout records an unclaimed idempotency key.
type FirstUse struct {
	// Operation and RequestHash say what was asked, as ClaimKey takes them.
	Operation   string
	RequestHash []byte
	// Answer renders the request's answer with the order made, before the
	// order's transaction: it is recorded with the key.
	Answer func(Order) (status int, body []byte, err error)
}

// orderKey is the key req makes o under.
func (req CheckoutRequest) orderKey(o Order) (OrderKey, error) {
	k := OrderKey{Name: req.IdempotencyKey}
	if k.Name == "" || req.FirstUse == nil {
		return k, nil
	}
	status, body, err := req.FirstUse.Answer(o)
	if err != nil {
		return OrderKey{}, fmt.Errorf("render the answer kept under the key: %w", err)
	}
	k.Answer = &KeyAnswer{Operation: req.FirstUse.Operation, RequestHash: req.FirstUse.RequestHash, Status: status, Body: body}
	return k, nil
}

// Checkout turns items into an order: prices are frozen from the
// projection, stock is reserved and the order written in one transaction,
// so no concurrency can oversell. Items bought from the cart leave it.
func (s *Service) Checkout(ctx context.Context, c auth.Claims, req CheckoutRequest) (Order, error) {
	shipTo, err := shippingAddress(req.ShippingAddress)
	if err != nil {
		return Order{}, err
	}
	ck := checkout{buyerID: c.UserID, req: req, shipTo: shipTo, fromCart: req.Items == nil, items: req.Items}
	if ck.fromCart {
		lines, err := s.store.Cart(ctx, c.UserID)
		if err != nil {
			return Order{}, fmt.Errorf("load cart: %w", err)
		}
		for _, l := range lines {
			ck.items = append(ck.items, Item{ProductID: l.Product.ID, Quantity: l.Quantity})
		}
	}
	if err := checkItems(ck.items); err != nil {
		return Order{}, err
	}
	ck.ids = make([]string, len(ck.items))
	for i, it := range ck.items {
		ck.ids[i] = it.ProductID
	}
	o, err := s.placeOrder(ctx, ck)
	for pricings := 1; errors.Is(err, errReprice) && pricings < maxPricings; pricings++ {
		s.forgetPrices(ck.ids)
		o, err = s.placeOrder(ctx, ck)
	}
	if ise := (*InsufficientStockError)(nil); errors.As(err, &ise) {
		s.metrics.StockOut()
		return Order{}, errUnavailable(ise.ProductID)
	}
	switch {
	case errors.Is(err, errReprice):
		return Order{}, errProductChanged
	case errors.Is(err, ErrKeyLinked):
		return Order{}, errKeyLinked
	case err != nil:
		return Order{}, err
	}
	s.onCommit()
	s.metrics.OrderCreated(o.Total)
	return o, nil
}

// checkout is what a checkout asks for, once read and checked.
type checkout struct {
	buyerID  string
	req      CheckoutRequest
	shipTo   *Address
	fromCart bool
	items    []Item
	ids      []string // the items' products
}

// maxPricings bounds how often one checkout prices its order: from the
// copies of its products this process holds, then from the projection
// should they be stale, and once more should the projection move between
// that read and the order's transaction.
const maxPricings = 3

// errReprice is an order priced from products that may be stale: its
// transaction found one at another version, or copies held in memory
// refused it. Checkout prices it again from the projection.
var errReprice = errors.New("order priced from a stale product")

// placeOrder prices ck's order, from the copies this process holds where
// it has them, and makes it in one transaction that checks every price's
// version against the projection.
func (s *Service) placeOrder(ctx context.Context, ck checkout) (Order, error) {
	ps, held, err := s.heldProducts(ctx, ck.ids)
	if err != nil {
		return Order{}, err
	}
	o, err := s.newOrder(ck.buyerID, ck.items, ps)
	if err != nil && held {
		return Order{}, fmt.Errorf("%w: %w", errReprice, err)
	}
	if err != nil {
		return Order{}, err
	}
	o.ShippingAddress = ck.shipTo
	ev, err := orderEvent(contracts.OrderCreated, o, "", "")
	if err != nil {
		return Order{}, err
	}
	key, err := ck.req.orderKey(o)
	if err != nil {
		return Order{}, err
	}
	// The stock is reserved last, and the transaction goes to the server
	// in one round trip: its row locks are then held from the reservation
	// to the commit, with no client in between, however many buyers want
	// the product. The prices are checked after the order's first
	// statement, its Idempotency-Key, so that a key that exists answers
	// first (ADR 0055), and before anything is reserved. The transaction
	// only writes, so concurrent checkouts commit in groups (ADR 0060).
	err = s.store.InGroupTx(ctx, func(tx Tx) error {
		if err := tx.CreateOrder(ctx, o, key); err != nil {
			return err
		}
		if err := tx.CheckProducts(ctx, pricedBy(ck.items, ps)); err != nil {
			return err
		}
		if ck.fromCart {
			if err := tx.RemoveFromCart(ctx, ck.buyerID, ck.ids); err != nil {
				return err
			}
		}
		if err := tx.AddHistory(ctx, o.ID, o.History); err != nil {
			return err
		}
		if err := tx.AddEvents(ctx, ev); err != nil {
			return err
		}
		return tx.Reserve(ctx, ck.items)
	})
	if errors.Is(err, ErrProductChanged) {
		return Order{}, fmt.Errorf("%w: %w", errReprice, err)
	}
	if err != nil {
		return Order{}, fmt.Errorf("place order: %w", err)
	}
	return o, nil
}

// pricedBy returns the products that priced items, in the items' order.
func pricedBy(items []Item, ps map[string]Product) []Product {
	out := make([]Product, len(items))
	for i, it := range items {
		out[i] = ps[it.ProductID]
	}
	return out
}

// newOrder prices items and splits them by seller.
func (s *Service) newOrder(buyerID string, items []Item, ps map[string]Product) (Order, error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	o := Order{ID: newID(), BuyerID: buyerID, Status: PendingPayment, Version: 1,
		ReservedUntil: now.Add(s.cfg.ReservationTTL), CreatedAt: now, UpdatedAt: now}
	bySeller := map[string]*SubOrder{}
	for _, it := range items {
		p, ok := ps[it.ProductID]
		if !ok || p.Status != ProductActive {
			return Order{}, errNotForSale(it.ProductID)
		}
		if o.Total.Currency == "" {
			o.Total.Currency = p.Price.Currency
		}
		if p.Price.Currency != o.Total.Currency {
			return Order{}, errMixedCurrencies
		}
		sub := bySeller[p.SellerID]
		if sub == nil {
			sub = &SubOrder{ID: newID(), OrderID: o.ID, SellerID: p.SellerID, Status: PendingPayment,
				Subtotal: Money{Currency: p.Price.Currency}, CreatedAt: now, UpdatedAt: now}
			bySeller[p.SellerID] = sub
		}
		amount := p.Price.Amount * int64(it.Quantity)
		sub.Lines = append(sub.Lines, Line{ProductID: p.ID, Title: p.Title, UnitPrice: p.Price, Quantity: it.Quantity})
		sub.Subtotal.Amount += amount
		o.Total.Amount += amount
	}
	for _, sub := range bySeller {
		o.SubOrders = append(o.SubOrders, *sub)
	}
	slices.SortFunc(o.SubOrders, func(a, b SubOrder) int { return cmp.Compare(a.SellerID, b.SellerID) })
	o.History = []Change{{To: PendingPayment, Actor: buyerID, Reason: "checkout", At: now}}
	return o, nil
}

// Order returns an order to its buyer or an admin; a seller reads its part
// through SubOrder.
func (s *Service) Order(ctx context.Context, c auth.Claims, id string) (Order, error) {
	if checkID("id", id) != nil {
		return Order{}, errOrderNotFound
	}
	o, err := s.store.Order(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && o.BuyerID != c.UserID && !c.HasRole(auth.RoleAdmin) {
		return Order{}, errOrderNotFound
	}
	return o, err
}

// SubOrder returns a sub-order to its seller or an admin.
func (s *Service) SubOrder(ctx context.Context, c auth.Claims, id string) (SubOrder, error) {
	if checkID("id", id) != nil {
		return SubOrder{}, errSubOrderNotFound
	}
	sub, err := s.store.SubOrder(ctx, id)
	if errors.Is(err, ErrNotFound) || err == nil && sub.SellerID != c.UserID && !c.HasRole(auth.RoleAdmin) {
		return SubOrder{}, errSubOrderNotFound
	}
	return sub, err
}

// newID returns a UUIDv7: time-ordered, so new rows land at the end of
// indexes.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// orderEvent builds the outbox event for a change of o.
func orderEvent(typ string, o Order, subOrderID, reason string) (events.Event, error) {
	v := contracts.OrderV1{ID: o.ID, BuyerID: o.BuyerID, Status: string(o.Status), Total: o.Total.Amount,
		Currency: o.Total.Currency, Version: o.Version, UpdatedAt: o.UpdatedAt}
	for _, sub := range o.SubOrders {
		sv := contracts.SubOrderV1{ID: sub.ID, SellerID: sub.SellerID, Status: string(sub.Status),
			Subtotal: sub.Subtotal.Amount, TrackingNumber: sub.TrackingNumber}
		for _, l := range sub.Lines {
			sv.Lines = append(sv.Lines, contracts.OrderLineV1{ProductID: l.ProductID, Quantity: l.Quantity, UnitPrice: l.UnitPrice.Amount})
		}
		v.SubOrders = append(v.SubOrders, sv)
	}
	ev, err := events.New(typ, "orders", o.ID, o.Version, contracts.OrderEventVersion,
		contracts.OrderChangedV1{Order: v, SubOrderID: subOrderID, Reason: reason})
	if err != nil {
		return events.Event{}, fmt.Errorf("build %s event: %w", typ, err)
	}
	ev.Time = o.UpdatedAt // when it happened, as product events have it
	return ev, nil
}
