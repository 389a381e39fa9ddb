package payment_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/orders"
	"github.com/marketplace-go/marketplace/internal/orders/payment"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

func chargeRequest(key, paymentMethod string) orders.ChargeRequest {
	return orders.ChargeRequest{
		Key:           key,
		OrderID:       "order-" + key,
		Amount:        2599,
		Currency:      "EUR",
		PaymentMethod: paymentMethod,
	}
}

func TestSimulatedChargeOutcomes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		cfg           payment.SimulatedConfig
		paymentMethod string
		wantStatus    orders.ChargeStatus // for every one of 50 keys
		wantErr       error
	}{
		{
			name:          "a decline rate of 0 never declines a good card",
			cfg:           payment.SimulatedConfig{DeclineRate: 0, Seed: 1},
			paymentMethod: "pm_card_visa",
			wantStatus:    orders.ChargeSucceeded,
		},
		{
			name:          "a decline rate of 1 declines every card",
			cfg:           payment.SimulatedConfig{DeclineRate: 1, Seed: 1},
			paymentMethod: "pm_card_visa",
			wantStatus:    orders.ChargeDeclined,
		},
		{
			name:          "any other non-empty token succeeds like pm_card_visa",
			cfg:           payment.SimulatedConfig{Seed: 1},
			paymentMethod: "pm_1QsomethingElse",
			wantStatus:    orders.ChargeSucceeded,
		},
		{
			name:          "pm_card_declined declines even at a decline rate of 0",
			cfg:           payment.SimulatedConfig{DeclineRate: 0, Seed: 1},
			paymentMethod: payment.DeclinedPaymentMethod,
			wantStatus:    orders.ChargeDeclined,
		},
		{
			name:          "an empty payment method is invalid and charges nothing",
			cfg:           payment.SimulatedConfig{Seed: 1},
			paymentMethod: "",
			wantErr:       orders.ErrPaymentMethodInvalid,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := payment.NewSimulated(tt.cfg)
			for i := range 50 {
				got, err := g.Charge(t.Context(), chargeRequest(fmt.Sprint("key-", i), tt.paymentMethod))
				if tt.wantErr != nil {
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("Charge() error = %v, want %v", err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("Charge() error = %v", err)
				}
				if got.Status != tt.wantStatus {
					t.Fatalf("Charge() status = %q, want %q", got.Status, tt.wantStatus)
				}
				if got.ID == "" {
					t.Fatal("Charge() returned no id")
				}
				if got.Status == orders.ChargeDeclined && got.DeclineReason == "" {
					t.Fatal("a declined charge has no reason")
				}
			}
			wantCount := 0
			if tt.wantErr == nil && tt.wantStatus == orders.ChargeSucceeded {
				wantCount = 50
			}
			if n := g.ChargeCount(); n != wantCount {
				t.Fatalf("ChargeCount() = %d, want %d", n, wantCount)
			}
		})
	}
}

func TestSimulatedDeclineRateAndSeed(t *testing.T) {
	t.Parallel()
	outcomes := func(seed int64) []orders.Charge {
		g := payment.NewSimulated(payment.SimulatedConfig{DeclineRate: 0.3, Seed: seed})
		var out []orders.Charge
		for i := range 1000 {
			c, err := g.Charge(t.Context(), chargeRequest(fmt.Sprint("key-", i), "pm_card_visa"))
			if err != nil {
				t.Fatalf("Charge() error = %v", err)
			}
			out = append(out, c)
		}
		return out
	}

	t.Run("the same seed gives the same outcomes and ids", func(t *testing.T) {
		a, b := outcomes(42), outcomes(42)
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("charge %d: %+v, then %+v", i, a[i], b[i])
			}
		}
	})
	t.Run("another seed gives other ids", func(t *testing.T) {
		if a, b := outcomes(42), outcomes(43); a[0].ID == b[0].ID {
			t.Fatalf("seeds 42 and 43 both gave id %s", a[0].ID)
		}
	})
	t.Run("a decline rate of 0.3 declines about 30 percent", func(t *testing.T) {
		declined := 0
		for _, c := range outcomes(7) {
			if c.Status == orders.ChargeDeclined {
				declined++
			}
		}
		// 1000 draws: 300 expected, the standard deviation is about 14.5.
		if declined < 230 || declined > 370 {
			t.Fatalf("%d of 1000 declined, want about 300", declined)
		}
	})
}

func TestSimulatedIdempotency(t *testing.T) {
	t.Parallel()

	t.Run("100 concurrent calls with one key make one charge", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Latency: time.Millisecond, DeclineRate: 0.5, Seed: 3})
		req := chargeRequest("one-key", "pm_card_visa")
		results := make([]orders.Charge, 100)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				c, err := g.Charge(t.Context(), req)
				if err != nil {
					t.Errorf("Charge() error = %v", err)
				}
				results[i] = c
			})
		}
		wg.Wait()
		for i, c := range results {
			if c != results[0] {
				t.Fatalf("call %d got %+v, call 0 got %+v", i, c, results[0])
			}
		}
		if n := len(g.Charges()); n != 1 {
			t.Fatalf("len(Charges()) = %d, want 1", n)
		}
	})

	t.Run("200 concurrent calls over 20 keys make 20 charges", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Seed: 4})
		var wg sync.WaitGroup
		for i := range 200 {
			wg.Go(func() {
				if _, err := g.Charge(t.Context(), chargeRequest(fmt.Sprint("key-", i%20), "pm_card_visa")); err != nil {
					t.Errorf("Charge() error = %v", err)
				}
				_ = g.ChargeCount() // reads race with writes too
			})
		}
		wg.Wait()
		if n := g.ChargeCount(); n != 20 {
			t.Fatalf("ChargeCount() = %d, want 20", n)
		}
	})

	t.Run("a key reused with another amount is refused and charges nothing more", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Seed: 5})
		req := chargeRequest("k", "pm_card_visa")
		if _, err := g.Charge(t.Context(), req); err != nil {
			t.Fatalf("Charge() error = %v", err)
		}
		req.Amount++
		if _, err := g.Charge(t.Context(), req); !errors.Is(err, payment.ErrKeyReused) {
			t.Fatalf("Charge() error = %v, want ErrKeyReused", err)
		}
		if n := g.ChargeCount(); n != 1 {
			t.Fatalf("ChargeCount() = %d, want 1", n)
		}
	})
}

