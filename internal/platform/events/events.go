// Package events is the RabbitMQ code the services share: an event envelope,
// a Publisher that returns only once the broker has confirmed a message, and
// a Consumer that acks only after its handler succeeds, retries failures a
// bounded number of times and parks what cannot be handled in a dead-letter
// queue. Both reconnect by themselves after a broker restart.
//
// Delivery is at least once in both directions: a publish whose confirm was
// lost is retried by its caller, and a message whose ack was lost is handed
// out again, so handlers must de-duplicate (by Event.ID, or by Subject and
// Sequence).
package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// contentType is the only body format this package writes or reads.
const contentType = "application/json"

// Event is the envelope every message on the bus carries, serialised as JSON
// in the message body. The AMQP properties repeat ID, Type, Time and Source
// (as message-id, type, timestamp and app-id) so that tools such as the
// management UI show them without decoding the body.
type Event struct {
	// ID is a UUIDv7, unique per event; consumers de-duplicate on it.
	ID string `json:"id"`
	// Type names what happened, such as "product.created"; it is also the
	// routing key, so consumers bind to patterns such as "product.*".
	Type string `json:"type"`
	// Version is the schema version of Data, so a payload can change shape
	// without breaking consumers that still read the old one.
	Version int `json:"version"`
	// Source is the service that published the event.
	Source string `json:"source"`
	// Time is when the change happened, not when it was published: an event
	// kept for retry keeps its original time.
	Time time.Time `json:"time"`
	// Subject is the id of the aggregate that changed, such as a product id.
	Subject string `json:"subject"`
	// Sequence is the aggregate's version after the change; a consumer that
	// has already seen a higher one for Subject can ignore the event, since
	// redelivery and retries do not preserve order.
	Sequence int64 `json:"sequence"`
	// Data is the type-specific payload.
	Data json.RawMessage `json:"data,omitempty"`
}

// New builds an event with a fresh UUIDv7 and the current time, encoding
// data as its JSON payload. A time-ordered id keeps outbox tables and logs
// sorted by creation.
func New(typ, source, subject string, seq int64, version int, data any) (Event, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Event{}, fmt.Errorf("new event %s: encode data: %w", typ, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Event{}, fmt.Errorf("new event %s: %w", typ, err)
	}
	e := Event{
		ID: id.String(), Type: typ, Version: version, Source: source,
		Time: time.Now().UTC(), Subject: subject, Sequence: seq, Data: raw,
	}
	if err := e.validate(); err != nil {
		return Event{}, fmt.Errorf("new event: %w", err)
	}
	return e, nil
}

// validate reports what makes e unfit for the bus: without an id consumers
// cannot de-duplicate, and without a type it cannot be routed.
func (e Event) validate() error {
	switch {
	case e.ID == "":
		return errors.New("event has no id")
	case e.Type == "":
		return errors.New("event has no type")
	case e.Version < 1:
		return fmt.Errorf("event %s: version %d, want 1 or more", e.ID, e.Version)
	}
	return nil
}

// publishing encodes e as a persistent AMQP message.
func (e Event) publishing() (amqp.Publishing, error) {
	if err := e.validate(); err != nil {
		return amqp.Publishing{}, err
	}
	body, err := json.Marshal(e)
	if err != nil {
		return amqp.Publishing{}, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	return amqp.Publishing{
		ContentType:  contentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    e.ID,
		Type:         e.Type,
		Timestamp:    e.Time,
		AppId:        e.Source,
		Body:         body,
	}, nil
}

// decode reads an event from a message body, rejecting anything a handler
// could not act on.
func decode(body []byte) (Event, error) {
	var e Event
	if err := json.Unmarshal(body, &e); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	if err := e.validate(); err != nil {
		return Event{}, fmt.Errorf("decode event: %w", err)
	}
	return e, nil
}
