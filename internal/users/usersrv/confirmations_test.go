package usersrv_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/marketplace-go/marketplace/internal/platform/contracts"
	"github.com/marketplace-go/marketplace/internal/platform/events"
	"github.com/marketplace-go/marketplace/internal/platform/events/eventstest"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
	"github.com/marketplace-go/marketplace/internal/users"
	"github.com/marketplace-go/marketplace/internal/users/usersrv"
)

// confirmEnv is a users service consuming order events from its own vhost,
// and a publisher of order events to it, as the orders service's relay.
type confirmEnv struct {
	*testEnv
	pub *events.Publisher
}

// newConfirmEnv starts a service with its order confirmation consumer and
// waits until the consumer's queue is bound, so no event published is lost.
func newConfirmEnv(t *testing.T) *confirmEnv {
	t.Helper()
	broker := eventstest.Config(t)
	e := newEnv(t, func(c *usersrv.Config) {
		c.Events = broker
		c.OrderURL = "http://shop.test/orders/"
		c.ConfirmRetryDelay = 50 * time.Millisecond
		c.ConfirmMaxAttempts = 1000
		c.ConfirmConsumers = 1 // in order, for settle
	})
	eventually.NoError(t, "the confirmation queue is bound", func() error {
		if err := queueExists(broker.URL, usersrv.ConfirmationsQueue); err != nil {
			return err
		}
		return e.Users.ConfirmationsReady(context.Background())
	})
	return &confirmEnv{testEnv: e, pub: eventstest.Publisher(t, broker, nil)}
}

func queueExists(amqpURL, queue string) error {
	conn, err := amqp.Dial(amqpURL)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	_, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	return err
}

// placed is an order.created event of a fresh order of buyer: two units
// of one product at half of total each.
func placed(t *testing.T, buyer string, total int64, currency string) events.Event {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	o := contracts.OrderV1{ID: id, BuyerID: buyer, Status: "pending_payment", Total: total, Currency: currency, Version: 1,
		SubOrders: []contracts.SubOrderV1{{ID: uuid.NewString(), SellerID: uuid.NewString(), Status: "pending_payment", Subtotal: total,
			Lines: []contracts.OrderLineV1{{ProductID: uuid.NewString(), Quantity: 2, UnitPrice: total / 2}}}},
		UpdatedAt: time.Now().UTC()}
	e, err := events.New(contracts.OrderCreated, "orders", id, 1, contracts.OrderEventVersion, contracts.OrderChangedV1{Order: o})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *confirmEnv) publish(t *testing.T, ev events.Event) {
	t.Helper()
	if err := e.pub.Publish(context.Background(), ev); err != nil {
		t.Fatalf("publish %s: %v", ev.Type, err)
	}
}

// mailsTo are the messages to rcpt received so far.
func (e *confirmEnv) mailsTo(rcpt string) []mailtest.Message {
	var out []mailtest.Message
	for _, m := range e.Mail.Messages() {
		for _, to := range m.To {
			if strings.EqualFold(to, rcpt) {
				out = append(out, m)
			}
		}
	}
	return out
}

// settle publishes one more order of a buyer of its own and waits until
// its mail is recorded sent. The test service has one consumer, which
// handles the queue in order, and records a batch's mails sent once all of
// them are done, so every event published before has been handled by then.
func (e *confirmEnv) settle(t *testing.T) {
	t.Helper()
	email := "settle-" + uuid.NewString()[:8] + "@example.com"
	u := e.mustRegister(t, email)
	ev := placed(t, u.ID, 100, "EUR")
	e.publish(t, ev)
	e.Mail.WaitFor(t, email)
	eventually.True(t, "the settling order's mail recorded sent", func() bool {
		return e.queryInt(t, `SELECT count(*) FROM order_confirmations WHERE order_id = $1 AND sent_at IS NOT NULL`, ev.Subject) == 1
	})
}

// wantOneConfirmation waits for the confirmation to email and fails unless
// it is the only one, once every earlier event has been handled.
func (e *confirmEnv) wantOneConfirmation(t *testing.T, email string) mailtest.Message {
	t.Helper()
	m := e.Mail.WaitFor(t, email)
	e.settle(t)
	if got := e.mailsTo(email); len(got) != 1 {
		t.Fatalf("%d mails to %s, want 1", len(got), email)
	}
	return m
}

