package events_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/uuid"

	"github.com/marketplace-go/marketplace/internal/platform/events"
)

func TestNewFillsTheEnvelope(t *testing.T) {
	before := time.Now()
	e, err := events.New("product.updated", "products", "p-1", 7, 2, map[string]int{"price": 1200})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	id, err := uuid.Parse(e.ID)
	if err != nil || id.Version() != 7 {
		t.Errorf("ID = %q, want a UUIDv7 (parse error %v)", e.ID, err)
	}
	if e.Time.Before(before) || e.Time.After(time.Now()) || e.Time.Location() != time.UTC {
		t.Errorf("Time = %v, want now in UTC", e.Time)
	}
	want := events.Event{
		ID: e.ID, Type: "product.updated", Version: 2, Source: "products", Time: e.Time,
		Subject: "p-1", Sequence: 7, Data: json.RawMessage(`{"price":1200}`),
	}
	if diff := cmp.Diff(want, e); diff != "" {
		t.Errorf("New (-want +got):\n%s", diff)
	}
}

func TestNewRejectsUnusableEvents(t *testing.T) {
	tests := []struct {
		name    string
		typ     string
		version int
		data    any
		want    string
	}{
		{"no type", "", 1, nil, "no type"},
		{"version zero", "product.created", 0, nil, "version 0"},
		{"data not encodable", "product.created", 1, make(chan int), "encode data"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := events.New(tt.typ, "products", "p-1", 1, tt.version, tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestNewGivesTimeOrderedIDs(t *testing.T) {
	var prev string
	for i := range 100 {
		e, err := events.New("product.created", "products", "p", int64(i), 1, nil)
		if err != nil {
			t.Fatal(err)
		}
		if e.ID <= prev {
			t.Fatalf("id %s after %s: want increasing ids", e.ID, prev)
		}
		prev = e.ID
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name  string
		cfg   events.Config
		valid bool
	}{
		{"zero value uses defaults", events.Config{}, true},
		{"explicit", events.Config{URL: "amqp://u:p@rabbit:5672/shop", Exchange: "shop.events"}, true},
		{"not an amqp url", events.Config{URL: "http://rabbit"}, false},
		{"reconnect bounds reversed", events.Config{ReconnectMin: time.Second, ReconnectMax: time.Millisecond}, false},
		{"negative heartbeat", events.Config{Heartbeat: -time.Second}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.valid {
				t.Errorf("Validate() = %v, want valid=%v", err, tt.valid)
			}
		})
	}
}

func TestConfigLogValueMasksThePassword(t *testing.T) {
	var b strings.Builder
	cfg := events.Config{URL: "amqp://shop:s3cret@rabbit:5672/shop", Exchange: "shop.events"}
	slog.New(slog.NewTextHandler(&b, nil)).Info("start", "events", cfg)
	if strings.Contains(b.String(), "s3cret") || !strings.Contains(b.String(), "rabbit:5672") {
		t.Errorf("logged %q, want the URL without its password", b.String())
	}
}

func TestConsumeRejectsConfigThatCannotWork(t *testing.T) {
	c, err := events.NewConsumer(events.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		cc   events.ConsumerConfig
	}{
		{"no queue", events.ConsumerConfig{Bindings: []string{"product.*"}}},
		{"no bindings", events.ConsumerConfig{Queue: "q"}},
		{"negative attempts", events.ConsumerConfig{Queue: "q", Bindings: []string{"#"}, MaxAttempts: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := func(context.Context, events.Event) error { return nil }
			if err := c.Consume(t.Context(), tt.cc, h); err == nil {
				t.Error("Consume = nil, want a configuration error")
			}
		})
	}
}

func TestAttemptIsZeroOutsideAHandler(t *testing.T) {
	if n := events.Attempt(t.Context()); n != 0 {
		t.Errorf("Attempt = %d, want 0", n)
	}
}
