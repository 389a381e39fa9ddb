package orders

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ExpireReservations cancels unpaid orders whose reservation ran out and
// releases their stock, a page of limit orders at a time, until none is
// left. Several instances may run it at once: each order is locked and
// re-checked in its own transaction. An order that fails is reported and
// passed over: each page starts after the last of the one before, so
// however many always fail, they do not keep the others' stock reserved.
// The error names the first maxReportedFailures of them and counts the
// rest: orders sealed under a key the service no longer has can number
// hundreds of thousands, and one log line must not hold them all.
func (s *Service) ExpireReservations(ctx context.Context, limit int) (int, error) {
	now, limit := s.now(), max(limit, 1)
	n, unreported := 0, 0
	var failed []error
	var after Expiry
	for {
		page, err := s.store.ExpiredOrders(ctx, now, after, limit)
		if err != nil {
			failed = append(failed, err)
			break
		}
		for _, e := range page {
			if ctx.Err() != nil {
				break
			}
			switch err := s.expire(ctx, e.OrderID); {
			case err == nil:
				n++
			case errors.Is(err, errSkip), errors.Is(err, errPaymentRunning):
			case len(failed) < maxReportedFailures:
				failed = append(failed, fmt.Errorf("expire order %s: %w", e.OrderID, err))
			default:
				unreported++
			}
		}
		if len(page) < limit || ctx.Err() != nil {
			break
		}
		after = page[len(page)-1]
	}
	if unreported > 0 {
		failed = append(failed, fmt.Errorf("%d more orders could not be expired", unreported))
	}
	if err := ctx.Err(); err != nil {
		failed = append(failed, err) // the sweep stopped short
	}
	if n > 0 {
		s.onCommit()
		s.metrics.ReservationsExpired(n)
	}
	return n, errors.Join(failed...)
}

// maxReportedFailures is how many of a sweep's failed orders its error
// names.
const maxReportedFailures = 10

// expire cancels the order id if it is still unpaid past its reservation.
func (s *Service) expire(ctx context.Context, id string) error {
	return s.store.InTx(ctx, func(tx Tx) error {
		o, err := tx.LockOrder(ctx, id)
		if err != nil {
			return err
		}
		if o.Status != PendingPayment || s.now().Before(o.ReservedUntil) {
			return errSkip // paid, or handled by another instance meanwhile
		}
		return s.cancel(ctx, tx, o, ActorSystem, "reservation expired")
	})
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
