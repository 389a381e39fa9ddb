package orders

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

// Sellers and products of the checkout tables. Seller ids sort as named,
// so sub-orders come in this order.
const (
	sellerA = "0193a6d0-0000-7000-8000-00000000000a"
	sellerB = "0193a6d0-0000-7000-8000-00000000000b"
	buyer   = "0193a6d0-0000-7000-8000-0000000000bb"
	lamp    = "0193a6d0-0000-7000-8000-000000000001"
	kettle  = "0193a6d0-0000-7000-8000-000000000002"
	chair   = "0193a6d0-0000-7000-8000-000000000003"
	draft   = "0193a6d0-0000-7000-8000-000000000004"
	pounds  = "0193a6d0-0000-7000-8000-000000000005"
)

var catalog = map[string]Product{
	lamp:   {ID: lamp, SellerID: sellerB, Title: "Lamp", Price: eur(1200), Status: ProductActive, Version: 3},
	kettle: {ID: kettle, SellerID: sellerA, Title: "Kettle", Price: eur(3000), Status: ProductActive, Version: 1},
	chair:  {ID: chair, SellerID: sellerB, Title: "Chair", Price: eur(4500), Status: ProductActive, Version: 2},
	draft:  {ID: draft, SellerID: sellerA, Title: "Draft", Price: eur(100), Status: "draft", Version: 1},
	pounds: {ID: pounds, SellerID: sellerA, Title: "Tea", Price: Money{Amount: 500, Currency: "GBP"}, Status: ProductActive, Version: 1},
}

func eur(amount int64) Money { return Money{Amount: amount, Currency: "EUR"} }

var checkoutTime = time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC)

func TestNewOrderFreezesPricesAndSplitsTheItemsBySeller(t *testing.T) {
	t.Parallel()
	at := checkoutTime.Truncate(time.Microsecond) // as PostgreSQL keeps it
	tests := []struct {
		name  string
		items []Item
		want  Order
	}{
		{
			name:  "one line of one seller",
			items: []Item{{lamp, 2}},
			want: Order{Total: eur(2400), SubOrders: []SubOrder{
				{SellerID: sellerB, Subtotal: eur(2400), Lines: []Line{{lamp, "Lamp", eur(1200), 2}}},
			}},
		},
		{
			name:  "lines of two sellers, sub-orders by seller id, lines in the buyer's order",
			items: []Item{{chair, 1}, {kettle, 3}, {lamp, 1}},
			want: Order{Total: eur(4500 + 9000 + 1200), SubOrders: []SubOrder{
				{SellerID: sellerA, Subtotal: eur(9000), Lines: []Line{{kettle, "Kettle", eur(3000), 3}}},
				{SellerID: sellerB, Subtotal: eur(5700), Lines: []Line{{chair, "Chair", eur(4500), 1}, {lamp, "Lamp", eur(1200), 1}}},
			}},
		},
		{
			name:  "another currency, alone in its order",
			items: []Item{{pounds, 4}},
			want: Order{Total: Money{Amount: 2000, Currency: "GBP"}, SubOrders: []SubOrder{
				{SellerID: sellerA, Subtotal: Money{Amount: 2000, Currency: "GBP"}, Lines: []Line{{pounds, "Tea", Money{Amount: 500, Currency: "GBP"}, 4}}},
			}},
		},
	}
	s := &Service{cfg: Config{ReservationTTL: 15 * time.Minute}, now: func() time.Time { return checkoutTime }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := s.newOrder(buyer, tt.items, catalog)
			if err != nil {
				t.Fatalf("newOrder: %v", err)
			}
			want := tt.want
			want.BuyerID, want.Status, want.Version = buyer, PendingPayment, 1
			want.CreatedAt, want.UpdatedAt, want.ReservedUntil = at, at, at.Add(15*time.Minute)
			want.History = []Change{{To: PendingPayment, Actor: buyer, Reason: "checkout", At: at}}
			for i := range want.SubOrders {
				sub := &want.SubOrders[i]
				sub.Status, sub.CreatedAt, sub.UpdatedAt = PendingPayment, at, at
			}
			ids := cmpopts.IgnoreFields(Order{}, "ID")
			subIDs := cmpopts.IgnoreFields(SubOrder{}, "ID", "OrderID")
			if diff := cmp.Diff(want, got, ids, subIDs); diff != "" {
				t.Errorf("order (-want +got):\n%s", diff)
			}
			checkIDs(t, got)
		})
	}
}

