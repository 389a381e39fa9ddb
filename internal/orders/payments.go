package orders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/auth"
	"github.com/marketplace-go/marketplace/internal/platform/contracts"
)

// chargeKey is the idempotency key of an order's one charge: every attempt
// to pay an order reaches the provider as the same charge.
func chargeKey(orderID string) string { return "order-" + orderID + "-charge" }

func refundKey(orderID string) string { return "order-" + orderID + "-refund" }

// Pay charges an unpaid order. It is safe to repeat and to run
// concurrently: the order's payment row is created once, and every attempt
// asks the provider under the order's key. When the provider's answer does
// not come, the order stays pending with its payment processing, and the
// background resolver asks again later.
func (s *Service) Pay(ctx context.Context, c auth.Claims, orderID, method string) (Order, error) {
	if err := checkText("payment_method", method, 255); err != nil {
		return Order{}, err
	}
	if checkID("id", orderID) != nil {
		return Order{}, errOrderNotFound
	}
	var pay Payment
	var settled bool
	err := s.store.InTx(ctx, func(tx Tx) error {
		o, err := tx.LockOrder(ctx, orderID)
		if errors.Is(err, ErrNotFound) || err == nil && o.BuyerID != c.UserID {
			return errOrderNotFound
		}
		if err != nil {
			return err
		}
		switch o.Status {
		case Paid, Delivered:
			settled = true // paid already: answer with the order, charge nothing
			return nil
		case PendingPayment:
		default:
			return checkOrderMove(o.Status, Paid)
		}
		if o.Payment != nil {
			// An earlier attempt's outcome is unknown: ask again under its
			// key, while the provider still keeps it.
			pay = *o.Payment
			if s.now().Sub(pay.CreatedAt) >= KeyWindow {
				return errPaymentUnresolved
			}
			return nil
		}
		if !s.now().Before(o.ReservedUntil) {
			return errReservationGone
		}
		pay = Payment{OrderID: o.ID, Provider: s.cfg.Provider, ChargeKey: chargeKey(o.ID), PaymentMethod: method,
			Amount: o.Total, Status: PaymentProcessing, UpdatedAt: s.now().UTC()}
		return tx.SavePayment(ctx, pay)
	})
	if err != nil {
		return Order{}, err
	}
	if !settled {
		if err := s.charge(ctx, pay); err != nil {
			s.log.WarnContext(ctx, "payment outcome unknown; it will be resolved in the background", "order_id", orderID, "err", err)
		}
	}
	return s.store.Order(ctx, orderID)
}

// charge asks the provider for the payment's charge and records the
// answer. An error means the outcome is still unknown.
func (s *Service) charge(ctx context.Context, pay Payment) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ChargeTimeout)
	defer cancel()
	ch, err := s.gateway.Charge(cctx, ChargeRequest{Key: pay.ChargeKey, OrderID: pay.OrderID, Amount: pay.Amount.Amount,
		Currency: pay.Amount.Currency, PaymentMethod: pay.PaymentMethod})
	// A refusal proves nothing was taken only on the first attempt: after
	// an attempt whose answer was lost, the money may have moved then.
	first := pay.Attempts == 0
	switch {
	case first && errors.Is(err, ErrPaymentMethodInvalid):
		ch, err = Charge{Status: ChargeDeclined, DeclineReason: "invalid_payment_method"}, nil
	case first && errors.Is(err, ErrPaymentRejected):
		// Final, and nothing was taken: fail the payment rather than ask
		// again for ever.
		s.log.ErrorContext(ctx, "payment provider rejected a charge", "order_id", pay.OrderID, "err", err)
		ch, err = Charge{Status: ChargeDeclined, DeclineReason: "rejected_by_provider"}, nil
	}
	if err != nil {
		s.metrics.PaymentAttempt(pay.Provider, "unknown")
		s.countAttempt(context.WithoutCancel(ctx), pay.OrderID)
		return fmt.Errorf("charge order %s: %w", pay.OrderID, err)
	}
	s.metrics.PaymentAttempt(pay.Provider, string(ch.Status))
	// The provider has answered: record it even if the caller has gone.
	return s.recordCharge(context.WithoutCancel(ctx), pay.OrderID, ch, ActorSystem)
}

// countAttempt records an attempt whose outcome is unknown. It reads the
// payment under the order's lock: an outcome recorded meanwhile (by a
// webhook, by another instance) must not be overwritten by the stale copy
// this attempt started from.
func (s *Service) countAttempt(ctx context.Context, orderID string) {
	err := s.store.InTx(ctx, func(tx Tx) error {
		o, err := tx.LockOrder(ctx, orderID)
		if err != nil || o.Payment == nil || o.Payment.Status != PaymentProcessing {
			return err
		}
		p := *o.Payment
		p.Attempts++
		p.UpdatedAt = s.now().UTC()
		return tx.SavePayment(ctx, p)
	})
	if err != nil {
		s.log.WarnContext(ctx, "record payment attempt", "order_id", orderID, "err", err)
	}
}

