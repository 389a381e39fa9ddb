package users

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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
// taken as abandoned by a crashed instance: well above the sendTimeout a
// batch's mails have in all and the recordTimeout of their sent marks, so
// a live claim is never taken over.
const (
	sendTimeout   = 30 * time.Second
	recordTimeout = 10 * time.Second
	claimLease    = 4 * sendTimeout
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

// HandleOrderEvents mails the buyer of each order.created event among es,
// once however often the event is delivered, and returns each event's
// error. The claims of a batch are taken, and its sent mails recorded, in
// one round trip each. An event gets an error, to be delivered again
// later, only when its mail may still be due: the mail server failed, or
// another delivery is mailing it.
func (c *Confirmations) HandleOrderEvents(ctx context.Context, es []events.Event) []error {
	errs := make([]error, len(es))
	due := c.dueOrders(ctx, es, errs)
	if len(due) == 0 {
		return errs
	}
	orders := make([]OrderOfBuyer, len(due))
	for k, d := range due {
		orders[k] = d.key
	}
	claims, err := c.store.ClaimConfirmations(ctx, orders, claimLease)
	if err != nil {
		for _, d := range due {
			errs[d.event] = fmt.Errorf("order confirmation %s: %w", d.order.ID, err)
		}
		return errs
	}
	var granted []dueMail
	for k, d := range due {
		switch d.claim = claims[k]; d.claim.Outcome {
		case ClaimSkipped:
			c.log.InfoContext(ctx, "order confirmation: buyer unknown or disabled; no mail", "order", d.order.ID, "buyer", d.order.BuyerID)
			c.counted(ConfirmationSkipped)
		case ClaimSent:
			c.counted(ConfirmationDuplicate)
		case ClaimBusy:
			errs[d.event] = ErrConfirmationBusy // counted when the retry finds it sent
		case ClaimGranted:
			granted = append(granted, d)
		}
	}
	c.mail(ctx, granted, errs)
	return errs
}

// dueMail is a confirmation that may be due: the order of es[event], and
// the claim taken for it.
type dueMail struct {
	event int
	order contracts.OrderV1
	key   OrderOfBuyer
	claim Claim
}

// dueOrders reads the orders es place, setting errs for the events that
// must be retried. An event other than order.created, or one that cannot
// be read, is done with.
func (c *Confirmations) dueOrders(ctx context.Context, es []events.Event, errs []error) []dueMail {
	var (
		due  []dueMail
		seen = make(map[uuid.UUID]bool, len(es))
	)
	for i, e := range es {
		if e.Type != contracts.OrderCreated {
			continue
		}
		o, err := placedOrder(e)
		if err != nil {
			// Retrying cannot make the payload readable.
			c.log.ErrorContext(ctx, "order confirmation: unreadable order event", "id", e.ID, "err", err)
			c.counted(ConfirmationSkipped)
			continue
		}
		key := OrderOfBuyer{Order: uuid.MustParse(o.ID), Buyer: uuid.MustParse(o.BuyerID)} // checked by placedOrder
		if seen[key.Order] {
			// Two deliveries of one order in a batch: this one is retried,
			// and then finds the other's mail sent.
			errs[i] = ErrConfirmationBusy
			continue
		}
		seen[key.Order] = true
		due = append(due, dueMail{event: i, order: o, key: key})
	}
	return due
}

// maxParallelSends bounds the mails of one batch sent at once, so that a
// batch does not open more connections to the mail server than it will
// take from one client.
const maxParallelSends = 4

// mail sends the mails of granted claims, then records the sent ones and
// releases the others, so that their retries can mail. Both go even if ctx
// has ended: a mail sent but not recorded would be sent again.
func (c *Confirmations) mail(ctx context.Context, granted []dueMail, errs []error) {
	failed := c.send(ctx, granted)
	var sent, unsent []Claim
	for n, d := range granted {
		if err := failed[n]; err != nil {
			errs[d.event] = fmt.Errorf("order confirmation %s: %w", d.order.ID, err)
			c.counted(ConfirmationFailed)
			unsent = append(unsent, d.claim)
			continue
		}
		c.counted(ConfirmationSent)
		sent = append(sent, d.claim)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	if len(unsent) > 0 {
		if err := c.store.ReleaseConfirmations(ctx, unsent); err != nil {
			c.log.ErrorContext(ctx, "order confirmation: claims not released; their retries wait for the lease", "orders", len(unsent), "err", err)
		}
	}
	if len(sent) > 0 {
		if err := c.store.ConfirmationsSent(ctx, sent); err != nil {
			// Mailed, but not recorded: a redelivery after the lease would
			// mail again. Acking keeps that from happening on this delivery.
			c.log.ErrorContext(ctx, "order confirmation: mailed but not recorded", "orders", len(sent), "err", err)
		}
	}
}

// send sends the mails of granted claims, maxParallelSends at once, and
// returns each one's error. The batch has sendTimeout in all, not each
// mail, so that every claim is recorded or released well within its lease
// (a mail the deadline cut off is retried); a panic fails its mail, not
// the process.
func (c *Confirmations) send(ctx context.Context, granted []dueMail) []error {
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	failed := make([]error, len(granted))
	sem := make(chan struct{}, maxParallelSends)
	var wg sync.WaitGroup
	for n, d := range granted {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			defer func() {
				if r := recover(); r != nil {
					failed[n] = fmt.Errorf("mail panicked: %v", r)
				}
			}()
			failed[n] = c.sender.Send(ctx, c.message(d.claim.Buyer, d.order))
		})
	}
	wg.Wait()
	return failed
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