// checkIDs checks that the order and each sub-order have a fresh UUID and
// that every sub-order points at its order.
func checkIDs(t *testing.T, o Order) {
	t.Helper()
	seen := map[string]bool{}
	for _, id := range append([]string{o.ID}, subOrderIDs(o)...) {
		if checkID("id", id) != nil || seen[id] {
			t.Errorf("id %q is not a fresh canonical UUID", id)
		}
		seen[id] = true
	}
	for _, sub := range o.SubOrders {
		if sub.OrderID != o.ID {
			t.Errorf("sub-order %s points at order %s, want %s", sub.ID, sub.OrderID, o.ID)
		}
	}
}

func subOrderIDs(o Order) []string {
	var ids []string
	for _, sub := range o.SubOrders {
		ids = append(ids, sub.ID)
	}
	return ids
}

func TestNewOrderRefusesWhatCannotBeSoldTogether(t *testing.T) {
	t.Parallel()
	const missing = "0193a6d0-0000-7000-8000-0000000000ff"
	tests := []struct {
		name     string
		items    []Item
		wantCode string
		wantIn   string // in the message
	}{
		{"a product the catalog does not know", []Item{{lamp, 1}, {missing, 1}}, "product_unavailable", missing},
		{"a draft", []Item{{draft, 1}}, "product_unavailable", draft},
		{"two currencies", []Item{{lamp, 1}, {pounds, 1}}, "mixed_currencies", "one currency"},
	}
	s := &Service{cfg: Config{ReservationTTL: time.Minute}, now: func() time.Time { return checkoutTime }}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := s.newOrder(buyer, tt.items, catalog)
			e, ok := errs.As(err)
			if !ok || e.Kind != errs.Unprocessable || e.Code != tt.wantCode || !strings.Contains(e.Message, tt.wantIn) {
				t.Errorf("newOrder(%v) = %v, want a 422 %s naming %q", tt.items, err, tt.wantCode, tt.wantIn)
			}
		})
	}
}

func TestCheckItemsAcceptsSensibleOrdersOnly(t *testing.T) {
	t.Parallel()
	many := make([]Item, maxLines+1)
	for i := range many {
		many[i] = Item{ProductID: fmt.Sprintf("0193a6d0-0000-7000-8001-%012x", i), Quantity: 1}
	}
	tests := []struct {
		name       string
		items      []Item
		wantCode   string            // empty: accepted
		wantFields map[string]string // for validation_failed
	}{
		{name: "one line", items: []Item{{lamp, 1}}},
		{name: "the largest quantity", items: []Item{{lamp, maxQuantity}}},
		{name: "as many lines as allowed", items: many[:maxLines]},
		{name: "nothing", items: nil, wantCode: "empty_order"},
		{name: "one line too many", items: many, wantCode: "validation_failed",
			wantFields: map[string]string{"items": "at most 100 lines"}},
		{name: "a product twice", items: []Item{{lamp, 1}, {kettle, 1}, {lamp, 2}}, wantCode: "validation_failed",
			wantFields: map[string]string{"items[2].product_id": "appears twice; put the whole quantity on one line"}},
		{name: "an upper-case id", items: []Item{{strings.ToUpper(lamp), 1}}, wantCode: "validation_failed",
			wantFields: map[string]string{"items[0].product_id": "must be a UUID in lower-case canonical form"}},
		{name: "quantities out of range", items: []Item{{lamp, 0}, {kettle, maxQuantity + 1}, {chair, -1}}, wantCode: "validation_failed",
			wantFields: map[string]string{
				"items[0].quantity": "must be between 1 and 1000",
				"items[1].quantity": "must be between 1 and 1000",
				"items[2].quantity": "must be between 1 and 1000",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkItems(tt.items)
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("checkItems: %v, want accepted", err)
				}
				return
			}
			e, ok := errs.As(err)
			if !ok || e.Code != tt.wantCode {
				t.Fatalf("checkItems = %v, want %s", err, tt.wantCode)
			}
			if diff := cmp.Diff(tt.wantFields, e.Fields, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("fields (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAnOrdersItemsAreWhatItsLinesHold(t *testing.T) {
	t.Parallel()
	o := Order{SubOrders: []SubOrder{
		{Lines: []Line{{ProductID: kettle, Quantity: 3}}},
		{Lines: []Line{{ProductID: chair, Quantity: 1}, {ProductID: lamp, Quantity: 2}}},
	}}
	want := []Item{{kettle, 3}, {chair, 1}, {lamp, 2}}
	if diff := cmp.Diff(want, o.items()); diff != "" {
		t.Errorf("items (-want +got):\n%s", diff)
	}
}
