package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/mail"
	"github.com/marketplace-go/marketplace/internal/platform/mail/mailtest"
	"github.com/marketplace-go/marketplace/internal/platform/observability/logtest"
)

const from = "shop@marketplace.test"

// newSender returns an SMTP sender to a fresh in-process server.
func newSender(t *testing.T) (*mail.SMTP, *mailtest.Server) {
	t.Helper()
	srv := mailtest.NewServer(t)
	return mail.NewSMTP(mail.Config{Host: srv.Host, Port: srv.Port, From: from, TLS: "none"}), srv
}

// send delivers m with a bounded context, failing the test on error.
func send(t *testing.T, s mail.Sender, m mail.Message) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := s.Send(ctx, m); err != nil {
		t.Fatalf("Send: %v", err)
	}
}

// parse reads a received message as RFC 5322 headers and body.
func parse(t *testing.T, m mailtest.Message) (netmail.Header, string) {
	t.Helper()
	msg, err := netmail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatalf("parse received mail %q: %v", m.Data, err)
	}
	body, err := io.ReadAll(msg.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return msg.Header, string(body)
}

func TestASenderWithADisplayNameGoesOnTheEnvelopeAsItsAddress(t *testing.T) {
	t.Parallel()
	srv := mailtest.NewServer(t)
	s := mail.NewSMTP(mail.Config{Host: srv.Host, Port: srv.Port, From: "Marketplace <no-reply@marketplace.test>", TLS: "none"})
	send(t, s, mail.Message{To: "ada@example.com", Subject: "Hi", Body: "Hello\n"})
	got := srv.WaitFor(t, "ada@example.com")
	if got.From != "no-reply@marketplace.test" {
		t.Errorf("envelope from = %q", got.From)
	}
	if h, _ := parse(t, got); h.Get("From") != "Marketplace <no-reply@marketplace.test>" {
		t.Errorf("From header = %q", h.Get("From"))
	}
}

func TestSMTPDeliversWithHeadersAndBody(t *testing.T) {
	t.Parallel()
	s, srv := newSender(t)
	send(t, s, mail.Message{
		To:      "ada@example.com",
		Subject: "Reset your password",
		Body:    "Hello Ada,\n\nopen this link:\nhttps://shop.test/reset?t=abc\n",
	})

	got := srv.WaitFor(t, "ada@example.com")
	if got.From != from {
		t.Errorf("envelope from = %q, want %q", got.From, from)
	}
	if diff := cmp.Diff([]string{"ada@example.com"}, got.To); diff != "" {
		t.Errorf("envelope to mismatch (-want +got):\n%s", diff)
	}
	header, body := parse(t, got)
	for name, want := range map[string]string{
		"From":         from,
		"To":           "ada@example.com",
		"Subject":      "Reset your password",
		"Mime-Version": "1.0",
		"Content-Type": "text/plain; charset=utf-8",
	} {
		if header.Get(name) != want {
			t.Errorf("header %s = %q, want %q", name, header.Get(name), want)
		}
	}
	if _, err := header.Date(); err != nil {
		t.Errorf("Date header %q: %v", header.Get("Date"), err)
	}
	if want := "Hello Ada,\r\n\r\nopen this link:\r\nhttps://shop.test/reset?t=abc\r\n"; body != want {
		t.Errorf("body = %q, want %q", body, want)
	}
}

func TestSMTPKeepsBodiesIntact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want string
	}{
		{name: "LF lines become CRLF", body: "one\ntwo\n", want: "one\r\ntwo\r\n"},
		{name: "CRLF lines stay CRLF", body: "one\r\ntwo\r\n", want: "one\r\ntwo\r\n"},
		{name: "a lone dot line survives dot-stuffing", body: "before\n.\nafter\n", want: "before\r\n.\r\nafter\r\n"},
		{name: "non-ASCII text survives", body: "Grüße, 日本\n", want: "Grüße, 日本\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, srv := newSender(t)
			send(t, s, mail.Message{To: "bob@example.com", Subject: "s", Body: tt.body})
			if _, body := parse(t, srv.WaitFor(t, "bob@example.com")); body != tt.want {
				t.Errorf("body = %q, want %q", body, tt.want)
			}
		})
	}
}

