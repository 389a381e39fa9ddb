package orders

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ExpireReservations cancels unpaid orders whose reservation ran out and
// releases their stock. Several instances may run it at once: each order
// is locked and re-checked in its own transaction. An order that fails is
// reported and passed over: the oldest comes first in every sweep, and one
// that always fails must not keep the others' stock reserved.
func (s *Service) ExpireReservations(ctx context.Context, limit int) (int, error) {
	ids, err := s.store.ExpiredOrders(ctx, s.now(), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	var failed []error
	for _, id := range ids {
		if ctx.Err() != nil {
			failed = append(failed, ctx.Err())
			break
		}
		err := s.store.InTx(ctx, func(tx Tx) error {
			o, err := tx.LockOrder(ctx, id)
			if err != nil {
				return err
			}
			if o.Status != PendingPayment || s.now().Before(o.ReservedUntil) {
				return errSkip // paid, or handled by another instance meanwhile
			}
			return s.cancel(ctx, tx, o, ActorSystem, "reservation expired")
		})
		switch {
		case err == nil:
			n++
		case errors.Is(err, errSkip), errors.Is(err, errPaymentRunning):
		default:
			failed = append(failed, fmt.Errorf("expire order %s: %w", id, err))
		}
	}
	if n > 0 {
		s.onCommit()
		s.metrics.ReservationsExpired(n)
	}
	return n, errors.Join(failed...)
}

var errSkip = errors.New("skip")

// ResolvePayments settles charges whose outcome was never recorded (a
// timeout, a crash) by asking the provider again under the same key, and
// makes refunds that were not made. grace leaves alone those a request is
// still working on.
func (s *Service) ResolvePayments(ctx context.Context, grace time.Duration, limit int) (int, error) {
	pays, err := s.store.UnresolvedPayments(ctx, s.now().Add(-grace), limit)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range pays {
		if p.Status == PaymentProcessing {
			err = s.charge(ctx, p)
		} else {
			err = s.refund(ctx, p)
		}
		if err != nil {
			s.log.WarnContext(ctx, "payment still unresolved", "order_id", p.OrderID, "attempts", p.Attempts, "err", err)
			continue
		}
		n++
	}
	return n, nil
}

// RunBackground expires reservations and resolves payments every interval
// until ctx ends.
func (s *Service) RunBackground(ctx context.Context, interval, grace time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.ExpireReservations(ctx, 100); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "expire reservations", "err", err)
		}
		if _, err := s.ResolvePayments(ctx, grace, 100); err != nil && ctx.Err() == nil {
			s.log.WarnContext(ctx, "resolve payments", "err", err)
		}
	}
}
