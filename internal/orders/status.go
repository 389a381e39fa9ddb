package orders

import "github.com/marketplace-go/marketplace/internal/platform/errs"

// orderMoves and subOrderMoves are the state machines: every legal move,
// nothing else. Who may make a move is checked by the operation itself.
var (
	orderMoves = map[Status][]Status{
		PendingPayment: {Paid, PaymentFailed, Cancelled},
		Paid:           {Cancelled, Delivered},
	}
	subOrderMoves = map[Status][]Status{
		PendingPayment: {Paid, PaymentFailed, Cancelled},
		Paid:           {Shipped, Cancelled},
		Shipped:        {Delivered},
	}
)

func legal(moves map[Status][]Status, from, to Status) bool {
	for _, s := range moves[from] {
		if s == to {
			return true
		}
	}
	return false
}

// checkOrderMove returns a 409 for a move the order's state machine does
// not have.
func checkOrderMove(from, to Status) error {
	if !legal(orderMoves, from, to) {
		return illegalMove("order", from, to)
	}
	return nil
}

func checkSubOrderMove(from, to Status) error {
	if !legal(subOrderMoves, from, to) {
		return illegalMove("sub-order", from, to)
	}
	return nil
}

func illegalMove(what string, from, to Status) error {
	return errs.New(errs.Conflict, "illegal_transition", "a %s cannot go from %s to %s", what, from, to)
}
