// Package proxytest puts a TCP proxy between a client and a server (Redis,
// RabbitMQ, PostgreSQL), so that a test can stop or hang the "server"
// mid-test and start it again on the same address.
package proxytest

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/marketplace-go/marketplace/internal/platform/eventually"
)

// Proxy forwards TCP connections to a target until it is stopped or told
// to hang, standing in for a network failure or a hung server.
type Proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	hang  bool
	// thaw is closed when forwarding resumes after Freeze; nil while
	// not frozen.
	thaw chan struct{}
}

// NewProxy starts a proxy to target on a free loopback port; it is stopped
// when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("proxytest: %v", err)
	}
	p := &Proxy{target: target, addr: ln.Addr().String(), conns: map[net.Conn]struct{}{}}
	p.serve(ln)
	tb.Cleanup(p.Stop)
	return p
}

// Addr is where clients connect to reach the target.
func (p *Proxy) Addr() string { return p.addr }

// Stop closes the listener and every connection: clients see their
// connections reset and new ones refused.
func (p *Proxy) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	p.closeConns()
}

// Hang closes every connection, then accepts new ones but never answers on
// them, like a server that stopped responding.
func (p *Proxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hang = true
	p.closeConns()
}

// Freeze keeps every connection open but passes nothing on, either way,
// like a server that was paused or a network that drops every packet:
// clients notice only by timeouts. Start passes on what was held.
func (p *Proxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.thaw == nil {
		p.thaw = make(chan struct{})
	}
}

// Start resumes forwarding after Stop, Hang or Freeze, on the same address.
func (p *Proxy) Start(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
	if p.thaw != nil {
		close(p.thaw)
		p.thaw = nil
	}
	if p.hang {
		p.hang = false
		p.closeConns() // the silent ones
	}
	running := p.ln != nil
	p.mu.Unlock()
	if running {
		return
	}
	var ln net.Listener
	eventually.NoError(tb, "proxytest: listen again on "+p.addr, func() (err error) { // the port may take a moment to be free again
		ln, err = net.Listen("tcp", p.addr)
		return err
	})
	p.serve(ln)
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.handle(c)
		}
	}()
}

// handle forwards one client connection, or holds it silently when hung.
func (p *Proxy) handle(client net.Conn) {
	if !p.track(client) {
		client.Close()
		return
	}
	defer p.untrack(client)
	p.mu.Lock()
	hang := p.hang
	p.mu.Unlock()
	if hang {
		io.Copy(io.Discard, client) // until Stop, Start or the client gives up
		return
	}
	server, err := net.DialTimeout("tcp", p.target, time.Second)
	if err != nil {
		return
	}
	if !p.track(server) {
		server.Close()
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	go func() { p.copy(server, client); done <- struct{}{} }()
	go func() { p.copy(client, server); done <- struct{}{} }()
	<-done
}

// copy forwards from src to dst, holding what it read while frozen.
func (p *Proxy) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			thaw := p.thaw
			p.mu.Unlock()
			if thaw != nil {
				<-thaw
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	c.Close()
	delete(p.conns, c)
}

// closeConns closes every connection, releasing a freeze's held data to
// fail on the closed connections.
func (p *Proxy) closeConns() {
	if p.thaw != nil {
		close(p.thaw)
		p.thaw = nil
	}
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}
