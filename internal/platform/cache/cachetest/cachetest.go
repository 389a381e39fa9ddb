// Package cachetest connects tests to the local Redis, gives each test its
// own key prefix (its keys are deleted when the test ends), and can put a
// TCP proxy between a client and Redis to stop or hang "Redis" mid-test.
package cachetest

import (
	"context"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// Addr is the Redis server tests use: TEST_REDIS_ADDR, or localhost:6379.
func Addr() string {
	if a := os.Getenv("TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "localhost:6379"
}

// Client returns a client of the Redis at addr, closed when the test ends.
func Client(tb testing.TB, addr string) *redis.Client {
	tb.Helper()
	c := redis.NewClient(&redis.Options{Addr: addr, ContextTimeoutEnabled: true})
	tb.Cleanup(func() { c.Close() })
	return c
}

// Prefix returns a key prefix no other test uses; the keys under it are
// deleted from the test server when the test ends. It fails the test when
// the server does not answer.
func Prefix(tb testing.TB) string {
	tb.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: Addr()})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		tb.Fatalf("cachetest: redis at %s (TEST_REDIS_ADDR): %v", Addr(), err)
	}
	prefix := "test-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16] + ":"
	tb.Cleanup(func() {
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		iter := rdb.Scan(ctx, 0, prefix+"*", 1000).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		if err := iter.Err(); err != nil {
			tb.Errorf("cachetest: delete keys %s*: %v", prefix, err)
		}
	})
	return prefix
}

// Proxy forwards TCP connections to a target (Redis) until it is stopped
// or told to hang, standing in for a network failure or a hung server.
type Proxy struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]struct{}
	hang  bool
}

// NewProxy starts a proxy to target on a free loopback port; it is stopped
// when the test ends.
func NewProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("cachetest: proxy: %v", err)
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

// Start resumes forwarding after Stop or Hang, on the same address.
func (p *Proxy) Start(tb testing.TB) {
	tb.Helper()
	p.mu.Lock()
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
	var err error
	for range 50 { // the port may take a moment to be free again
		if ln, err = net.Listen("tcp", p.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("cachetest: restart proxy on %s: %v", p.addr, err)
	}
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
	go func() { io.Copy(server, client); done <- struct{}{} }()
	go func() { io.Copy(client, server); done <- struct{}{} }()
	<-done
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

func (p *Proxy) closeConns() {
	for c := range p.conns {
		c.Close()
		delete(p.conns, c)
	}
}
