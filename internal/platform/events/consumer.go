package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel/trace"
)

// Headers this package sets on messages it moves to the retry and
// dead-letter queues, for people and tools inspecting those queues.
const (
	// HeaderAttempt is the number of the delivery attempt the message is
	// on; a message without it is on its first.
	HeaderAttempt = "x-attempt"
	// HeaderLastError is the error of the last failed attempt.
	HeaderLastError = "x-last-error"
	// HeaderReason says why a message was dead-lettered: ReasonMaxAttempts
	// or ReasonMalformed.
	HeaderReason = "x-dead-letter-reason"
	// HeaderRoutingKey keeps the routing key the message was first
	// published with; retried messages are routed by queue name instead.
	HeaderRoutingKey = "x-original-routing-key"
)

// Values of HeaderReason.
const (
	ReasonMaxAttempts = "max-attempts"
	ReasonMalformed   = "malformed"
)

// maxErrorLen bounds HeaderLastError; an error can embed a whole payload.
const maxErrorLen = 1024

// Handler processes one event. Returning nil acks the message; an error (or
// a panic) has it delivered again after ConsumerConfig.RetryDelay, and after
// ConsumerConfig.MaxAttempts moves it to the dead-letter queue.
//
// Delivery is at least once: the same event can arrive twice (a lost ack, a
// publisher retrying after a lost confirm), and retries overtake later
// events. Handlers must therefore de-duplicate, by Event.ID or by ignoring
// a Sequence not above the last one applied for Event.Subject.
type Handler func(ctx context.Context, e Event) error

// BatchHandler processes events delivered together and returns one error
// per event, in their order; each event is then settled by its error as a
// Handler's is. Batches let a handler do for many events in one round trip
// what it would otherwise do for each. Attempt(ctx) is the highest attempt
// among the batch's events.
type BatchHandler func(ctx context.Context, es []Event) []error

// ConsumerConfig describes one queue and how its failures are handled.
type ConsumerConfig struct {
	// Queue is the durable queue's name, one per consuming service and
	// purpose, such as "orders.products". "<Queue>.retry" and "<Queue>.dlq"
	// are created next to it.
	Queue string
	// Bindings are routing key patterns such as "product.*". Bindings are
	// only ever added: one removed from this list must be unbound by hand.
	Bindings []string
	// MaxAttempts is how many times a handler is tried (default 5) before
	// the message is dead-lettered.
	MaxAttempts int
	// Prefetch is how many unacked messages the broker sends ahead
	// (default 16), hiding the network round trip between messages.
	Prefetch int
	// RetryDelay is the wait before a failed message is delivered again
	// (default 1s); the message waits in the retry queue, so the consumer
	// handles other messages meanwhile.
	RetryDelay time.Duration
	// Linger is how long a batch consumer (ConsumeBatches) waits, after a
	// batch's first message, for more to fill it; zero takes only those
	// already waiting. Messages come round-robin from a queue's consumers
	// one by one, so without a wait batches rarely form; a wait of a few
	// milliseconds lets them grow with the load.
	Linger time.Duration
	// Expires, if set, has the broker delete the queue and its retry and
	// dead-letter queues once unused that long (x-expires): for a queue of
	// one instance, such as a search replica's, which would otherwise fill
	// for ever after the instance is gone. Set it when the queue is
	// created: the broker refuses to change a queue's arguments.
	Expires time.Duration
}

func (cc ConsumerConfig) withDefaults() ConsumerConfig {
	if cc.MaxAttempts == 0 {
		cc.MaxAttempts = 5
	}
	if cc.Prefetch == 0 {
		cc.Prefetch = 16
	}
	if cc.RetryDelay == 0 {
		cc.RetryDelay = time.Second
	}
	return cc
}

func (cc ConsumerConfig) validate() error {
	switch {
	case cc.Queue == "":
		return errors.New("events: consumer needs a queue name")
	case len(cc.Bindings) == 0:
		return fmt.Errorf("events: queue %s has no bindings and would receive nothing", cc.Queue)
	case cc.MaxAttempts < 1 || cc.Prefetch < 1 || cc.RetryDelay < 0 || cc.Linger < 0:
		return fmt.Errorf("events: queue %s: MaxAttempts and Prefetch must be positive, RetryDelay and Linger not negative", cc.Queue)
	}
	return nil
}