func TestSMTPNeutralisesHeaderInjection(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		subject     string
		wantSubject string
	}{
		{name: "CRLF in the subject", subject: "Hi\r\nBcc: victim@example.com", wantSubject: "HiBcc: victim@example.com"},
		{name: "LF in the subject", subject: "Hi\nBcc: victim@example.com", wantSubject: "HiBcc: victim@example.com"},
		{name: "CR in the subject", subject: "Hi\rBcc: victim@example.com", wantSubject: "HiBcc: victim@example.com"},
		{name: "a blank line to start the body early", subject: "Hi\r\n\r\nforged body", wantSubject: "Hiforged body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, srv := newSender(t)
			send(t, s, mail.Message{To: "carol@example.com", Subject: tt.subject, Body: "real body\n"})
			got := srv.WaitFor(t, "carol@example.com")
			header, body := parse(t, got)
			if header.Get("Subject") != tt.wantSubject {
				t.Errorf("Subject = %q, want %q", header.Get("Subject"), tt.wantSubject)
			}
			if bcc := header.Get("Bcc"); bcc != "" {
				t.Errorf("an injected Bcc header %q was sent", bcc)
			}
			if body != "real body\r\n" {
				t.Errorf("body = %q, want the real body only", body)
			}
			if diff := cmp.Diff([]string{"carol@example.com"}, got.To); diff != "" {
				t.Errorf("envelope recipients mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSMTPRefusesARecipientWithALineBreak(t *testing.T) {
	t.Parallel()
	s, srv := newSender(t)
	err := s.Send(t.Context(), mail.Message{To: "dave@example.com\r\nRCPT TO:<victim@example.com>", Subject: "s", Body: "b"})
	if err == nil {
		t.Fatal("Send = nil, want an error")
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages delivered, want none", n)
	}
}

func TestSMTPReportsAnUnreachableServer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	_ = ln.Close()
	s := mail.NewSMTP(mail.Config{Host: "127.0.0.1", Port: addr.Port, From: from, TLS: "none"})
	err = s.Send(t.Context(), mail.Message{To: "erin@example.com", Subject: "s", Body: "b"})
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("127.0.0.1:%d", addr.Port)) {
		t.Errorf("Send = %v, want an error naming the address", err)
	}
}

func TestSMTPGivesUpWhenTheContextEnds(t *testing.T) {
	t.Parallel()
	for _, mode := range []string{"none", "starttls", "tls", ""} {
		t.Run("tls mode "+mode, func(t *testing.T) {
			t.Parallel()
			host, port := silentServer(t)
			s := mail.NewSMTP(mail.Config{Host: host, Port: port, From: from, TLS: mode})
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := s.Send(ctx, mail.Message{To: "frank@example.com", Subject: "s", Body: "b"})
			if err == nil {
				t.Fatal("Send to a server that never answers = nil, want an error")
			}
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("Send took %v after a 200ms deadline", took)
			}
		})
	}
}

// silentServer accepts connections and never says anything, like a stuck
// SMTP server.
func silentServer(t *testing.T) (string, int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	addr := ln.Addr().(*net.TCPAddr)
	return addr.IP.String(), addr.Port
}

func TestLogSenderWritesAWarning(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	err := mail.NewLog(log).Send(t.Context(), mail.Message{To: "gina@example.com", Subject: "Welcome", Body: "Hello Gina"})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log %q is not one JSON line: %v", buf.String(), err)
	}
	for key, want := range map[string]any{"level": "WARN", "to": "gina@example.com", "subject": "Welcome", "body": "Hello Gina"} {
		if line[key] != want {
			t.Errorf("log %s = %v, want %v", key, line[key], want)
		}
	}
}

