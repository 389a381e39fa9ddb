-- +goose Up

-- shipping_address_sealed is where the buyer wants the order delivered:
-- the address as JSON, sealed with fieldcrypt (AES-256-GCM under
-- ORDERS_PII_KEYS) and bound to the order's id, so a copy moved to
-- another row does not open. NULL for orders placed without an address
-- (ADR 0033).
ALTER TABLE orders ADD COLUMN shipping_address_sealed text;

-- +goose Down
ALTER TABLE orders DROP COLUMN shipping_address_sealed;
