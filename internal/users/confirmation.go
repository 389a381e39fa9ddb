package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/money"
)

// Outcomes of handling an order event, as Confirmations counts them.
const (
	ConfirmationSent      = "sent"      // the buyer was mailed
	ConfirmationDuplicate = "duplicate" // mailed before, or being mailed by another delivery
	ConfirmationSkipped   = "skipped"   // no mail is due: unknown or disabled buyer, unreadable event
	ConfirmationFailed    = "failed"    // the mail server refused; the event is retried
)

// ConfirmationOutcomes are every outcome, for metrics that start at zero.
var ConfirmationOutcomes = []string{ConfirmationSent, ConfirmationDuplicate, ConfirmationSkipped, ConfirmationFailed}

// ErrConfirmationBusy is returned while another delivery of the same order
// event holds the claim to mail it: the event is retried, and by then the
// mail is sent (a duplicate) or the claim was released (this one mails).
var ErrConfirmationBusy = errors.New("order confirmation being sent by another delivery")

// claimLease is how long a claim stays another delivery's before it is
// taken as abandoned by a crashed instance: well above sendTimeout, so a
// live claim is never taken over.
const (
	sendTimeout = 30 * time.Second
	claimLease  = 4 * sendTimeout
)

// Confirmations mails buyers the confirmation of the orders they place, from
// the orders service's order.created events.
type Confirmations struct {
	store    ConfirmationStore
	sender   MailSender
	log      *slog.Logger
	orderURL string
	counted  func(outcome string)
	texts    map[string]catalogue
}

// ConfirmationDeps are what Confirmations needs. OrderURL is the link of an
// order's page without its id ("https://shop.example/orders/"); Count, if
// not nil, is told every outcome.
type ConfirmationDeps struct {
	Store    ConfirmationStore
	Sender   MailSender
	Log      *slog.Logger
	OrderURL string
	Count    func(outcome string)
}

// NewConfirmations returns the mailer of order confirmations.
func NewConfirmations(d ConfirmationDeps) (*Confirmations, error) {
	texts, err := loadCatalogues()
	if err != nil {
		return nil, err
	}
	if d.Count == nil {
		d.Count = func(string) {}
	}
	return &Confirmations{store: d.Store, sender: d.Sender, log: d.Log, orderURL: d.OrderURL, counted: d.Count, texts: texts}, nil
}

// HandleOrderEvent mails the buyer of an order.created event, once however
// often the event is delivered. It returns an error, to have the event
// delivered again later, only when the mail may still be due: the mail
// server failed, or another delivery is mailing it.
func (c *Confirmations) HandleOrderEvent(ctx context.Context, e events.Event) error {
	if e.Type != contracts.OrderCreated {
		return nil
	}
	order, err := placedOrder(e)
	if err != nil {
		// Retrying cannot make the payload readable.
		c.log.ErrorContext(ctx, "order confirmation: unreadable order event", "id", e.ID, "err", err)
		c.counted(ConfirmationSkipped)
		return nil
	}
	outcome, err := c.confirm(ctx, order)
	if outcome != "" {
		c.counted(outcome)
	}
	return err
}

// confirm claims the order's confirmation, mails it and records it sent,
// or releases the claim when the mail fails.
func (c *Confirmations) confirm(ctx context.Context, o contracts.OrderV1) (string, error) {
	orderID, buyerID := uuid.MustParse(o.ID), uuid.MustParse(o.BuyerID) // checked by placedOrder
	claim, err := c.store.ClaimConfirmation(ctx, orderID, buyerID, claimLease)
	switch {
	case err != nil:
		return "", fmt.Errorf("order confirmation %s: %w", o.ID, err)
	case claim.Outcome == ClaimSkipped:
		c.log.InfoContext(ctx, "order confirmation: buyer unknown or disabled; no mail", "order", o.ID, "buyer", o.BuyerID)
		return ConfirmationSkipped, nil
	case claim.Outcome == ClaimSent:
		return ConfirmationDuplicate, nil
	case claim.Outcome == ClaimBusy:
		return "", ErrConfirmationBusy // counted when the retry finds it sent
	}
	sendCtx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if err := c.sender.Send(sendCtx, c.message(claim.Buyer, o)); err != nil {
		// The claim goes even if ctx has ended, so the retry can mail.
		if rerr := c.store.ReleaseConfirmation(context.WithoutCancel(ctx), orderID, claim.ID); rerr != nil {
			c.log.ErrorContext(ctx, "order confirmation: claim not released; a retry waits for its lease", "order", o.ID, "err", rerr)
		}
		return ConfirmationFailed, fmt.Errorf("order confirmation %s: %w", o.ID, err)
	}
	if err := c.store.ConfirmationSent(context.WithoutCancel(ctx), orderID, claim.ID); err != nil {
		// Mailed, but not recorded: a redelivery after the lease would
		// mail again. Acking keeps that from happening on this delivery.
		c.log.ErrorContext(ctx, "order confirmation: mailed but not recorded", "order", o.ID, "err", err)
	}
	return ConfirmationSent, nil
}

// placedOrder reads the order of an order.created event and checks it
// holds what the mail needs.
func placedOrder(e events.Event) (contracts.OrderV1, error) {
	if e.Version != contracts.OrderEventVersion {
		return contracts.OrderV1{}, fmt.Errorf("payload version %d not understood", e.Version)
	}
	var body contracts.OrderChangedV1
	if err := json.Unmarshal(e.Data, &body); err != nil {
		return contracts.OrderV1{}, fmt.Errorf("payload: %w", err)
	}
	o := body.Order
	if _, err := uuid.Parse(o.ID); err != nil {
		return o, fmt.Errorf("order id %q: %w", o.ID, err)
	}
	if _, err := uuid.Parse(o.BuyerID); err != nil {
		return o, fmt.Errorf("buyer id %q: %w", o.BuyerID, err)
	}
	if len(o.Currency) != 3 {
		return o, fmt.Errorf("currency %q is not an ISO 4217 code", o.Currency)
	}
	return o, nil
}

// message is the confirmation of o in the language of buyer's preferences.
func (c *Confirmations) message(buyer Recipient, o contracts.OrderV1) mail.Message {
	lang := preferredLanguage(buyer.Preferences)
	t := c.texts[lang]
	items := 0
	for _, so := range o.SubOrders {
		for _, l := range so.Lines {
			items += l.Quantity
		}
	}
	total := money.Format(lang, o.Total, o.Currency)
	return mail.Message{
		To:      buyer.Email,
		Subject: t.text("confirmation.subject", o.ID),
		Body:    t.text("confirmation.body", buyer.DisplayName, o.ID, items, total, c.orderURL+o.ID),
	}
}

// preferredLanguage is the language the buyer chose in their preferences
// ({"language":"de"}), or the default.
func preferredLanguage(prefs json.RawMessage) string {
	var p struct {
		Language string `json:"language"`
	}
	_ = json.Unmarshal(prefs, &p) // preferences are a JSON object by validation; anything else means the default
	if slices.Contains(languages, p.Language) {
		return p.Language
	}
	return languages[0]
}