func (cc ConsumerConfig) retryQueue() string      { return cc.Queue + ".retry" }
func (cc ConsumerConfig) deadLetterQueue() string { return cc.Queue + ".dlq" }

// Consumer delivers events from queues bound to the exchange to handlers.
type Consumer struct {
	cfg  Config
	log  *slog.Logger
	down atomic.Int64 // running Consume calls without a live subscription
}

// NewConsumer returns a consumer for cfg; it connects only in Consume. A nil
// log discards log output.
func NewConsumer(cfg Config, log *slog.Logger) (*Consumer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Consumer{cfg: cfg.withDefaults(), log: log}, nil
}

// Ready reports an error while any running Consume is not subscribed, for
// /readyz.
func (c *Consumer) Ready(context.Context) error {
	if n := c.down.Load(); n > 0 {
		return fmt.Errorf("events: %d consumer(s) not connected", n)
	}
	return nil
}

// Consume declares the exchange, the queue with its bindings, its retry
// queue and its dead-letter queue, then hands each message to h, one at a
// time, until ctx ends; call it from several goroutines to handle messages
// in parallel. After a lost connection it reconnects with backoff. It returns
// nil when ctx ends, and an error only for a configuration that cannot work,
// such as a queue that exists with other arguments.
//
// Attempts are counted in HeaderAttempt: a failed message is republished to
// "<Queue>.retry" with the count raised and the original acked; it expires
// from there after RetryDelay and the broker dead-letters it back into
// Queue. A message whose handler failed MaxAttempts times, or whose body is
// not an Event, goes to "<Queue>.dlq" with HeaderReason and HeaderLastError.
// A message being handled when the connection drops is redelivered without
// counting an attempt.
func (c *Consumer) Consume(ctx context.Context, cc ConsumerConfig, h Handler) error {
	one := func(ctx context.Context, es []Event) []error { return []error{h(ctx, es[0])} }
	return c.consume(ctx, cc, one, 1)
}

// ConsumeBatches is Consume for a handler of many events at once: it hands
// h, as one batch, the message it waited for and those that arrive within
// cc.Linger after it, up to cc.Prefetch. At a trickle batches hold one
// event; under load they grow, and the handler's cost per event falls when
// it is needed most.
func (c *Consumer) ConsumeBatches(ctx context.Context, cc ConsumerConfig, h BatchHandler) error {
	cc = cc.withDefaults()
	return c.consume(ctx, cc, h, cc.Prefetch)
}

// consume runs sessions of batches of at most batch messages.
func (c *Consumer) consume(ctx context.Context, cc ConsumerConfig, h BatchHandler, batch int) error {
	cc = cc.withDefaults()
	if err := cc.validate(); err != nil {
		return err
	}
	c.down.Add(1)
	defer c.down.Add(-1)
	bo := newBackoff(c.cfg)
	for {
		err := c.session(ctx, cc, h, batch, bo)
		if ctx.Err() != nil {
			return nil
		}
		if amqpErr := (*amqp.Error)(nil); errors.As(err, &amqpErr) && amqpErr.Code == amqp.PreconditionFailed {
			return fmt.Errorf("events: consume %s: %w", cc.Queue, err)
		}
		c.log.WarnContext(ctx, "events: consumer disconnected; reconnecting", "queue", cc.Queue, "err", err)
		if bo.wait(ctx, nil) != nil {
			return nil
		}
	}
}

