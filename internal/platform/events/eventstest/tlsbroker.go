package eventstest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/tlstest"
)

// brokerBin is RabbitMQ's own start script. Debian's /usr/sbin wrapper
// switches to the rabbitmq user, who may not read the test's files.
const brokerBin = "/usr/lib/rabbitmq/bin/rabbitmq-server"

// TLSBroker is what a broker node serving AMQP over TLS only needs (PEM
// files).
type TLSBroker struct {
	CertFile, KeyFile string
	// CAFile is the CA whose client certificates the broker trusts.
	CAFile string
	// RequireClientCert refuses clients without a certificate
	// (fail_if_no_peer_cert).
	RequireClientCert bool
}

// StartTLSBroker starts a RabbitMQ node of the test's own listening on
// AMQP over TLS only, on a free loopback port it returns, and stops it when
// the test ends. Its name, data, logs, distribution port and Erlang cookie
// are its own, so the shared broker is not touched; it registers with the
// machine's epmd like any node. The node takes about ten seconds to boot.
// The test is skipped where RabbitMQ's start script is not installed.
func StartTLSBroker(tb testing.TB, cfg TLSBroker) (port string) {
	tb.Helper()
	if _, err := os.Stat(brokerBin); err != nil {
		tb.Skipf("no %s to start a broker node with", brokerBin)
	}
	// A free port is free only when it is picked: another process, or an
	// outgoing connection given it as its local port, may hold it by the
	// time the node binds it. Such a node fails to boot, and another pair
	// of ports is tried.
	for attempt := 1; ; attempt++ {
		port, log, err := startTLSNode(tb, cfg)
		if err == nil {
			return port
		}
		if attempt == 3 || !bytes.Contains(log, []byte("could not bind")) && !bytes.Contains(log, []byte("eaddrinuse")) {
			tb.Fatalf("eventstest: broker node: %v\n%s", err, log)
		}
		tb.Logf("eventstest: broker node: a port was taken before it bound it; trying others")
	}
}

// startTLSNode starts a node as StartTLSBroker describes, on ports it
// picks, and waits until it listens. When it does not, the error comes
// with the node's output.
func startTLSNode(tb testing.TB, cfg TLSBroker) (port string, log []byte, err error) {
	tb.Helper()
	dir := tb.TempDir()
	port, dist := freePort(tb), freePort(tb)
	conf := fmt.Sprintf(`listeners.tcp = none
listeners.ssl.default = 127.0.0.1:%s
ssl_options.cacertfile = %s
ssl_options.certfile = %s
ssl_options.keyfile = %s
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = %t
`, port, cfg.CAFile, cfg.CertFile, cfg.KeyFile, cfg.RequireClientCert)
	for name, text := range map[string]string{"rabbitmq.conf": conf, "env.conf": "", "enabled_plugins": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			tb.Fatalf("eventstest: %v", err)
		}
	}
	cmd := exec.Command(brokerBin)
	cmd.Env = append(os.Environ(),
		"HOME="+dir, // its own Erlang cookie
		"RABBITMQ_NODENAME="+fmt.Sprintf("eventstest-%d-%s@localhost", os.Getpid(), port),
		"RABBITMQ_DIST_PORT="+dist,
		"RABBITMQ_CONF_ENV_FILE="+filepath.Join(dir, "env.conf"), // not /etc/rabbitmq's node name
		"RABBITMQ_CONFIG_FILE="+filepath.Join(dir, "rabbitmq.conf"),
		"RABBITMQ_ADVANCED_CONFIG_FILE="+filepath.Join(dir, "advanced.config"),
		"RABBITMQ_ENABLED_PLUGINS_FILE="+filepath.Join(dir, "enabled_plugins"), // no management listener
		"RABBITMQ_MNESIA_BASE="+filepath.Join(dir, "mnesia"),
		"RABBITMQ_LOG_BASE="+filepath.Join(dir, "log"),
		"RABBITMQ_PID_FILE="+filepath.Join(dir, "pid"),
		"ERL_EPMD_ADDRESS=127.0.0.1",
	)
	cmd.Dir = dir
	out, err := os.Create(filepath.Join(dir, "out"))
	if err != nil {
		tb.Fatalf("eventstest: %v", err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group: the script starts the Erlang VM as a child,
	// which must not outlive the test even if the script cannot stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("eventstest: start broker node: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); _ = out.Close() }()
	tb.Cleanup(func() { stopNode(tb, cmd.Process.Pid, exited) })
	if err := tlstest.WaitListening(port, exited, 2*time.Minute); err != nil { // until the node has booted
		log, _ := os.ReadFile(filepath.Join(dir, "out"))
		return "", log, err
	}
	return port, nil, nil
}

// stopNode stops the node as an operator would: SIGTERM to the start
// script, which stops the VM cleanly and exits once it has. If that takes
// too long the whole process group is killed.
func stopNode(tb testing.TB, pgid int, exited chan error) {
	_ = syscall.Kill(pgid, syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(time.Minute):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-exited
		tb.Errorf("eventstest: broker node %d did not stop within a minute; killed", pgid)
	}
}

func freePort(tb testing.TB) string {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("eventstest: %v", err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}
