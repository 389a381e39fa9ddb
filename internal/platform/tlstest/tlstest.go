// Package tlstest makes what tests of the datastores' TLS need: a
// throwaway certificate authority issuing server and client certificates
// as PEM files, and a TLS terminator that puts a TLS listener in front of a
// plain TCP server (the shared RabbitMQ), so that a client's TLS settings
// can be proved against a real handshake even in runs (-short) that start
// no server of their own.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a certificate authority of one test. Its certificates are valid
// from an hour ago (clock skew between the test and a server it starts)
// for a day.
type CA struct {
	// File is the CA certificate in PEM, to hand to a client or server as
	// the CA it trusts.
	File string
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

// Pair is a certificate the CA issued and its private key, as PEM files
// in a directory of the test's own.
type Pair struct {
	CertFile, KeyFile string
	// BundleFile is the certificate followed by its key in one file, the
	// form MongoDB's tlsCertificateKeyFile takes.
	BundleFile string
	// Certificate is the pair loaded, for a Go server or client.
	Certificate tls.Certificate
}

// NewCA makes a CA named name; its files are removed when the test ends.
func NewCA(tb testing.TB, name string) *CA {
	tb.Helper()
	key := newKey(tb)
	tmpl := template(tb, name)
	tmpl.IsCA, tmpl.BasicConstraintsValid = true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("tlstest: make CA: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("tlstest: parse CA: %v", err)
	}
	file := filepath.Join(tb.TempDir(), "ca.crt")
	write(tb, file, pemBlock("CERTIFICATE", der))
	return &CA{File: file, cert: cert, key: key}
}

// Pool is a pool holding only the CA, for a Go client or server.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// Server issues a server certificate for hosts: each an IP address or a
// DNS name. A client reaching the server by another name must refuse it.
func (ca *CA) Server(tb testing.TB, hosts ...string) Pair {
	tb.Helper()
	tmpl := template(tb, hosts[0])
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	return ca.issue(tb, tmpl)
}

// Client issues a client certificate whose common name is name (the role a
// PostgreSQL server maps it to with "cert" authentication).
func (ca *CA) Client(tb testing.TB, name string) Pair {
	tb.Helper()
	tmpl := template(tb, name)
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	return ca.issue(tb, tmpl)
}

func (ca *CA) issue(tb testing.TB, tmpl *x509.Certificate) Pair {
	tb.Helper()
	key := newKey(tb)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatalf("tlstest: issue %s: %v", tmpl.Subject.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("tlstest: marshal key: %v", err)
	}
	certPEM, keyPEM := pemBlock("CERTIFICATE", der), pemBlock("PRIVATE KEY", keyDER)
	dir := tb.TempDir()
	p := Pair{
		CertFile:   filepath.Join(dir, "tls.crt"),
		KeyFile:    filepath.Join(dir, "tls.key"),
		BundleFile: filepath.Join(dir, "bundle.pem"),
	}
	write(tb, p.CertFile, certPEM)
	write(tb, p.KeyFile, keyPEM)
	write(tb, p.BundleFile, append(append([]byte{}, certPEM...), keyPEM...))
	if p.Certificate, err = tls.X509KeyPair(certPEM, keyPEM); err != nil {
		tb.Fatalf("tlstest: load pair: %v", err)
	}
	return p
}

func newKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("tlstest: key: %v", err)
	}
	return key
}

func template(tb testing.TB, name string) *x509.Certificate {
	tb.Helper()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatalf("tlstest: serial: %v", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

// write writes a file only its owner may read: a server (PostgreSQL)
// refuses a key others can read.
func write(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatalf("tlstest: %v", err)
	}
}

// WaitListening waits, up to within, until a server this test started
// takes connections on port, or fails at once if it exits first (exited
// receives its end; the value is put back for the test's cleanup).
func WaitListening(port string, exited chan error, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			exited <- err
			return fmt.Errorf("exited while starting: %v", err)
		default:
		}
		c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), time.Second)
		if err == nil {
			return c.Close()
		}
		time.Sleep(50 * time.Millisecond) // polling a port: nothing to wait on
	}
	return fmt.Errorf("not listening on %s after %v", port, within)
}
