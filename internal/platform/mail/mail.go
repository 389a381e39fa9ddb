// Package mail sends email through SMTP from a bounded background queue, or
// writes it to the log when no SMTP server is configured (local runs).
package mail

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	netmail "net/mail"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one plain-text email.
type Message struct {
	To      string
	Subject string
	Body    string
}

// Sender delivers one message now.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Config says where mail goes. An empty Host means "log it".
type Config struct {
	Host     string
	Port     int
	Username string
	Password string
	From     string
	TLS      string // "starttls" (default), "tls" or "none"
}

// SMTP sends mail through an SMTP server.
type SMTP struct{ cfg Config }

// NewSMTP returns a sender for cfg.
func NewSMTP(cfg Config) *SMTP { return &SMTP{cfg: cfg} }

// Send delivers m, giving up when ctx ends. m is sent once the server
// has accepted its data, and Send then returns nil whatever becomes of the
// session's end. An error's text never holds m.To.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	return withoutAddress(s.send(ctx, m), m.To)
}

func (s *SMTP) send(ctx context.Context, m Message) error {
	addr := s.cfg.Host + ":" + strconv.Itoa(s.cfg.Port)
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	var (
		conn net.Conn
		err  error
	)
	if s.cfg.TLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: dialer}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return fmt.Errorf("connect to smtp %s: %w", addr, err)
	}
	// The client waits minutes for each reply, the greeting and STARTTLS
	// included; closing the connection when ctx ends bounds every step.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	var c *smtp.Client
	if s.cfg.TLS == "tls" || s.cfg.TLS == "none" {
		c = smtp.NewClient(conn)
	} else if c, err = smtp.NewClientStartTLS(conn, &tls.Config{ServerName: s.cfg.Host}); err != nil {
		return fmt.Errorf("connect to smtp %s: %w", addr, err)
	}
	defer c.Close()
	if deadline, ok := ctx.Deadline(); ok {
		c.CommandTimeout, c.SubmissionTimeout = time.Until(deadline), time.Until(deadline)
	}
	if s.cfg.Username != "" {
		if err := c.Auth(sasl.NewPlainClient("", s.cfg.Username, s.cfg.Password)); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	// The envelope takes the bare address; the header keeps the name.
	sender, err := netmail.ParseAddress(s.cfg.From)
	if err != nil {
		return fmt.Errorf("sender %q: %w", s.cfg.From, err)
	}
	if err := c.SendMail(sender.Address, []string{m.To}, strings.NewReader(format(s.cfg.From, m))); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	// The server took responsibility for the message when it accepted the
	// data: it is sent. A QUIT that fails (a server that hangs up first)
	// changes nothing about that, and reporting it would have the caller
	// send the message again, as an order confirmation's retry would.
	_ = c.Quit()
	return nil
}

// withoutAddress returns err with its text cleared of addr, in any letter
// case. A server's refusal often quotes the recipient ("<ada@example.com>:
// Recipient address rejected"), and errors end up in logs, which must not
// hold email addresses. errors.Is and errors.As still see err.
func withoutAddress(err error, addr string) error {
	if err == nil || addr == "" {
		return err
	}
	text := regexp.MustCompile(`(?i)`+regexp.QuoteMeta(addr)).ReplaceAllLiteralString(err.Error(), "[recipient]")
	return &redacted{err: err, text: text}
}

// redacted is an error whose text is other than its cause's.
type redacted struct {
	err  error
	text string
}

func (r *redacted) Error() string { return r.text }
func (r *redacted) Unwrap() error { return r.err }

func format(from string, m Message) string {
	// Header values come from our own templates and a validated address;
	// stripping line breaks still keeps any slip from injecting headers.
	clean := strings.NewReplacer("\r", "", "\n", "").Replace
	return "From: " + clean(from) + "\r\nTo: " + clean(m.To) + "\r\nSubject: " + clean(m.Subject) +
		"\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nDate: " +
		time.Now().UTC().Format(time.RFC1123Z) + "\r\n\r\n" +
		strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
}

// Log "sends" mail by logging it, for local runs without an SMTP server.
type Log struct{ log *slog.Logger }

// NewLog returns a sender that writes each message to log.
func NewLog(log *slog.Logger) *Log { return &Log{log: log} }

// Send logs m.
func (l *Log) Send(ctx context.Context, m Message) error {
	l.log.WarnContext(ctx, "no SMTP server configured: mail written to the log instead", "to", m.To, "subject", m.Subject, "body", m.Body)
	return nil
}

// ErrQueueFull is returned by Enqueue when the queue has no room.
var ErrQueueFull = errors.New("mail queue full")

// Queue sends messages in the background with a few workers so that a slow
// SMTP server never holds up a request.
type Queue struct {
	sender Sender
	log    *slog.Logger
	ch     chan Message
	wg     sync.WaitGroup
	mu     sync.RWMutex // guards closed against a late Enqueue during Close
	closed bool

	busy    sync.Mutex
	idle    *sync.Cond // signalled when pending drops to zero
	pending int        // queued or being sent
}

// NewQueue starts workers that send queued messages through sender.
func NewQueue(sender Sender, log *slog.Logger, size, workers int) *Queue {
	q := &Queue{sender: sender, log: log, ch: make(chan Message, size)}
	q.idle = sync.NewCond(&q.busy)
	for range workers {
		q.wg.Go(q.work)
	}
	return q
}

// ErrClosed is returned by Enqueue after Close.
var ErrClosed = errors.New("mail queue closed")

// Enqueue queues m, or fails at once when the queue is full or closed.
func (q *Queue) Enqueue(m Message) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return ErrClosed
	}
	q.busy.Lock()
	defer q.busy.Unlock()
	select {
	case q.ch <- m:
		q.pending++
		return nil
	default:
		return ErrQueueFull
	}
}

// Flush waits until the queue is empty and no message is being sent: every
// message queued before the call has been sent or logged as failed. Tests
// call it before they assert that a message was not sent.
func (q *Queue) Flush() {
	q.busy.Lock()
	defer q.busy.Unlock()
	for q.pending > 0 {
		q.idle.Wait()
	}
}

// done counts a message off after its send.
func (q *Queue) done() {
	q.busy.Lock()
	defer q.busy.Unlock()
	if q.pending--; q.pending == 0 {
		q.idle.Broadcast()
	}
}

func (q *Queue) work() {
	for m := range q.ch {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		if err := q.sender.Send(ctx, m); err != nil {
			// The subject says which mail failed; the recipient would put
			// an email address in the log.
			q.log.Error("mail not sent", "subject", m.Subject, "err", err)
		}
		cancel()
		q.done()
	}
}

// Close stops taking messages and waits for the queued ones to be sent.
func (q *Queue) Close() {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	q.wg.Wait()
}
