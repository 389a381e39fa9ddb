-- +goose Up
-- One row per order whose confirmation mail was claimed or sent, so that an
-- order event delivered more than once mails its buyer once (ADR 40). A
-- claim without sent_at is a send in progress, or one abandoned by a crash
-- that a later delivery takes over once claimed_at is older than the lease.
CREATE TABLE order_confirmations (
    order_id    uuid PRIMARY KEY,
    buyer_id    uuid NOT NULL,
    claim       uuid NOT NULL,
    claimed_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz
);
CREATE INDEX order_confirmations_sent_at_idx ON order_confirmations (sent_at);

-- +goose Down
DROP TABLE order_confirmations;
