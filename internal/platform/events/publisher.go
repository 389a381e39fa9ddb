package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	amqp "github.com/rabbitmq/amqp091-go"
)

// ErrClosed is returned by a Publisher used after Close.
var ErrClosed = errors.New("events: publisher closed")

// errNacked means the broker refused responsibility for a message, for
// example because a queue bound to the exchange is full and rejects publishes.
var errNacked = errors.New("broker nacked the message")

// errBlocked means the broker has stopped reading from publishers, usually a
// memory or disk alarm. Failing at once beats a write that cannot be
// interrupted by ctx.
var errBlocked = errors.New("broker is blocking publishers (resource alarm)")

// Publisher sends events to the topic exchange with publisher confirms: a
// nil error from Publish means the broker has taken responsibility for the
// event, and any error means the caller must keep it and try again later.
//
// It owns one connection with one channel in confirm mode, replaced lazily
// by the next Publish (or Ready) after it drops. It is safe for concurrent
// use: publishes share the channel and each waits only for its own confirm,
// so many can be in flight at once.
type Publisher struct {
	cfg  Config
	log  *slog.Logger
	lock chan struct{} // guards sess; a channel so that waiting for it can end with ctx
	sess *pubSession
	done chan struct{} // closed by Close; stops reconnect loops
	once sync.Once
}

// pubSession is one connection and its confirm-mode channel.
type pubSession struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	blocked atomic.Bool

	mu      sync.Mutex
	closes  chan *amqp.Error // receives why the channel closed
	closeBy *amqp.Error      // what was received from closes
}

// closeReason says why the channel closed, or nil. The library sends the
// reason before it fails pending confirms, so a publish that saw its
// confirm fail finds the reason here.
func (s *pubSession) closeReason() *amqp.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closeBy == nil {
		select {
		case s.closeBy = <-s.closes:
		default:
		}
	}
	return s.closeBy
}

// NewPublisher connects to the broker and declares the exchange. If the
// broker cannot be reached it keeps trying until ctx ends, so ctx's deadline
// decides how long a service waits for RabbitMQ at start. A nil log
// discards log output.
func NewPublisher(ctx context.Context, cfg Config, log *slog.Logger) (*Publisher, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Publisher{cfg: cfg.withDefaults(), log: log, lock: make(chan struct{}, 1), done: make(chan struct{})}
	if _, err := p.session(ctx); err != nil {
		return nil, fmt.Errorf("events: start publisher: %w", err)
	}
	return p, nil
}

// Publish sends e, persistent and mandatory, with e.Type as routing key, and
// returns nil only once the broker has confirmed it. A nack, a connection
// lost before the confirm, or ctx ending first returns an error; the event
// may still have arrived, which is why consumers de-duplicate.
//
// An event that no queue is bound to receive is confirmed by the broker and
// reported as success: on an event bus a type may have no subscribers yet,
// and retrying would not give it one. Such events are logged at debug level
// and counted in Metrics.Unroutable.
//
// While the broker blocks publishers (a memory or disk alarm) Publish fails
// at once instead of hanging in a write that ctx cannot interrupt.
func (p *Publisher) Publish(ctx context.Context, e Event) error {
	if err := p.publish(ctx, e); err != nil {
		p.cfg.Metrics.publishFailed(e.Type)
		return fmt.Errorf("publish event %s %s: %w", e.Type, e.ID, err)
	}
	p.cfg.Metrics.published(e.Type)
	return nil
}

func (p *Publisher) publish(ctx context.Context, e Event) (err error) {
	msg, err := e.publishing()
	if err != nil {
		return err
	}
	ctx, span := startPublish(ctx, p.cfg.Tracer, p.cfg.Exchange, e, &msg)
	defer func() { endSpan(span, err) }()
	for try := 1; ; try++ {
		s, err := p.session(ctx)
		if err != nil {
			return err
		}
		if s.blocked.Load() {
			return errBlocked
		}
		dc, err := s.ch.PublishWithDeferredConfirmWithContext(ctx, p.cfg.Exchange, e.Type, true, false, msg)
		if errors.Is(err, amqp.ErrClosed) && try == 1 {
			// The channel closed before anything was sent, so trying
			// again on a new connection cannot duplicate the event.
			continue
		}
		if err != nil {
			return err
		}
		return s.confirmed(ctx, dc)
	}
}

// confirmed waits for the broker's verdict on one publish.
func (s *pubSession) confirmed(ctx context.Context, dc *amqp.DeferredConfirmation) error {
	acked, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("wait for confirm: %w", err)
	case acked:
		return nil
	case s.ch.IsClosed():
		// The library nacks every pending confirm when the channel closes.
		if reason := s.closeReason(); reason != nil {
			return fmt.Errorf("connection lost before confirm: %w", reason)
		}
		return errors.New("connection lost before confirm")
	default:
		return errNacked
	}
}