// recordCharge applies a charge's outcome to its order: paid, with the
// reservation turned into a sale, or payment_failed, with the stock
// released. A second report of the same outcome changes nothing.
func (s *Service) recordCharge(ctx context.Context, orderID string, ch Charge, actor string) error {
	var paid *Payment // set when this transaction turned the order paid
	err := s.store.InTx(ctx, func(tx Tx) error {
		paid = nil
		o, err := tx.LockOrder(ctx, orderID)
		if err != nil {
			return err
		}
		if o.Payment == nil {
			return nil // no charge was asked for
		}
		pay := *o.Payment
		if pay.Status == PaymentDeclined && ch.Status == ChargeSucceeded {
			// The provider took the money after all (a late answer to an
			// attempt recorded as declined): keep the order as it is and
			// give the money back.
			pay.Status, pay.ChargeID, pay.UpdatedAt = PaymentSucceeded, ch.ID, s.now().UTC()
			s.log.ErrorContext(ctx, "a charge recorded as declined succeeded; refunding it", "order_id", orderID)
			return s.refundLater(ctx, tx, o, pay)
		}
		if pay.Status != PaymentProcessing {
			return nil // recorded already
		}
		now := s.now().UTC().Truncate(time.Microsecond)
		pay.ChargeID, pay.UpdatedAt, pay.Attempts = ch.ID, now, pay.Attempts+1
		var typ, reason string
		var to Status
		if ch.Status == ChargeSucceeded {
			pay.Status, to, typ, reason = PaymentSucceeded, Paid, contracts.OrderPaid, "payment succeeded"
		} else {
			pay.Status, pay.DeclineReason, to, typ = PaymentDeclined, ch.DeclineReason, PaymentFailed, contracts.OrderPaymentFailed
			reason = "payment declined: " + ch.DeclineReason
		}
		if err := tx.SavePayment(ctx, pay); err != nil {
			return err
		}
		if o.Status != PendingPayment {
			// The order left pending_payment while the charge was out. Cancel
			// and expiry wait for the outcome, so this should not happen;
			// if it does, no money is kept for an order not going ahead.
			if pay.Status == PaymentSucceeded {
				return s.refundLater(ctx, tx, o, pay)
			}
			return nil
		}
		if err := s.move(ctx, tx, &o, to, actor, reason, typ); err != nil {
			return err
		}
		// The stock changes last, as at checkout: its row locks are then
		// held for the commit's round trip only, however many buyers pay
		// for one product at once.
		if to == Paid {
			paid = &pay
			return tx.Consume(ctx, o.items())
		}
		return tx.Release(ctx, o.items())
	})
	if err != nil {
		return fmt.Errorf("record charge of order %s: %w", orderID, err)
	}
	s.onCommit()
	if paid != nil {
		s.metrics.OrderPaid(paid.Amount, paid.Provider)
	}
	return nil
}