// session consumes over one connection until it fails or ctx ends. Closing
// the connection returns unacked messages to the queue.
func (c *Consumer) session(ctx context.Context, cc ConsumerConfig, h BatchHandler, batch int, bo *backoff) error {
	conn, err := dial(ctx, c.cfg, "consumer "+cc.Queue)
	if err != nil {
		return err
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	deliveries, err := c.subscribe(ch, cc)
	if err != nil {
		return err
	}
	bo.reset()
	c.cfg.Metrics.subscribed(cc.Queue)
	c.down.Add(-1)
	defer c.down.Add(1)
	c.log.InfoContext(ctx, "events: consumer connected", "queue", cc.Queue)
	w := worker{ch: ch, returns: ch.NotifyReturn(make(chan amqp.Return, 1)), cc: cc, h: h, log: c.log, metrics: c.cfg.Metrics, tracer: c.cfg.Tracer}
	ds := make([]amqp.Delivery, 0, batch)
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return closeReason(closed)
			}
			if err := w.handle(ctx, gather(ctx, append(ds[:0], d), deliveries, cc.Linger)); err != nil {
				return err
			}
			// A batch handled while shutting down may have left deliveries
			// unacked; a later batch's ack of its last delivery would
			// cover them.
			if ctx.Err() != nil {
				return nil
			}
		}
	}
}

// gather adds to ds the deliveries that arrive within linger, or, when
// linger is zero, those already waiting, until ds is full. A closed
// channel or the end of ctx ends it; the session's next receive reports
// why.
func gather(ctx context.Context, ds []amqp.Delivery, deliveries <-chan amqp.Delivery, linger time.Duration) []amqp.Delivery {
	if linger == 0 {
		for len(ds) < cap(ds) {
			select {
			case d, ok := <-deliveries:
				if !ok {
					return ds
				}
				ds = append(ds, d)
			default:
				return ds
			}
		}
		return ds
	}
	t := time.NewTimer(linger)
	defer t.Stop()
	for len(ds) < cap(ds) {
		select {
		case d, ok := <-deliveries:
			if !ok {
				return ds
			}
			ds = append(ds, d)
		case <-t.C:
			return ds
		case <-ctx.Done():
			return ds
		}
	}
	return ds
}

// closeReason says why deliveries stopped. The channel may still be open:
// the broker also cancels a subscription when its queue is deleted.
func closeReason(closed <-chan *amqp.Error) error {
	select {
	case reason, ok := <-closed:
		if ok && reason != nil {
			return reason
		}
		return errors.New("channel closed")
	default:
		return errors.New("broker cancelled the subscription")
	}
}

// subscribe declares the topology, turns on confirms for the republishes
// that retries and dead-lettering make, and starts the subscription.
func (c *Consumer) subscribe(ch *amqp.Channel, cc ConsumerConfig) (<-chan amqp.Delivery, error) {
	if err := declareExchange(ch, c.cfg.Exchange); err != nil {
		return nil, err
	}
	queues := []struct {
		name string
		args amqp.Table
	}{
		{cc.Queue, nil},
		{cc.deadLetterQueue(), nil},
		// Messages expire from here after RetryDelay, and the broker then
		// dead-letters them back into the main queue.
		{cc.retryQueue(), amqp.Table{"x-dead-letter-exchange": "", "x-dead-letter-routing-key": cc.Queue}},
	}
	for _, q := range queues {
		if cc.Expires > 0 {
			if q.args == nil {
				q.args = amqp.Table{}
			}
			q.args["x-expires"] = cc.Expires.Milliseconds()
		}
		if _, err := ch.QueueDeclare(q.name, true, false, false, false, q.args); err != nil {
			return nil, fmt.Errorf("declare queue %s: %w", q.name, err)
		}
	}
	for _, key := range cc.Bindings {
		if err := ch.QueueBind(cc.Queue, key, c.cfg.Exchange, false, nil); err != nil {
			return nil, fmt.Errorf("bind queue %s to %s: %w", cc.Queue, key, err)
		}
	}
	if err := ch.Qos(cc.Prefetch, 0, false); err != nil {
		return nil, fmt.Errorf("set prefetch: %w", err)
	}
	if err := ch.Confirm(false); err != nil {
		return nil, fmt.Errorf("enable publisher confirms: %w", err)
	}
	deliveries, err := ch.Consume(cc.Queue, "", false, false, false, false, nil)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", cc.Queue, err)
	}
	return deliveries, nil
}

