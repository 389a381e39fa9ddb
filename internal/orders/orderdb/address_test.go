package orderdb_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/orders"
)

// street is unusual enough that finding it in a row means the row holds
// the address in the clear.
const street = "Zaunkönigweg 17"

func shipTo() *orders.Address {
	return &orders.Address{Name: "Ada Lovelace", Line1: street, Line2: "Hinterhaus", City: "Berlin", Region: "BE",
		PostalCode: "10115", Country: "DE"}
}

func TestAShippingAddressIsSealedInTheTableAndOpensOnEveryRead(t *testing.T) {
	t.Parallel()
	s, pool := newStoreAndPool(t)
	ctx := t.Context()
	p := mustProduct(t, s, 1200, 5)
	o := newOrder(newID(), time.Now(), p)
	o.ShippingAddress = shipTo()
	mustCreate(t, s, o)

	var raw string
	if err := pool.QueryRow(ctx, `SELECT shipping_address_sealed FROM orders WHERE id = $1`, o.ID).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	for _, clear := range []string{street, "Zaunk", "Lovelace", "10115"} {
		if strings.Contains(raw, clear) {
			t.Errorf("the sealed column holds %q in the clear: %s", clear, raw)
		}
	}

	reads := []struct {
		name string
		read func() (*orders.Address, error)
	}{
		{"the order", func() (*orders.Address, error) { got, err := s.Order(ctx, o.ID); return got.ShippingAddress, err }},
		{"the buyer's list", func() (*orders.Address, error) {
			list, err := s.Orders(ctx, orders.OrderFilter{UserID: o.BuyerID, Limit: 10})
			if err != nil || len(list) != 1 {
				t.Fatalf("Orders = %d, %v", len(list), err)
			}
			return list[0].ShippingAddress, nil
		}},
		{"the seller's sub-order", func() (*orders.Address, error) {
			sub, err := s.SubOrder(ctx, o.SubOrders[0].ID)
			return sub.ShippingAddress, err
		}},
		{"the seller's list", func() (*orders.Address, error) {
			list, err := s.SubOrders(ctx, orders.OrderFilter{UserID: p.SellerID, Limit: 10})
			if err != nil || len(list) != 1 {
				t.Fatalf("SubOrders = %d, %v", len(list), err)
			}
			return list[0].ShippingAddress, nil
		}},
		{"the order locked in a transaction", func() (got *orders.Address, err error) {
			err = s.InTx(ctx, func(tx orders.Tx) error {
				o, err := tx.LockOrder(ctx, o.ID)
				got = o.ShippingAddress
				return err
			})
			return got, err
		}},
	}
	for _, r := range reads {
		t.Run(r.name+" has it", func(t *testing.T) {
			got, err := r.read()
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(shipTo(), got); diff != "" {
				t.Errorf("address (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnOrderWithoutAShippingAddressReadsBackWithout(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	o := newOrder(newID(), time.Now(), mustProduct(t, s, 1200, 5))
	mustCreate(t, s, o)
	if got := mustOrder(t, s, o.ID); got.ShippingAddress != nil {
		t.Errorf("address %+v on an order placed without one", got.ShippingAddress)
	}
}

func TestASealedAddressMovedToAnotherOrderDoesNotOpen(t *testing.T) {
	t.Parallel()
	s, pool := newStoreAndPool(t)
	ctx := t.Context()
	first, second := newOrder(newID(), time.Now(), mustProduct(t, s, 100, 5)), newOrder(newID(), time.Now(), mustProduct(t, s, 100, 5))
	first.ShippingAddress = shipTo()
	mustCreate(t, s, first)
	mustCreate(t, s, second)
	if _, err := pool.Exec(ctx, `UPDATE orders SET shipping_address_sealed = (SELECT shipping_address_sealed FROM orders WHERE id = $1) WHERE id = $2`,
		first.ID, second.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Order(ctx, second.ID); err == nil {
		t.Error("an address copied from another order opened")
	}
}

func TestAStoredIdempotentAnswerIsSealed(t *testing.T) {
	t.Parallel()
	s, pool := newStoreAndPool(t)
	ctx := t.Context()
	user, hash := newID(), []byte("request-hash")
	if c, err := s.ClaimKey(ctx, user, "key-1", "checkout", hash, holder("first"), time.Minute); err != nil || !c.Owned {
		t.Fatalf("ClaimKey = %+v, %v", c, err)
	}
	answer := `{"id":"o-1","shipping_address":{"line1":"` + street + `"}}`
	if err := s.CompleteKey(ctx, user, "key-1", holder("first"), 201, []byte(answer)); err != nil {
		t.Fatal(err)
	}
	var raw []byte
	if err := pool.QueryRow(ctx, `SELECT response FROM idempotency_keys WHERE user_id = $1`, user).Scan(&raw); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), "Zaunk") {
		t.Errorf("the stored answer holds the street in the clear: %s", raw)
	}
	c, err := s.ClaimKey(ctx, user, "key-1", "checkout", hash, holder("retry"), time.Minute)
	if err != nil || c.Status != 201 || string(c.Body) != answer {
		t.Errorf("a retry = %+v, %v; want the answer as it was", c, err)
	}
}