func TestQueueDeliversEverythingBeforeCloseReturns(t *testing.T) {
	t.Parallel()
	s, srv := newSender(t)
	q := mail.NewQueue(s, discardLogger(), 16, 3)
	var want []string
	for i := range 10 {
		to := fmt.Sprintf("user%d@example.com", i)
		want = append(want, to)
		if err := q.Enqueue(mail.Message{To: to, Subject: "hi", Body: "b"}); err != nil {
			t.Fatalf("Enqueue %d: %v", i, err)
		}
	}
	q.Close()

	var got []string
	for _, m := range srv.Messages() {
		got = append(got, m.To...)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("delivered after Close mismatch (-want +got):\n%s", diff)
	}
}

func TestQueueFlushReturnsOnceEveryQueuedMessageIsSentAndTheQueueStaysOpen(t *testing.T) {
	t.Parallel()
	sender := newBlockingSender()
	q := mail.NewQueue(sender, discardLogger(), 16, 2)
	t.Cleanup(q.Close)
	q.Flush() // an idle queue returns at once

	for _, to := range []string{"a@example.com", "b@example.com", "c@example.com"} {
		if err := q.Enqueue(mail.Message{To: to}); err != nil {
			t.Fatalf("Enqueue %s: %v", to, err)
		}
	}
	flushed := make(chan struct{})
	go func() { q.Flush(); close(flushed) }()
	<-sender.started
	select {
	case <-flushed:
		t.Fatal("Flush returned while a send was held")
	default:
	}
	sender.release()
	eventually.Receive(t, "Flush to return after the sends", flushed)
	if diff := cmp.Diff([]string{"a@example.com", "b@example.com", "c@example.com"}, sender.sent(),
		cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("sent by the time Flush returned (-want +got):\n%s", diff)
	}
	if err := q.Enqueue(mail.Message{To: "d@example.com"}); err != nil {
		t.Errorf("Enqueue after Flush: %v, want the queue still open", err)
	}
}

func TestQueueRefusesMessagesWhenFull(t *testing.T) {
	t.Parallel()
	sender := newBlockingSender()
	q := mail.NewQueue(sender, discardLogger(), 1, 1)
	t.Cleanup(q.Close)
	t.Cleanup(sender.release)

	if err := q.Enqueue(mail.Message{To: "first@example.com"}); err != nil {
		t.Fatalf("Enqueue first: %v", err)
	}
	<-sender.started // the only worker is now busy with the first message
	if err := q.Enqueue(mail.Message{To: "second@example.com"}); err != nil {
		t.Fatalf("Enqueue second (fills the queue): %v", err)
	}
	if err := q.Enqueue(mail.Message{To: "third@example.com"}); !errors.Is(err, mail.ErrQueueFull) {
		t.Fatalf("Enqueue on a full queue = %v, want ErrQueueFull", err)
	}

	sender.release()
	q.Close()
	if diff := cmp.Diff([]string{"first@example.com", "second@example.com"}, sender.sent()); diff != "" {
		t.Errorf("sent mismatch (-want +got):\n%s", diff)
	}
}

func TestQueueLogsAFailedSendWithoutTheRecipientsAddress(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sender func(t *testing.T) mail.Sender
		reason string // what the log must still say of the failure
	}{
		{"a sender's own failure", func(*testing.T) mail.Sender { return failingSender{} }, "relay denied"},
		{"a server's refusal that quotes the address", func(t *testing.T) mail.Sender {
			s, srv := newSender(t)
			srv.SetRefuseRecipients(true)
			return s
		}, "Recipient address rejected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var buf logtest.Buffer
			q := mail.NewQueue(tt.sender(t), slog.New(slog.NewJSONHandler(&buf, nil)), 4, 1)
			if err := q.Enqueue(mail.Message{To: "Hank@Example.com", Subject: "Receipt"}); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
			q.Close()
			out := buf.String()
			for _, want := range []string{"mail not sent", "Receipt", tt.reason} {
				if !strings.Contains(out, want) {
					t.Errorf("log %q does not contain %q", out, want)
				}
			}
			if strings.Contains(strings.ToLower(out), "hank@example.com") {
				t.Errorf("log %q holds the recipient's address", out)
			}
		})
	}
}