// move changes an order and its open sub-orders to a new status, with
// history and an event, in tx.
func (s *Service) move(ctx context.Context, tx Tx, o *Order, to Status, actor, reason, eventType string) error {
	if err := checkOrderMove(o.Status, to); err != nil {
		return err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	changes := []Change{{From: o.Status, To: to, Actor: actor, Reason: reason, At: now}}
	o.Status, o.Version, o.UpdatedAt = to, o.Version+1, now
	for i := range o.SubOrders {
		sub := &o.SubOrders[i]
		if legal(subOrderMoves, sub.Status, to) {
			changes = append(changes, Change{SubOrderID: sub.ID, From: sub.Status, To: to, Actor: actor, Reason: reason, At: now})
			sub.Status, sub.UpdatedAt = to, now
		}
	}
	ev, err := orderEvent(eventType, *o, "", reason)
	if err != nil {
		return err
	}
	if err := tx.UpdateOrder(ctx, *o); err != nil {
		return err
	}
	if err := tx.AddHistory(ctx, o.ID, changes); err != nil {
		return err
	}
	return tx.AddEvents(ctx, ev)
}

// Cancel cancels an order for its buyer (or an admin) before any of it has
// shipped. Unpaid, its stock is released; paid, its units go back on hand
// and the money is refunded.
func (s *Service) Cancel(ctx context.Context, c auth.Claims, orderID, reason string) (Order, error) {
	if reason != "" {
		if err := checkText("reason", reason, 500); err != nil {
			return Order{}, err
		}
	}
	if checkID("id", orderID) != nil {
		return Order{}, errOrderNotFound
	}
	err := s.store.InTx(ctx, func(tx Tx) error {
		o, err := tx.LockOrder(ctx, orderID)
		if errors.Is(err, ErrNotFound) || err == nil && o.BuyerID != c.UserID && !c.HasRole(auth.RoleAdmin) {
			return errOrderNotFound
		}
		if err != nil {
			return err
		}
		if reason == "" {
			reason = "cancelled by the buyer"
			if o.BuyerID != c.UserID {
				reason = "cancelled by an admin"
			}
		}
		return s.cancel(ctx, tx, o, c.UserID, reason)
	})
	if err != nil {
		return Order{}, err
	}
	s.onCommit()
	s.settleRefund(ctx, orderID)
	return s.store.Order(ctx, orderID)
}

func (s *Service) cancel(ctx context.Context, tx Tx, o Order, actor, reason string) error {
	switch o.Status {
	case PendingPayment:
		if o.Payment != nil && o.Payment.Status == PaymentProcessing {
			return errPaymentRunning
		}
		if err := tx.Release(ctx, o.items()); err != nil {
			return err
		}
		return s.move(ctx, tx, &o, Cancelled, actor, reason, contracts.OrderCancelled)
	case Paid:
		for _, sub := range o.SubOrders {
			if sub.Status == Shipped || sub.Status == Delivered {
				return errAlreadyShipped
			}
		}
		if err := tx.Restock(ctx, o.items()); err != nil {
			return err
		}
		if err := s.move(ctx, tx, &o, Cancelled, actor, reason, contracts.OrderCancelled); err != nil {
			return err
		}
		return s.refundLater(ctx, tx, o, *o.Payment)
	default:
		return checkOrderMove(o.Status, Cancelled)
	}
}

// refundLater marks the payment for refund; settleRefund or the resolver
// makes it.
func (s *Service) refundLater(ctx context.Context, tx Tx, o Order, pay Payment) error {
	pay.RefundStatus, pay.UpdatedAt = RefundPending, s.now().UTC()
	return tx.SavePayment(ctx, pay)
}

// settleRefund makes a pending refund now; a failure is left to the
// resolver, which tries again under the same key.
func (s *Service) settleRefund(ctx context.Context, orderID string) {
	o, err := s.store.Order(ctx, orderID)
	if err != nil || o.Payment == nil || o.Payment.RefundStatus != RefundPending {
		return
	}
	if err := s.refund(ctx, *o.Payment); err != nil {
		s.log.WarnContext(ctx, "refund not made yet; it will be retried", "order_id", orderID, "err", err)
	}
}

func (s *Service) refund(ctx context.Context, pay Payment) error {
	cctx, cancel := context.WithTimeout(ctx, s.cfg.ChargeTimeout)
	defer cancel()
	r, err := s.gateway.Refund(cctx, RefundRequest{Key: refundKey(pay.OrderID), ChargeID: pay.ChargeID,
		Amount: pay.Amount.Amount, Currency: pay.Amount.Currency})
	status := RefundRefunded
	switch {
	case errors.Is(err, ErrPaymentRejected):
		// Final: a person has to look at it; stop asking.
		s.log.ErrorContext(ctx, "payment provider rejected a refund; it needs a person", "order_id", pay.OrderID, "err", err)
		status = RefundFailed
	case err != nil:
		return fmt.Errorf("refund order %s: %w", pay.OrderID, err)
	}
	ctx = context.WithoutCancel(ctx) // the refund is made: record it even if the caller has gone
	recorded := false
	err = s.store.InTx(ctx, func(tx Tx) error {
		recorded = false
		o, err := tx.LockOrder(ctx, pay.OrderID)
		if err != nil || o.Payment == nil || o.Payment.RefundStatus != RefundPending {
			return err
		}
		p := *o.Payment
		p.RefundStatus, p.RefundID, p.UpdatedAt = status, r.ID, s.now().UTC()
		recorded = true
		return tx.SavePayment(ctx, p)
	})
	if err == nil && recorded {
		s.metrics.Refund(pay.Amount, pay.Provider, string(status))
	}
	return err
}

// PaymentNotice is a provider's report of a charge's outcome, as a webhook
// brings it.
type PaymentNotice struct {
	OrderID  string
	ChargeID string
	Status   ChargeStatus
	Reason   string
}

// RecordPaymentNotice applies a provider's report. Reports for unknown
// orders, or for outcomes already recorded, change nothing.
func (s *Service) RecordPaymentNotice(ctx context.Context, n PaymentNotice) error {
	if checkID("order_id", n.OrderID) != nil || n.Status == "" {
		return nil
	}
	err := s.recordCharge(ctx, n.OrderID, Charge{ID: n.ChargeID, Status: n.Status, DeclineReason: n.Reason}, "payment provider")
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// items is what an order holds in stock.
func (o Order) items() []Item {
	var items []Item
	for _, sub := range o.SubOrders {
		for _, l := range sub.Lines {
			items = append(items, Item{ProductID: l.ProductID, Quantity: l.Quantity})
		}
	}
	return items
}
