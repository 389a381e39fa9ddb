-- +goose Up

-- trace_context keeps the trace context (W3C traceparent, tracestate,
-- baggage) of the transaction that stored an event, so that the relay
-- publishes the event in that trace and one checkout is one trace across
-- processes. NULL when the writer was not traced; rows written before
-- this column existed are published in traces of their own.
ALTER TABLE outbox ADD COLUMN trace_context jsonb;

-- +goose Down
ALTER TABLE outbox DROP COLUMN trace_context;
