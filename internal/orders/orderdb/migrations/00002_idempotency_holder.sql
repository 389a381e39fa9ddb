-- +goose Up

-- holder names the request that holds a key while it runs. The holder
-- renews its short lease; only it may renew, complete or release the key,
-- so a request that lost its lease (it stalled, another took the key over)
-- can no longer touch the key.
ALTER TABLE idempotency_keys ADD COLUMN holder uuid;

-- link_idempotency_key names the order a checkout made under a key, in the
-- order's transaction, and fails (SQLSTATE MP001) when the key already
-- names one: the row lock makes a second checkout under the key wait for
-- the first to end, and then refuses it, so one key never makes two orders
-- whatever the timing of leases.
-- +goose StatementBegin
CREATE FUNCTION link_idempotency_key(p_user uuid, p_key text, p_order text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE idempotency_keys SET resource_id = p_order
        WHERE user_id = p_user AND key = p_key AND resource_id IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'idempotency key already names an order' USING ERRCODE = 'MP001';
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION link_idempotency_key(uuid, text, text);
ALTER TABLE idempotency_keys DROP COLUMN holder;
