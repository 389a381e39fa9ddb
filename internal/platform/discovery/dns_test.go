package discovery_test

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/marketplace-go/marketplace/internal/platform/discovery"
	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

func TestParseDNS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    discovery.DNS
		wantErr bool
	}{
		{in: "dns+http://products.marketplace.svc:8082", want: discovery.DNS{Scheme: "http", Host: "products.marketplace.svc", Port: "8082"}},
		{in: "dns+https://orders:8443/", want: discovery.DNS{Scheme: "https", Host: "orders", Port: "8443"}},
		{in: "dns+http://users", want: discovery.DNS{Scheme: "http", Host: "users", Port: "80"}},
		{in: "dns+https://users", want: discovery.DNS{Scheme: "https", Host: "users", Port: "443"}},
		{in: "dns+http://[fd00::1]:8082", want: discovery.DNS{Scheme: "http", Host: "fd00::1", Port: "8082"}},
		{in: "http://products:8082", wantErr: true},
		{in: "dns+ftp://products:21", wantErr: true},
		{in: "dns+http://:8082", wantErr: true},
		{in: "dns+http://products:8082/api", wantErr: true},
		{in: "dns+http://products:8082?x=1", wantErr: true},
		{in: "dns+http://user@products:8082", wantErr: true},
		{in: "dns+http://products:port", wantErr: true},
		{in: "", wantErr: true},
	}
	for _, tt := range tests {
		got, err := discovery.ParseDNS(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseDNS(%q) = %+v, %v; want %+v, error %t", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

func TestDNSFollowsTheRecordsOfItsHost(t *testing.T) {
	t.Parallel()
	srv := startDNS(t, "products.test.", "10.0.0.2", "10.0.0.1", "fd00::1")
	lists := watch(t, srv.source("products.test"))
	waitFor(t, lists, "http://10.0.0.1:8082", "http://10.0.0.2:8082", "http://[fd00::1]:8082")

	srv.set("10.0.0.3", "10.0.0.1")
	waitFor(t, lists, "http://10.0.0.1:8082", "http://10.0.0.3:8082")
}

func TestDNSKeepsTheLastListWhenALookupFails(t *testing.T) {
	t.Parallel()
	srv := startDNS(t, "products.test.", "10.0.0.1")
	lists := watch(t, srv.source("products.test"))
	waitFor(t, lists, "http://10.0.0.1:8082")

	srv.fail()
	start := srv.answered()
	eventually.True(t, "five lookups while the server fails", func() bool { return srv.answered() >= start+5 })
	select {
	case got := <-lists:
		t.Fatalf("reported %q while lookups failed", got)
	default:
	}

	srv.set("10.0.0.2")
	waitFor(t, lists, "http://10.0.0.2:8082")
}

// dnsServer is a DNS server on UDP loopback that answers for one name with
// addresses the test can change, or fails every query.
type dnsServer struct {
	conn net.PacketConn
	name dnsmessage.Name

	mu      sync.Mutex
	addrs   []netip.Addr
	failing bool
	count   int // queries answered
}

func startDNS(t *testing.T, name string, addrs ...string) *dnsServer {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &dnsServer{conn: conn, name: dnsmessage.MustNewName(name)}
	s.set(addrs...)
	go s.serve()
	return s
}

// source returns a DNS source for host that asks s, every 10ms.
func (s *dnsServer) source(host string) discovery.DNS {
	dial := func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "udp", s.conn.LocalAddr().String())
	}
	return discovery.DNS{
		Scheme: "http", Host: host, Port: "8082",
		Interval: 10 * time.Millisecond,
		Resolver: &net.Resolver{PreferGo: true, Dial: dial},
		Log:      quiet,
	}
}

func (s *dnsServer) set(addrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addrs, s.failing = nil, false
	for _, a := range addrs {
		s.addrs = append(s.addrs, netip.MustParseAddr(a))
	}
}

func (s *dnsServer) fail() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failing = true
}

func (s *dnsServer) answered() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

func (s *dnsServer) serve() {
	buf := make([]byte, 1500)
	for {
		n, from, err := s.conn.ReadFrom(buf)
		if err != nil {
			return // closed
		}
		var p dnsmessage.Parser
		h, err := p.Start(buf[:n])
		if err != nil {
			continue
		}
		q, err := p.Question()
		if err != nil {
			continue
		}
		if reply, err := s.answer(h.ID, q); err == nil {
			s.conn.WriteTo(reply, from)
		}
	}
}

func (s *dnsServer) answer(id uint16, q dnsmessage.Question) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	h := dnsmessage.Header{ID: id, Response: true, Authoritative: true, RecursionAvailable: true}
	switch {
	case s.failing:
		h.RCode = dnsmessage.RCodeServerFailure
	case q.Name != s.name:
		h.RCode = dnsmessage.RCodeNameError
	}
	b := dnsmessage.NewBuilder(nil, h)
	if err := b.StartQuestions(); err != nil {
		return nil, err
	}
	if err := b.Question(q); err != nil {
		return nil, err
	}
	if err := b.StartAnswers(); err != nil {
		return nil, err
	}
	var addrs []netip.Addr
	if h.RCode == dnsmessage.RCodeSuccess {
		addrs = s.addrs
	}
	rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET}
	for _, a := range addrs {
		var err error
		switch {
		case q.Type == dnsmessage.TypeA && a.Is4():
			err = b.AResource(rh, dnsmessage.AResource{A: a.As4()})
		case q.Type == dnsmessage.TypeAAAA && a.Is6():
			err = b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: a.As16()})
		}
		if err != nil {
			return nil, err
		}
	}
	return b.Finish()
}
