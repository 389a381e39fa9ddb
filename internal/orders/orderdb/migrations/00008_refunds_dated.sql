-- +goose Up

-- Every refund status is dated by its request: the resolver retries a
-- pending refund only within the provider's key window from that date, and
-- the metric of pending refunds ages them by it. A pending refund without
-- a date would be neither retried nor aged, so stuck unseen. Refunds that
-- lack one (written by hand, or by a binary older than 00006 during a
-- rollout) are dated by their last change, as 00006 did.
UPDATE payments SET refund_requested_at = updated_at WHERE refund_status IS NOT NULL AND refund_requested_at IS NULL;
ALTER TABLE payments ADD CONSTRAINT payments_refund_dated CHECK (refund_status IS NULL OR refund_requested_at IS NOT NULL);

-- +goose Down
ALTER TABLE payments DROP CONSTRAINT payments_refund_dated;
