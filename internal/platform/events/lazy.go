package events

import (
	"context"
	"log/slog"
	"sync"
)

// LazyPublisher connects to the broker on first use, so that a service
// starts and takes writes while RabbitMQ is down; its relay delivers the
// waiting events once the broker is back.
type LazyPublisher struct {
	cfg Config
	log *slog.Logger
	mu  sync.Mutex
	pub *Publisher
}

// NewLazyPublisher returns a publisher that has not connected yet.
func NewLazyPublisher(cfg Config, log *slog.Logger) *LazyPublisher {
	return &LazyPublisher{cfg: cfg, log: log}
}

// Publish connects if needed, then publishes with confirms.
func (l *LazyPublisher) Publish(ctx context.Context, e Event) error {
	l.mu.Lock()
	if l.pub == nil {
		pub, err := NewPublisher(ctx, l.cfg, l.log)
		if err != nil {
			l.mu.Unlock()
			return err
		}
		l.pub = pub
	}
	pub := l.pub
	l.mu.Unlock()
	return pub.Publish(ctx, e)
}

// Close closes the connection, if one was made.
func (l *LazyPublisher) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pub != nil {
		_ = l.pub.Close()
	}
}
