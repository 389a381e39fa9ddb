// Package pgclustertest runs a PostgreSQL server of a test's own: a
// cluster made with initdb in a temporary directory, on a free loopback
// port, that the test may restart or crash without touching the server
// other tests share.
package pgclustertest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Cluster is one running PostgreSQL server and its data directory.
type Cluster struct {
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // owned by the server's OS user: data/ and server.log
	port int
	as   string // the OS user the server runs as; empty: this process's
}

// Option changes the cluster Start makes.
type Option func(*settings)

type settings struct {
	tls *TLS
}

// TLS is what a cluster serving TLS only needs: its certificate and key
// (PEM files, copied into the cluster's directory, where the server's OS
// user may read them) and, for client certificates, the CA that issues
// them.
type TLS struct {
	CertFile, KeyFile string
	// CAFile is ssl_ca_file: the CA whose client certificates the server
	// trusts. Empty: the server asks for none.
	CAFile string
	// ClientCert makes every TCP connection present a client certificate
	// issued by CAFile whose common name is the role it logs in as
	// (pg_hba.conf method "cert") instead of being trusted.
	ClientCert bool
}

// WithTLS makes the server take TCP connections over TLS only (ssl = on,
// "hostssl" lines and no "host" line in pg_hba.conf): a client that does
// not speak TLS is refused with "no encryption".
func WithTLS(t TLS) Option { return func(s *settings) { s.tls = &t } }

// Start makes a cluster (trust authentication for the postgres role,
// fsync on as in production) and starts it; the server is stopped and its
// directory removed when the test ends, whether it passed or not.
// PostgreSQL refuses to run as root, so under root the server runs as the
// postgres OS user.
func Start(tb testing.TB, opts ...Option) *Cluster {
	tb.Helper()
	var set settings
	for _, opt := range opts {
		opt(&set)
	}
	bin, err := binDir()
	if err != nil {
		tb.Fatalf("pgclustertest: %v", err)
	}
	c := &Cluster{bin: bin, port: freePort(tb)}
	dir, err := os.MkdirTemp("", "pgclustertest-")
	if err != nil {
		tb.Fatalf("pgclustertest: %v", err)
	}
	c.dir = dir
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		c.as = "postgres"
		if err := chown(dir, c.as); err != nil {
			tb.Fatalf("pgclustertest: %v", err)
		}
	}
	ctx := context.Background()
	// --no-sync only spares initdb's own flush of the new files; the
	// server itself runs with fsync on.
	if out, err := c.run(ctx, "initdb", "-D", c.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		tb.Fatalf("pgclustertest: initdb: %v\n%s", err, out)
	}
	conf := fmt.Sprintf("\nlisten_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\nfsync = on\nsynchronous_commit = on\n", c.port, dir)
	if set.tls != nil {
		tlsConf, err := c.serveTLS(*set.tls)
		if err != nil {
			tb.Fatalf("pgclustertest: %v", err)
		}
		conf += tlsConf
	}
	if err := appendFile(filepath.Join(c.data(), "postgresql.conf"), conf); err != nil {
		tb.Fatalf("pgclustertest: %v", err)
	}
	if out, err := c.ctl(ctx, "start"); err != nil {
		tb.Fatalf("pgclustertest: start: %v\n%s\n%s", err, out, c.Log())
	}
	tb.Cleanup(func() {
		if out, err := c.ctl(context.Background(), "stop", "-m", "immediate"); err != nil {
			tb.Errorf("pgclustertest: stop: %v\n%s", err, out)
		}
	})
	return c
}

