package cachetest

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// TLSServer is what a redis-server serving TLS only needs (PEM files).
type TLSServer struct {
	CertFile, KeyFile string
	// CAFile is the CA whose client certificates the server trusts;
	// redis-server wants one even when it checks none.
	CAFile string
	// RequireClientCert refuses clients without a certificate
	// (tls-auth-clients yes, Redis's default).
	RequireClientCert bool
}

// StartTLS runs a redis-server of the test's own listening on TLS only (no
// plain port) on a free loopback port, which it returns; the server is
// stopped when the test ends. The test is skipped where redis-server is
// not installed.
func StartTLS(tb testing.TB, cfg TLSServer) (port string) {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Skip("no redis-server on PATH to start a TLS server with")
	}
	port = freePort(tb)
	dir := tb.TempDir()
	auth := "no"
	if cfg.RequireClientCert {
		auth = "yes"
	}
	cmd := exec.Command(bin, "--port", "0", "--tls-port", port, "--bind", "127.0.0.1",
		"--tls-cert-file", cfg.CertFile, "--tls-key-file", cfg.KeyFile,
		"--tls-ca-cert-file", cfg.CAFile, "--tls-auth-clients", auth,
		"--save", "", "--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		tb.Fatalf("cachetest: start redis-server: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	if err := tlstest.WaitListening(port, exited, 30*time.Second); err != nil {
		log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
		tb.Fatalf("cachetest: redis-server: %v\n%s", err, log)
	}
	return port
}

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cachetest: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
