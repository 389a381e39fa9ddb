package tlstest_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// echo is a plain TCP server answering each line with itself, standing for
// the datastore behind a terminator.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

func TestTheTerminatorForwardsOnlyClientsItsConfigurationAccepts(t *testing.T) {
	ca, other := tlstest.NewCA(t, "test CA"), tlstest.NewCA(t, "other CA")
	server := ca.Server(t, "localhost")
	term := tlstest.Terminate(t, echo(t), &tls.Config{
		Certificates: []tls.Certificate{server.Certificate},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    ca.Pool(),
	})
	tests := []struct {
		name   string
		host   string
		roots  *tlstest.CA
		client *tlstest.Pair
		want   string // in the error; "" for an echo
	}{
		{"a client trusting the CA with a certificate of the CA gets the backend's answer", "localhost", ca, ptr(ca.Client(t, "app")), ""},
		{"a client trusting another CA refuses the terminator", "localhost", other, ptr(ca.Client(t, "app")), "unknown authority"},
		{"a client reaching it by an address the certificate lacks refuses it", "127.0.0.1", ca, ptr(ca.Client(t, "app")), "IP SANs"},
		{"a client without a certificate is refused", "localhost", ca, nil, "certificate required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &tls.Config{RootCAs: tc.roots.Pool(), ServerName: tc.host}
			if tc.client != nil {
				cfg.Certificates = []tls.Certificate{tc.client.Certificate}
			}
			got, err := roundTrip(net.JoinHostPort(tc.host, term.Port()), cfg, "ping\n")
			switch {
			case tc.want == "" && (err != nil || got != "ping\n"):
				t.Errorf("echo: %q, %v; want ping", got, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("echo: %q, %v; want an error saying %q", got, err, tc.want)
			}
		})
	}
	if diff := cmp.Diff([]string{"app"}, term.ClientNames()); diff != "" {
		t.Errorf("verified client names (-want +got):\n%s", diff)
	}
	// The terminator's side of a refused handshake may end after the
	// client's.
	eventually.True(t, "one handshake done and three failed", func() bool {
		ok, failed := term.Handshakes()
		return ok == 1 && failed == 3
	})
}

// roundTrip sends line over TLS and reads one line back.
func roundTrip(addr string, cfg *tls.Config, line string) (string, error) {
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if _, err := io.WriteString(c, line); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func ptr[T any](v T) *T { return &v }
