// Package cachetest connects tests to the local Redis and gives each test
// its own key prefix (its keys are deleted when the test ends).
// proxytest stops or hangs "Redis" mid-test.
package cachetest

import (
	"context"
	"os"
	"strings"
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
