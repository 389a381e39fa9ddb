// Package mailtest runs a real SMTP server in-process for tests and keeps
// what it receives.
package mailtest

import (
	"bytes"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/emersion/go-smtp"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// Message is one received mail.
type Message struct {
	From string
	To   []string
	Data string // headers and body as sent
}

// Server is an SMTP server on a loopback port.
type Server struct {
	Host string
	Port int

	mu       sync.Mutex // guards messages
	messages []Message

	down, hangUpOnQuit, refuseRcpt atomic.Bool
}

// SetHangUpOnQuit makes the server, while hangUp is true, close the
// connection when a client says QUIT instead of answering it: as a server
// that drops the connection once it has accepted a message.
func (s *Server) SetHangUpOnQuit(hangUp bool) { s.hangUpOnQuit.Store(hangUp) }

// SetRefuseRecipients makes the server, while refuse is true, refuse every
// recipient with a 550 that quotes the address, as real servers word it
// ("<ada@example.com>: Recipient address rejected").
func (s *Server) SetRefuseRecipients(refuse bool) { s.refuseRcpt.Store(refuse) }

// SetDown makes the server refuse every new connection with 421 (service
// not available) while down is true, as a mail server that is down or
// overloaded does, and accept them again once it is false.
func (s *Server) SetDown(down bool) { s.down.Store(down) }

// NewServer starts a server that is stopped when the test ends.
func NewServer(tb testing.TB) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("mailtest: listen: %v", err)
	}
	s := &Server{}
	addr := ln.Addr().(*net.TCPAddr)
	s.Host, s.Port = addr.IP.String(), addr.Port
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
	go func() { _ = srv.Serve(listener{Listener: ln, s: s}) }()
	tb.Cleanup(func() { _ = srv.Close() })
	return s
}

// Messages returns every message received so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// WaitFor returns the first message to rcpt, waiting for it to arrive.
func (s *Server) WaitFor(tb testing.TB, rcpt string) Message {
	tb.Helper()
	return eventually.Value(tb, "a mail to "+rcpt, func() (Message, bool) {
		for _, m := range s.Messages() {
			if slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, rcpt) }) {
				return m, true
			}
		}
		return Message{}, false
	})
}

// WaitForText returns the first message to rcpt whose headers or body hold
// text, waiting for it to arrive: for a test whose recipient gets other
// mail too, such as an order confirmation before a password reset.
func (s *Server) WaitForText(tb testing.TB, rcpt, text string) Message {
	tb.Helper()
	return eventually.Value(tb, "a mail to "+rcpt+" with "+text, func() (Message, bool) {
		for _, m := range s.Messages() {
			if strings.Contains(m.Data, text) && slices.ContainsFunc(m.To, func(to string) bool { return strings.EqualFold(to, rcpt) }) {
				return m, true
			}
		}
		return Message{}, false
	})
}

// listener hands the SMTP server connections that can hang up on QUIT.
type listener struct {
	net.Listener
	s *Server
}

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, s: l.s}, nil
}

// conn closes itself, unanswered, when it reads a QUIT while its server
// hangs up on QUIT. A client sends QUIT only once the reply to its last
// command came, so the command starts a read of its own: a line of a
// message's data that starts with QUIT could be mistaken for one only if
// it started a read, which the tests' short messages never do.
type conn struct {
	net.Conn
	s *Server
}

func (c *conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.s.hangUpOnQuit.Load() && bytes.HasPrefix(bytes.ToUpper(p[:n]), []byte("QUIT")) {
		_ = c.Conn.Close()
		return 0, io.EOF
	}
	return n, err
}

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	if b.s.down.Load() {
		return nil, &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 3, 2}, Message: "service not available"}
	}
	return &session{srv: b.s}, nil
}

type session struct {
	srv *Server
	msg Message
}

func (s *session) Reset()        { s.msg = Message{} }
func (s *session) Logout() error { return nil }

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	s.msg.From = from
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.srv.refuseRcpt.Load() {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: Recipient address rejected: User unknown"}
	}
	s.msg.To = append(s.msg.To, to)
	return nil
}

func (s *session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.msg.Data = string(b)
	s.srv.add(s.msg)
	return nil
}