// serveTLS copies the TLS files next to the data directory, for the
// server's OS user only, replaces pg_hba.conf by TLS-only lines, and
// returns the postgresql.conf lines that turn TLS on.
func (c *Cluster) serveTLS(t TLS) (string, error) {
	if t.ClientCert && t.CAFile == "" {
		return "", errors.New("WithTLS: ClientCert needs CAFile")
	}
	conf := "ssl = on\n"
	for _, f := range []struct{ setting, from, to string }{
		{"ssl_cert_file", t.CertFile, "server.crt"},
		{"ssl_key_file", t.KeyFile, "server.key"},
		{"ssl_ca_file", t.CAFile, "ca.crt"},
	} {
		if f.from == "" {
			continue
		}
		to := filepath.Join(c.dir, f.to)
		if err := c.copyFile(f.from, to); err != nil {
			return "", err
		}
		conf += fmt.Sprintf("%s = '%s'\n", f.setting, to)
	}
	method := "trust"
	if t.ClientCert {
		method = "cert"
	}
	// The local line serves pg_ctl and the test's own socket connections;
	// TCP is TLS only.
	hba := "local all all trust\nhostssl all all 127.0.0.1/32 " + method + "\n"
	if err := os.WriteFile(filepath.Join(c.data(), "pg_hba.conf"), []byte(hba), 0o600); err != nil {
		return "", fmt.Errorf("write pg_hba.conf: %w", err)
	}
	return conf, c.own(filepath.Join(c.data(), "pg_hba.conf"))
}

// copyFile copies a file for the server's OS user alone: PostgreSQL
// refuses a key file others may read.
func (c *Cluster) copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("read %s: %w", from, err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return c.own(to)
}

// own gives a file this process wrote to the server's OS user.
func (c *Cluster) own(path string) error {
	if c.as == "" {
		return nil
	}
	return chown(path, c.as)
}

// URL is the address of database db on the cluster, as the postgres role,
// in plain text: a cluster started WithTLS refuses it.
func (c *Cluster) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@%s/%s?sslmode=disable", c.Addr(), db)
}

// Addr is the host:port the server listens on.
func (c *Cluster) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)) }

// Restart stops the server and starts it again, waiting until it accepts
// connections. Mode is pg_ctl's shutdown mode: "fast" ends every session
// and checkpoints; "immediate" ends the server as a crash would, so that
// it starts with crash recovery from the WAL.
func (c *Cluster) Restart(ctx context.Context, mode string) error {
	if out, err := c.ctl(ctx, "restart", "-m", mode); err != nil {
		return fmt.Errorf("pg_ctl restart -m %s: %w\n%s\n%s", mode, err, out, c.Log())
	}
	return nil
}

// Log is the server's log so far, for a failure message.
func (c *Cluster) Log() string {
	b, _ := os.ReadFile(filepath.Join(c.dir, "server.log"))
	return string(b)
}

func (c *Cluster) data() string { return filepath.Join(c.dir, "data") }

// ctl runs pg_ctl on the cluster, waiting for the action to complete.
func (c *Cluster) ctl(ctx context.Context, action string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return c.run(ctx, "pg_ctl", append([]string{action, "-w", "-t", "90", "-D", c.data(), "-l", filepath.Join(c.dir, "server.log")}, args...)...)
}

// run runs one of the server's programs as the server's OS user.
func (c *Cluster) run(ctx context.Context, program string, args ...string) ([]byte, error) {
	path := filepath.Join(c.bin, program)
	var cmd *exec.Cmd
	if c.as != "" {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", c.as, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = c.dir // the server's user may not enter the test's directory
	return cmd.CombinedOutput()
}

// binDir finds the newest PostgreSQL installed as Debian installs it, or
// else pg_ctl on PATH.
func binDir() (string, error) {
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	slices.SortFunc(found, func(a, b string) int { return version(a) - version(b) })
	if len(found) > 0 {
		return filepath.Dir(found[len(found)-1]), nil
	}
	p, err := exec.LookPath("pg_ctl")
	if err != nil {
		return "", errors.New("no PostgreSQL server programs: neither /usr/lib/postgresql/*/bin nor pg_ctl on PATH")
	}
	return filepath.Dir(p), nil
}

// version is the major version in /usr/lib/postgresql/<v>/bin/pg_ctl.
func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func chown(dir, name string) error {
	u, err := user.Lookup(name)
	if err != nil {
		return fmt.Errorf("PostgreSQL will not run as root and there is no %s user: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := os.Chown(dir, uid, gid); err != nil {
		return fmt.Errorf("give %s to %s: %w", dir, name, err)
	}
	return nil
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	if _, err := f.WriteString(text); err != nil {
		_ = f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}

// freePort is a loopback port nothing listened on a moment ago.
func freePort(tb testing.TB) int {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("pgclustertest: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