// worker handles the deliveries of one session.
type worker struct {
	ch      *amqp.Channel
	returns <-chan amqp.Return // republished copies that reached no queue
	cc      ConsumerConfig
	h       BatchHandler
	log     *slog.Logger
	metrics *Metrics
	tracer  trace.TracerProvider
}

// handle settles a batch of deliveries: ack, retry or dead-letter each. An
// error means the channel is unusable and the session must end.
func (w worker) handle(ctx context.Context, ds []amqp.Delivery) error {
	es := make([]Event, 0, len(ds))
	taken := ds[:0] // the deliveries of es, in place of ds
	for _, d := range ds {
		e, err := decode(d.Body)
		if err != nil {
			if err := w.deadLetter(ctx, d, attemptOf(d.Headers), ReasonMalformed, err); err != nil {
				return err
			}
			continue
		}
		es, taken = append(es, e), append(taken, d)
	}
	if len(es) == 0 {
		return nil
	}
	return w.settle(ctx, taken, es, w.process(ctx, taken, es))
}

// process runs the handler on es, each in a span of its own, and returns
// each event's error.
func (w worker) process(ctx context.Context, ds []amqp.Delivery, es []Event) []error {
	spans := make([]trace.Span, len(es))
	attempt := 0
	hctx := ctx
	for i, e := range es {
		hctx, spans[i] = startProcess(ctx, w.tracer, w.cc.Queue, e, ds[i])
		attempt = max(attempt, attemptOf(ds[i].Headers))
	}
	if len(es) > 1 {
		hctx = ctx // a batch's work belongs to no one event's trace
	}
	errs := w.call(context.WithValue(hctx, attemptKey{}, attempt), es)
	for i, span := range spans {
		endSpan(span, errs[i])
	}
	return errs
}

// settle acks the deliveries whose events were handled and retries or
// dead-letters the others. While shutting down, a failed delivery is left
// unacked: the failure is probably ours, not the event's, and the message
// goes back to the queue when we disconnect.
func (w worker) settle(ctx context.Context, ds []amqp.Delivery, es []Event, errs []error) error {
	var handled, failed []int
	for i, err := range errs {
		if err == nil {
			w.metrics.consumed(w.cc.Queue, es[i].Time)
			handled = append(handled, i)
		} else {
			failed = append(failed, i)
		}
	}
	if len(failed) == 0 {
		// Every earlier delivery of the channel is settled too, so one
		// ack of the last covers the batch.
		return ds[len(ds)-1].Ack(true)
	}
	// The handled ones first, so that a failure to forward, which ends the
	// session, does not have them handled again.
	for _, i := range handled {
		if err := ds[i].Ack(false); err != nil {
			return err
		}
	}
	for _, i := range failed {
		if ctx.Err() != nil {
			return nil
		}
		if err := w.retry(ctx, ds[i], es[i], errs[i]); err != nil {
			return err
		}
	}
	return nil
}

// retry sends d, whose handler failed with cause, to the retry queue, or
// to the dead-letter queue after its last attempt.
func (w worker) retry(ctx context.Context, d amqp.Delivery, e Event, cause error) error {
	attempt := attemptOf(d.Headers)
	w.metrics.handlerFailed(w.cc.Queue)
	w.log.WarnContext(ctx, "events: handler failed", "queue", w.cc.Queue, "type", e.Type, "id", e.ID,
		"attempt", attempt, "max_attempts", w.cc.MaxAttempts, "err", cause)
	if attempt >= w.cc.MaxAttempts {
		return w.deadLetter(ctx, d, attempt, ReasonMaxAttempts, cause)
	}
	return w.forward(ctx, d, w.cc.retryQueue(), forwardHeaders(d, attempt+1, cause), strconv.FormatInt(w.cc.RetryDelay.Milliseconds(), 10))
}

