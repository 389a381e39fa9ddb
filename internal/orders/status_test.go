package orders

import (
	"testing"

	"github.com/marketplace-go/marketplace/internal/platform/errs"
)

var allStatuses = []Status{PendingPayment, Paid, PaymentFailed, Cancelled, Shipped, Delivered}

func TestTheOrderStateMachineHasTheseMovesAndNoOthers(t *testing.T) {
	t.Parallel()
	legalMoves := map[[2]Status]bool{
		{PendingPayment, Paid}:          true, // the charge succeeded
		{PendingPayment, PaymentFailed}: true, // the charge was declined
		{PendingPayment, Cancelled}:     true, // by the buyer, an admin or the expiry of the reservation
		{Paid, Cancelled}:               true, // before anything shipped; refunded
		{Paid, Delivered}:               true, // once every sub-order is
	}
	checkMachine(t, "order", checkOrderMove, legalMoves)
}

func TestTheSubOrderStateMachineHasTheseMovesAndNoOthers(t *testing.T) {
	t.Parallel()
	legalMoves := map[[2]Status]bool{
		{PendingPayment, Paid}:          true, // with its order
		{PendingPayment, PaymentFailed}: true,
		{PendingPayment, Cancelled}:     true,
		{Paid, Shipped}:                 true, // by its seller
		{Paid, Cancelled}:               true, // with its order
		{Shipped, Delivered}:            true, // by its seller
	}
	checkMachine(t, "sub-order", checkSubOrderMove, legalMoves)
}

// checkMachine tries every move between two statuses, staying put
// included: the legal ones pass, the others are a 409 illegal_transition
// naming both ends.
func checkMachine(t *testing.T, what string, check func(from, to Status) error, legalMoves map[[2]Status]bool) {
	t.Helper()
	for _, from := range allStatuses {
		for _, to := range allStatuses {
			t.Run(string(from)+" to "+string(to), func(t *testing.T) {
				err := check(from, to)
				if legalMoves[[2]Status{from, to}] {
					if err != nil {
						t.Errorf("a %s moving from %s to %s: %v, want it allowed", what, from, to, err)
					}
					return
				}
				e, ok := errs.As(err)
				if !ok || e.Kind != errs.Conflict || e.Code != "illegal_transition" {
					t.Fatalf("a %s moving from %s to %s: %v, want a conflict illegal_transition", what, from, to, err)
				}
				if want := "a " + what + " cannot go from " + string(from) + " to " + string(to); e.Message != want {
					t.Errorf("message %q, want %q", e.Message, want)
				}
			})
		}
	}
}

func TestFinalStatusesHaveNoWayOut(t *testing.T) {
	t.Parallel()
	for _, final := range []Status{PaymentFailed, Cancelled, Delivered} {
		for _, to := range allStatuses {
			if legal(orderMoves, final, to) || legal(subOrderMoves, final, to) {
				t.Errorf("%s, a final status, may still move to %s", final, to)
			}
		}
	}
}

func TestWhichSubOrdersFollowTheirOrder(t *testing.T) {
	t.Parallel()
	// move takes along every sub-order for which the order's new status is
	// a legal move: all of them while unpaid, the unshipped ones on a
	// cancellation after payment, none that already shipped.
	tests := []struct {
		sub, order Status
		follows    bool
	}{
		{PendingPayment, Paid, true},
		{PendingPayment, PaymentFailed, true},
		{PendingPayment, Cancelled, true},
		{Paid, Cancelled, true},
		{Shipped, Cancelled, false},
		{Delivered, Cancelled, false},
		{Paid, Delivered, false}, // a seller delivers its own sub-order
	}
	for _, tt := range tests {
		if got := legal(subOrderMoves, tt.sub, tt.order); got != tt.follows {
			t.Errorf("a %s sub-order follows its order to %s: %v, want %v", tt.sub, tt.order, got, tt.follows)
		}
	}
}

func TestAnOrderIsDeliveredOnlyWhenEverySubOrderIs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		subs []Status
		want bool
	}{
		{"one delivered", []Status{Delivered}, true},
		{"all delivered", []Status{Delivered, Delivered, Delivered}, true},
		{"one still shipped", []Status{Delivered, Shipped}, false},
		{"one still paid", []Status{Paid, Delivered}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var o Order
			for _, s := range tt.subs {
				o.SubOrders = append(o.SubOrders, SubOrder{Status: s})
			}
			if got := allDelivered(o); got != tt.want {
				t.Errorf("allDelivered(%v) = %v, want %v", tt.subs, got, tt.want)
			}
		})
	}
}
