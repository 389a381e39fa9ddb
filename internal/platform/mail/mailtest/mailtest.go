// Package mailtest runs a real SMTP server in-process for tests and keeps
// what it receives.
package mailtest

import (
	"io"
	"net"
	"slices"
	"strings"
	"sync"
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

	mu       sync.Mutex
	messages []Message
	down     bool
}

// SetDown makes the server refuse every new connection with 421 (service
// not available) while down is true, as a mail server that is down or
// overloaded does, and accept them again once it is false.
func (s *Server) SetDown(down bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.down = down
}

func (s *Server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.down
}

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
	go func() { _ = srv.Serve(ln) }()
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

func (s *Server) add(m Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.messages = append(s.messages, m)
}

type backend struct{ s *Server }

func (b backend) NewSession(*smtp.Conn) (smtp.Session, error) {
	if b.s.isDown() {
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