// call runs the handler, turning a panic, or an answer that does not
// match es, into every event's error, so that one bad batch costs an
// attempt instead of the process.
func (w worker) call(ctx context.Context, es []Event) (errs []error) {
	defer func() {
		if r := recover(); r != nil {
			w.log.ErrorContext(ctx, "events: handler panicked", "queue", w.cc.Queue, "id", es[0].ID, "events", len(es), "panic", r, "stack", string(debug.Stack()))
			errs = failAll(len(es), fmt.Errorf("handler panicked: %v", r))
		}
	}()
	errs = w.h(ctx, es)
	if len(errs) != len(es) {
		return failAll(len(es), fmt.Errorf("handler answered %d results for %d events", len(errs), len(es)))
	}
	return errs
}

func failAll(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

func (w worker) deadLetter(ctx context.Context, d amqp.Delivery, attempt int, reason string, cause error) error {
	headers := forwardHeaders(d, attempt, cause)
	headers[HeaderReason] = reason
	if err := w.forward(ctx, d, w.cc.deadLetterQueue(), headers, ""); err != nil {
		return err
	}
	w.metrics.deadLettered(w.cc.Queue, reason)
	w.log.ErrorContext(ctx, "events: message dead-lettered", "queue", w.cc.deadLetterQueue(),
		"reason", reason, "id", d.MessageId, "type", d.Type, "attempt", attempt, "err", cause)
	return nil
}

// forward republishes d's body to queue and acks d once the broker has
// confirmed the copy, so a crash in between duplicates the message rather
// than losing it. The copy is mandatory: should queue have been deleted,
// the original stays unacked and the session ends, and the reconnect
// declares the queue again.
func (w worker) forward(ctx context.Context, d amqp.Delivery, queue string, headers amqp.Table, expiration string) error {
	dc, err := w.ch.PublishWithDeferredConfirmWithContext(ctx, "", queue, true, false, amqp.Publishing{
		Headers:      headers,
		ContentType:  d.ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    d.MessageId,
		Type:         d.Type,
		Timestamp:    d.Timestamp,
		AppId:        d.AppId,
		Expiration:   expiration,
		Body:         d.Body,
	})
	if err != nil {
		return fmt.Errorf("republish to %s: %w", queue, err)
	}
	if acked, err := dc.WaitContext(ctx); err != nil || !acked {
		return fmt.Errorf("republish to %s: not confirmed (%v)", queue, err)
	}
	// One publish at a time is in flight here, and the broker sends a
	// return before the confirm, so a return for this copy is already
	// waiting.
	select {
	case _, ok := <-w.returns:
		if ok {
			return fmt.Errorf("republish to %s: no such queue", queue)
		}
	default:
	}
	return d.Ack(false)
}

// forwardHeaders copies d's headers for a republished copy on its given
// attempt. The broker's x-death history is dropped: HeaderAttempt is the
// count this package trusts, and x-death grows with every retry.
func forwardHeaders(d amqp.Delivery, attempt int, cause error) amqp.Table {
	h := maps.Clone(d.Headers)
	if h == nil {
		h = amqp.Table{}
	}
	delete(h, "x-death")
	delete(h, "x-first-death-exchange")
	delete(h, "x-first-death-queue")
	delete(h, "x-first-death-reason")
	if _, ok := h[HeaderRoutingKey]; !ok {
		h[HeaderRoutingKey] = d.RoutingKey
	}
	h[HeaderAttempt] = int32(attempt)
	msg := cause.Error()
	if len(msg) > maxErrorLen {
		msg = strings.ToValidUTF8(msg[:maxErrorLen], "")
	}
	h[HeaderLastError] = msg
	return h
}

// attemptOf reads HeaderAttempt, whichever integer type it arrived as.
func attemptOf(h amqp.Table) int {
	var n int64
	switch v := h[HeaderAttempt].(type) {
	case int8:
		n = int64(v)
	case int16:
		n = int64(v)
	case int32:
		n = int64(v)
	case int64:
		n = v
	case int:
		n = int64(v)
	}
	return int(max(n, 1))
}

type attemptKey struct{}

// Attempt returns which delivery attempt of the current event a handler is
// on, starting at 1, or 0 outside a handler; handlers log it, and may act
// differently on the last attempt.
func Attempt(ctx context.Context) int {
	n, _ := ctx.Value(attemptKey{}).(int)
	return n
}