func TestPlacedOrdersAreConfirmedToTheirBuyersOnce(t *testing.T) {
	e := newConfirmEnv(t)
	runScenarios(t, e.testEnv,
		scenario{"a placed order mails its buyer the order number, total and link", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "ada-"+uuid.NewString()[:8]+"@example.com")
			ev := placed(t, u.ID, 123450, "EUR")
			e.publish(t, ev)
			m := e.wantOneConfirmation(t, u.Email)
			for _, want := range []string{"Subject: Your order " + ev.Subject, "Hello " + u.DisplayName, "Order number: " + ev.Subject,
				"Items: 2", "Total: €1,234.50", "http://shop.test/orders/" + ev.Subject} {
				if !strings.Contains(m.Data, want) {
					t.Errorf("the mail lacks %q:\n%s", want, m.Data)
				}
			}
		}},
		scenario{"the same event delivered twice mails once", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "twice-"+uuid.NewString()[:8]+"@example.com")
			ev := placed(t, u.ID, 999, "USD")
			e.publish(t, ev)
			e.publish(t, ev)
			e.wantOneConfirmation(t, u.Email)
		}},
		scenario{"a German preference gives the German text and number format", func(t *testing.T, _ *testEnv) {
			email := "grete-" + uuid.NewString()[:8] + "@example.com"
			_, tok := e.mustUser(t, email)
			var u userBody
			e.patchMe(t, tok.AccessToken, `{"preferences":{"language":"de","currency":"EUR"}}`).want(t, 200).decode(t, &u)
			ev := placed(t, u.ID, 123450, "EUR")
			e.publish(t, ev)
			m := e.wantOneConfirmation(t, email)
			for _, want := range []string{"Subject: Ihre Bestellung " + ev.Subject, "Hallo ", "Bestellnummer: " + ev.Subject,
				"Gesamtbetrag: 1.234,50\u00a0€", "http://shop.test/orders/" + ev.Subject} {
				if !strings.Contains(m.Data, want) {
					t.Errorf("the mail lacks %q:\n%s", want, m.Data)
				}
			}
		}},
		scenario{"an unknown buyer's order is acked without mail", func(t *testing.T, _ *testEnv) {
			before := len(e.Mail.Messages())
			ev := placed(t, uuid.NewString(), 500, "EUR")
			e.publish(t, ev)
			e.settle(t) // one mail: the settling order's
			if got := len(e.Mail.Messages()) - before; got != 1 {
				t.Errorf("%d mails, want only the settling order's", got-1)
			}
			for _, line := range e.Logs.Lines() {
				if strings.Contains(line, `"id":"`+ev.ID+`"`) && strings.Contains(line, "handler failed") {
					t.Errorf("the unknown buyer's event was retried, not acked: %s", line)
				}
			}
		}},
		scenario{"a disabled buyer gets no mail", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "gone-"+uuid.NewString()[:8]+"@example.com")
			e.exec(t, `UPDATE users SET disabled = true WHERE id = $1`, u.ID)
			e.publish(t, placed(t, u.ID, 500, "EUR"))
			e.settle(t)
			if got := e.mailsTo(u.Email); len(got) != 0 {
				t.Errorf("%d mails to a disabled buyer, want none", len(got))
			}
		}},
		scenario{"twenty concurrent batches, each delivering one event twice, mail once", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "race-"+uuid.NewString()[:8]+"@example.com")
			ev := placed(t, u.ID, 700, "EUR")
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for range 20 {
				wg.Go(func() {
					// A delivery that finds the mail being sent is
					// retried, as the consumer would.
					batch := []events.Event{ev, ev}
					for {
						got := e.Users.Confirmations.HandleOrderEvents(context.Background(), batch)
						if len(got) == 2 && !errors.Is(got[1], users.ErrConfirmationBusy) {
							errs <- fmt.Errorf("the batch's second copy: %v, want busy", got[1])
							return
						}
						if !errors.Is(got[0], users.ErrConfirmationBusy) {
							errs <- got[0]
							return
						}
						batch = batch[:1]
						time.Sleep(10 * time.Millisecond) // the retry delay of a redelivery
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("a delivery failed: %v", err)
				}
			}
			if got := e.mailsTo(u.Email); len(got) != 1 {
				t.Errorf("%d mails, want 1", len(got))
			}
		}},
		scenario{"a batch answers each of its events by its own order", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "batch-"+uuid.NewString()[:8]+"@example.com")
			fresh, again := placed(t, u.ID, 300, "EUR"), placed(t, u.ID, 400, "EUR")
			if err := e.Users.Confirmations.HandleOrderEvents(context.Background(), []events.Event{again})[0]; err != nil {
				t.Fatal(err)
			}
			batch := []events.Event{fresh, placed(t, uuid.NewString(), 500, "EUR"), again, fresh}
			errs := e.Users.Confirmations.HandleOrderEvents(context.Background(), batch)
			want := []error{nil, nil, nil, users.ErrConfirmationBusy} // mailed, unknown buyer, mailed before, a second copy in the batch
			for i := range want {
				if !errors.Is(errs[i], want[i]) || (want[i] == nil && errs[i] != nil) {
					t.Errorf("event %d: %v, want %v", i, errs[i], want[i])
				}
			}
			if got := e.mailsTo(u.Email); len(got) != 2 {
				t.Errorf("%d mails, want 2: one per order", len(got))
			}
		}},
		scenario{"a mail server that hangs up after taking the mail has it mailed once", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "hungup-"+uuid.NewString()[:8]+"@example.com")
			ev := placed(t, u.ID, 1500, "EUR")
			e.Mail.SetHangUpOnQuit(true)
			t.Cleanup(func() { e.Mail.SetHangUpOnQuit(false) })
			// Delivered twice, as the event is after a delivery that failed.
			for i := range 2 {
				if err := e.Users.Confirmations.HandleOrderEvents(context.Background(), []events.Event{ev})[0]; err != nil {
					t.Errorf("delivery %d: %v", i+1, err)
				}
			}
			if got := e.mailsTo(u.Email); len(got) != 1 {
				t.Errorf("%d mails, want 1", len(got))
			}
		}},
		scenario{"a mail server that is down has the mail sent once it is back", func(t *testing.T, _ *testEnv) {
			u := e.mustRegister(t, "patient-"+uuid.NewString()[:8]+"@example.com")
			ev := placed(t, u.ID, 4200, "EUR")
			e.Mail.SetDown(true)
			e.publish(t, ev)
			eventually.True(t, "the consumer retries the refused mail", func() bool {
				return strings.Count(e.Logs.String(), `"id":"`+ev.ID+`"`) >= 2
			})
			if got := e.mailsTo(u.Email); len(got) != 0 {
				t.Fatalf("%d mails while the server is down", len(got))
			}
			e.Mail.SetDown(false)
			e.wantOneConfirmation(t, u.Email)
		}},
	)
}