// Ready reports whether the publisher has an open connection, reconnecting
// first if it has none, so that /readyz recovers without waiting for a
// publish.
func (p *Publisher) Ready(ctx context.Context) error {
	if _, err := p.session(ctx); err != nil {
		return fmt.Errorf("events: publisher not connected: %w", err)
	}
	return nil
}

// Close closes the connection. Publishes still waiting for a confirm fail,
// and later ones return ErrClosed.
func (p *Publisher) Close() error {
	p.once.Do(func() { close(p.done) })
	p.lock <- struct{}{}
	defer func() { <-p.lock }()
	if p.sess == nil {
		return nil
	}
	err := p.sess.conn.Close()
	p.sess = nil
	if err != nil && !errors.Is(err, amqp.ErrClosed) && !closedByBroker(err) {
		return fmt.Errorf("events: close publisher: %w", err)
	}
	return nil
}

// closedByBroker reports whether err is the broker closing the connection
// while Close was closing it too, or having closed its socket just before
// (the close handshake's write then finds it closed): the connection is
// closed either way.
func closedByBroker(err error) bool {
	var amqpErr *amqp.Error
	return errors.As(err, &amqpErr) && amqpErr.Code == amqp.ConnectionForced || errors.Is(err, net.ErrClosed)
}

// session returns the open session, replacing a dropped one and retrying
// with backoff until ctx ends or the publisher is closed. Only one caller
// connects at a time; the others wait for its result, or for their ctx.
func (p *Publisher) session(ctx context.Context) (*pubSession, error) {
	select {
	case p.lock <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-p.lock }()
	select {
	case <-p.done:
		return nil, ErrClosed
	default:
	}
	if s := p.sess; s != nil && !s.conn.IsClosed() && !s.ch.IsClosed() {
		return s, nil
	}
	if p.sess != nil {
		_ = p.sess.conn.Close() // the channel alone may have closed
		p.sess = nil
	}
	bo := newBackoff(p.cfg)
	for {
		s, err := p.open(ctx)
		if err == nil {
			p.sess = s
			return s, nil
		}
		p.log.WarnContext(ctx, "events: publisher cannot connect", "err", err)
		if werr := bo.wait(ctx, p.done); werr != nil {
			return nil, fmt.Errorf("%w (last attempt: %w)", werr, err)
		}
	}
}

// open connects and prepares a confirm-mode channel. The exchange is
// declared on every connect so that one deleted by hand comes back.
func (p *Publisher) open(ctx context.Context) (*pubSession, error) {
	conn, err := dial(ctx, p.cfg, "publisher")
	if err != nil {
		return nil, err
	}
	ch, err := conn.Channel()
	if err == nil {
		err = ch.Confirm(false)
	}
	if err == nil {
		err = declareExchange(ch, p.cfg.Exchange)
	}
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("prepare publisher channel: %w", err)
	}
	s := &pubSession{conn: conn, ch: ch, closes: ch.NotifyClose(make(chan *amqp.Error, 1))}
	go p.watch(s, ch.NotifyClose(make(chan *amqp.Error, 1)),
		ch.NotifyReturn(make(chan amqp.Return, 16)),
		conn.NotifyBlocked(make(chan amqp.Blocking, 1)))
	p.log.InfoContext(ctx, "events: publisher connected", "exchange", p.cfg.Exchange)
	return s, nil
}

// watch follows one session's notifications until the library closes them
// all, which it does when the connection ends.
func (p *Publisher) watch(s *pubSession, closes <-chan *amqp.Error, returns <-chan amqp.Return, blocked <-chan amqp.Blocking) {
	for closes != nil || returns != nil || blocked != nil {
		select {
		case err, ok := <-closes:
			if !ok {
				closes = nil
				continue
			}
			p.log.Warn("events: publisher channel closed; the next publish reconnects", "err", err)
		case r, ok := <-returns:
			if !ok {
				returns = nil
				continue
			}
			p.cfg.Metrics.unroutable(r.Type)
			p.log.Debug("events: no queue bound for event", "type", r.Type, "id", r.MessageId)
		case b, ok := <-blocked:
			if !ok {
				blocked = nil
				continue
			}
			s.blocked.Store(b.Active)
			p.log.Warn("events: broker flow control", "blocked", b.Active, "reason", b.Reason)
		}
	}
}

// declareExchange declares the durable topic exchange both sides use;
// declaring is idempotent, so whichever side starts first creates it.
func declareExchange(ch *amqp.Channel, name string) error {
	if err := ch.ExchangeDeclare(name, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", name, err)
	}
	return nil
}