func TestSimulatedContext(t *testing.T) {
	t.Parallel()

	t.Run("a context cancelled before the call charges nothing", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Seed: 6})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := g.Charge(ctx, chargeRequest("k", "pm_card_visa")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Charge() error = %v, want context.Canceled", err)
		}
		if n := len(g.Charges()); n != 0 {
			t.Fatalf("len(Charges()) = %d, want 0", n)
		}
	})

	t.Run("a context cancelled during the latency fails after charging and the repeat returns that charge", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Latency: 300 * time.Millisecond, Seed: 7})
		req := chargeRequest("k", "pm_card_visa")
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			_, err := g.Charge(ctx, req)
			errc <- err
		}()
		// Cancel as soon as the charge is recorded, well inside the latency.
		eventually.True(t, "the charge recorded", func() bool {
			select {
			case err := <-errc:
				t.Fatalf("Charge() returned %v before charging", err)
			default:
			}
			return g.ChargeCount() > 0
		})
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("Charge() error = %v, want context.Canceled", err)
		}

		got, err := g.Charge(t.Context(), req)
		if err != nil {
			t.Fatalf("repeated Charge() error = %v", err)
		}
		if want := g.Charges()[0]; got != want {
			t.Fatalf("repeated Charge() = %+v, want the recorded %+v", got, want)
		}
		if n := g.ChargeCount(); n != 1 {
			t.Fatalf("ChargeCount() = %d, want 1", n)
		}
	})

	t.Run("a context deadline shorter than the latency returns the deadline error", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Latency: time.Hour, Seed: 8})
		ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
		defer cancel()
		if _, err := g.Charge(ctx, chargeRequest("k", "pm_card_visa")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Charge() error = %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestSimulatedRefund(t *testing.T) {
	t.Parallel()
	newCharged := func(t *testing.T) (*payment.Simulated, orders.Charge) {
		t.Helper()
		g := payment.NewSimulated(payment.SimulatedConfig{Seed: 9})
		c, err := g.Charge(t.Context(), chargeRequest("charge-key", "pm_card_visa"))
		if err != nil || c.Status != orders.ChargeSucceeded {
			t.Fatalf("Charge() = %+v, %v", c, err)
		}
		return g, c
	}

	tests := []struct {
		name        string
		refunds     func(charge orders.Charge) []orders.RefundRequest
		wantErr     error // of the last refund
		wantRefunds int
	}{
		{
			name: "refunding twice with the same key refunds once",
			refunds: func(c orders.Charge) []orders.RefundRequest {
				r := orders.RefundRequest{Key: "refund-key", ChargeID: c.ID, Amount: 2599, Currency: "EUR"}
				return []orders.RefundRequest{r, r}
			},
			wantRefunds: 1,
		},
		{
			name: "two partial refunds under two keys both refund",
			refunds: func(c orders.Charge) []orders.RefundRequest {
				return []orders.RefundRequest{
					{Key: "r1", ChargeID: c.ID, Amount: 1000, Currency: "EUR"},
					{Key: "r2", ChargeID: c.ID, Amount: 1599, Currency: "EUR"},
				}
			},
			wantRefunds: 2,
		},
		{
			name: "refunding more than is left is rejected",
			refunds: func(c orders.Charge) []orders.RefundRequest {
				return []orders.RefundRequest{
					{Key: "r1", ChargeID: c.ID, Amount: 0, Currency: "EUR"}, // all of it
					{Key: "r2", ChargeID: c.ID, Amount: 1, Currency: "EUR"},
				}
			},
			wantErr:     payment.ErrRejected,
			wantRefunds: 1,
		},
		{
			name: "refunding an unknown charge is an error",
			refunds: func(orders.Charge) []orders.RefundRequest {
				return []orders.RefundRequest{{Key: "r1", ChargeID: "ch_sim_unknown", Amount: 100, Currency: "EUR"}}
			},
			wantErr: payment.ErrRejected,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g, charge := newCharged(t)
			var err error
			for _, r := range tt.refunds(charge) {
				var refund orders.Refund
				refund, err = g.Refund(t.Context(), r)
				if err == nil && refund.ID == "" {
					t.Fatal("Refund() returned no id")
				}
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("last Refund() error = %v, want %v", err, tt.wantErr)
			}
			if n := len(g.Refunds()); n != tt.wantRefunds {
				t.Fatalf("len(Refunds()) = %d, want %d", n, tt.wantRefunds)
			}
		})
	}

	t.Run("refunding a declined charge is an error", func(t *testing.T) {
		t.Parallel()
		g := payment.NewSimulated(payment.SimulatedConfig{Seed: 10})
		c, err := g.Charge(t.Context(), chargeRequest("k", payment.DeclinedPaymentMethod))
		if err != nil {
			t.Fatalf("Charge() error = %v", err)
		}
		_, err = g.Refund(t.Context(), orders.RefundRequest{Key: "r", ChargeID: c.ID, Amount: 1, Currency: "EUR"})
		if !errors.Is(err, payment.ErrRejected) {
			t.Fatalf("Refund() error = %v, want ErrRejected", err)
		}
	})
}
