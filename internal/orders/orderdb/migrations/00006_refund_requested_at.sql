-- +goose Up

-- refund_requested_at is when a payment's refund was first asked for: the
-- first use of the refund's idempotency key, from which the provider keeps
-- it (orders.KeyWindow). The resolver judged refunds by created_at, the
-- charge's, and so never retried a refund asked for a day or more after
-- the charge. Refunds asked for before this column are dated by their
-- last change, the closest record of the request.
ALTER TABLE payments ADD COLUMN refund_requested_at timestamptz;
UPDATE payments SET refund_requested_at = updated_at WHERE refund_status IS NOT NULL;

-- +goose Down
ALTER TABLE payments DROP COLUMN refund_requested_at;
