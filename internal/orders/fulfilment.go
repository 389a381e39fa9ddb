package orders

import (
	"context"
	"errors"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
)

// Ship marks a paid sub-order shipped by its seller, with the carrier's
// tracking number.
func (s *Service) Ship(ctx context.Context, c auth.Claims, subOrderID, tracking string) (SubOrder, error) {
	if err := checkText("tracking_number", tracking, 100); err != nil {
		return SubOrder{}, err
	}
	return s.fulfil(ctx, c, subOrderID, Shipped, tracking)
}

// Deliver marks a shipped sub-order delivered; the order is delivered once
// all of its sub-orders are.
func (s *Service) Deliver(ctx context.Context, c auth.Claims, subOrderID string) (SubOrder, error) {
	return s.fulfil(ctx, c, subOrderID, Delivered, "")
}

func (s *Service) fulfil(ctx context.Context, c auth.Claims, subOrderID string, to Status, tracking string) (SubOrder, error) {
	if checkID("id", subOrderID) != nil {
		return SubOrder{}, errSubOrderNotFound
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		orderID, err := tx.OrderOfSubOrder(ctx, subOrderID)
		if errors.Is(err, ErrNotFound) {
			return errSubOrderNotFound
		}
		if err != nil {
			return err
		}
		o, err := tx.LockOrder(ctx, orderID)
		if err != nil {
			return err
		}
		i := subIndex(o, subOrderID)
		sub := &o.SubOrders[i]
		if sub.SellerID != c.UserID && !c.HasRole(auth.RoleAdmin) {
			return errSubOrderNotFound
		}
		if err := checkSubOrderMove(sub.Status, to); err != nil {
			return err
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		changes := []Change{{SubOrderID: sub.ID, From: sub.Status, To: to, Actor: c.UserID, At: now}}
		sub.Status, sub.UpdatedAt = to, now
		if tracking != "" {
			sub.TrackingNumber = tracking
			changes[0].Reason = "tracking number " + tracking
		}
		o.Version, o.UpdatedAt = o.Version+1, now
		typ := contracts.SubOrderShipped
		if to == Delivered {
			typ = contracts.SubOrderDelivered
		}
		if to == Delivered && allDelivered(o) {
			changes = append(changes, Change{From: o.Status, To: Delivered, Actor: ActorSystem, Reason: "every sub-order delivered", At: now})
			o.Status = Delivered
		}
		ev, err := orderEvent(typ, o, sub.ID, changes[0].Reason)
		if err != nil {
			return err
		}
		evs := []events.Event{ev}
		if o.Status == Delivered {
			o.Version++ // a second change, so each event has its own sequence
			done, err := orderEvent(contracts.OrderDelivered, o, "", "every sub-order delivered")
			if err != nil {
				return err
			}
			evs = append(evs, done)
		}
		if err := tx.UpdateOrder(ctx, o); err != nil {
			return err
		}
		if err := tx.AddHistory(ctx, o.ID, changes); err != nil {
			return err
		}
		return tx.AddEvents(ctx, evs...)
	})
	if err != nil {
		return SubOrder{}, err
	}
	s.onCommit()
	return s.store.SubOrder(ctx, subOrderID)
}

func subIndex(o Order, subOrderID string) int {
	for i, sub := range o.SubOrders {
		if sub.ID == subOrderID {
			return i
		}
	}
	panic("orders: sub-order " + subOrderID + " not in its own order") // the store returned them together
}

func allDelivered(o Order) bool {
	for _, sub := range o.SubOrders {
		if sub.Status != Delivered {
			return false
		}
	}
	return true
}