func TestARefusalQuotingTheRecipientIsReturnedWithoutTheAddressButWithItsCause(t *testing.T) {
	t.Parallel()
	s, srv := newSender(t)
	srv.SetRefuseRecipients(true)
	err := s.Send(t.Context(), mail.Message{To: "ivan@example.com", Subject: "s", Body: "b"})
	if err == nil {
		t.Fatal("Send to a server refusing the recipient = nil, want an error")
	}
	if strings.Contains(err.Error(), "ivan@example.com") {
		t.Errorf("Send = %q, which holds the recipient's address", err)
	}
	var refusal *smtp.SMTPError
	if !errors.As(err, &refusal) || refusal.Code != 550 {
		t.Errorf("Send = %v, want the server's 550 as its cause", err)
	}
}

func TestAMessageTheServerAcceptedIsSentEvenIfTheServerHangsUpOnQuit(t *testing.T) {
	t.Parallel()
	s, srv := newSender(t)
	srv.SetHangUpOnQuit(true)
	// The server really does fail a QUIT, or this test proves nothing.
	c, err := smtp.Dial(fmt.Sprintf("%s:%d", srv.Host, srv.Port))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Quit(); err == nil {
		t.Fatal("QUIT to a server that hangs up on it succeeded")
	}

	// A second send would mail the message twice: the first must succeed.
	send(t, s, mail.Message{To: "judy@example.com", Subject: "Your order", Body: "Thank you\n"})
	if got := srv.Messages(); len(got) != 1 || got[0].To[0] != "judy@example.com" {
		t.Errorf("received %+v, want the one message", got)
	}
}

func TestQueueEnqueueAfterCloseFailsWithoutPanicking(t *testing.T) {
	t.Parallel()
	q := mail.NewQueue(failingSender{}, discardLogger(), 4, 1)
	q.Close()
	q.Close() // a second Close is harmless
	if err := q.Enqueue(mail.Message{To: "ivy@example.com"}); !errors.Is(err, mail.ErrClosed) {
		t.Errorf("Enqueue after Close = %v, want ErrClosed", err)
	}
}

func TestQueueEnqueueRacingCloseNeverPanics(t *testing.T) {
	t.Parallel()
	q := mail.NewQueue(failingSender{}, discardLogger(), 8, 2)
	var wg sync.WaitGroup
	errc := make(chan error, 8*100)
	for range 8 {
		wg.Go(func() {
			for range 100 {
				errc <- q.Enqueue(mail.Message{To: "jo@example.com"})
			}
		})
	}
	q.Close()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && !errors.Is(err, mail.ErrClosed) && !errors.Is(err, mail.ErrQueueFull) {
			t.Fatalf("Enqueue = %v, want nil, ErrQueueFull or ErrClosed", err)
		}
	}
}

// blockingSender records messages and holds each Send until released.
type blockingSender struct {
	started  chan struct{}
	released chan struct{}
	once     sync.Once
	mu       sync.Mutex
	to       []string
}

func newBlockingSender() *blockingSender {
	return &blockingSender{started: make(chan struct{}, 10), released: make(chan struct{})}
}

func (b *blockingSender) Send(ctx context.Context, m mail.Message) error {
	b.started <- struct{}{}
	select {
	case <-b.released:
	case <-ctx.Done():
		return ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.to = append(b.to, m.To)
	return nil
}

func (b *blockingSender) release() { b.once.Do(func() { close(b.released) }) }

func (b *blockingSender) sent() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.to...)
}

// failingSender refuses every message.
type failingSender struct{}

func (failingSender) Send(context.Context, mail.Message) error {
	return errors.New("550 relay denied")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
