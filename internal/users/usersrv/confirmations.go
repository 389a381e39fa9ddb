package usersrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/observability"
	"github.com/marketplace-go/marketplace/internal/platform/server"
	"github.com/marketplace-go/marketplace/internal/users"
)

// ConfirmationsQueue is the queue of the order events the users service
// mails confirmations for.
const ConfirmationsQueue = "users.order-confirmations"

// confirmationLinger is how long a batch of order events waits for more
// (ADR 56): under load, batches of several orders, whose claims and sent
// marks are a statement each; a mail 10 ms later is no worse.
const confirmationLinger = 10 * time.Millisecond

// startConfirmations consumes order.created events and mails each buyer
// the confirmation of their order (ADR 40); without a broker URL it does
// nothing.
func (u *Users) startConfirmations(cfg Config, deps server.Deps, log *slog.Logger) error {
	if cfg.Events.URL == "" {
		return nil
	}
	cfg.Events.Metrics = events.NewMetrics(deps.Registry)
	cfg.Events.Tracer = deps.Tracer
	consumer, err := events.NewConsumer(cfg.Events, log)
	if err != nil {
		return fmt.Errorf("users: RABBITMQ_URL: %w", err)
	}
	u.Confirmations, err = users.NewConfirmations(users.ConfirmationDeps{Store: u.store, Sender: sender(cfg.Mail, log),
		Log: log, OrderURL: cfg.OrderURL, Count: confirmationCounter(deps.Registry)})
	if err != nil {
		return fmt.Errorf("users: %w", err)
	}
	u.consumer = consumer
	cc := events.ConsumerConfig{Queue: ConfirmationsQueue, Bindings: []string{contracts.OrderCreated},
		RetryDelay: cfg.ConfirmRetryDelay, MaxAttempts: cfg.ConfirmMaxAttempts, Linger: confirmationLinger}
	ctx, stop := context.WithCancel(context.Background())
	u.stopConsumers = stop
	// More than one, so that a batch waiting on a slow mail server does
	// not hold up every other mail.
	for range max(cfg.ConfirmConsumers, 1) {
		u.consumers.Go(func() {
			if err := consumer.ConsumeBatches(ctx, cc, u.Confirmations.HandleOrderEvents); err != nil {
				log.Error("order confirmation consumer stopped", "err", err)
			}
		})
	}
	return nil
}

// ConfirmationsReady reports an error until every order confirmation
// consumer is subscribed, its queue bound: events published before are not
// routed to it. It is not part of Ready: logins go on while the broker is
// away, and the confirmations wait in the orders outbox meanwhile.
func (u *Users) ConfirmationsReady(ctx context.Context) error {
	if u.consumer == nil {
		return errors.New("users: no broker configured")
	}
	return u.consumer.Ready(ctx)
}

// confirmationCounter counts order confirmations by outcome on reg; nil
// counts nothing.
func confirmationCounter(reg prometheus.Registerer) func(string) {
	if reg == nil {
		return nil
	}
	vec := observability.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "users_order_confirmations_total",
		Help: "Order confirmation mails, by outcome: sent, duplicate (mailed before), skipped (unknown or disabled buyer, unreadable event), failed (the mail server refused; retried).",
	}, []string{"outcome"}))
	for _, o := range users.ConfirmationOutcomes {
		vec.WithLabelValues(o) // every series from the start, so rates see zeros
	}
	return func(outcome string) { vec.WithLabelValues(outcome).Inc() }
}
