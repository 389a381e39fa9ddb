-- +goose Up

-- check_products fails (SQLSTATE MP003, the product's id as the detail)
-- when a product an order was priced from is not, or no longer, in the
-- projection at the version it was priced at. A checkout prices from
-- copies held in memory and sends this check in its transaction, so an
-- order is not made at a price the projection had moved on from when the
-- check ran, while the lookup's round trip before the transaction is gone
-- (ADR 0057).
-- +goose StatementBegin
CREATE FUNCTION check_products(p_ids uuid[], p_versions bigint[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    changed uuid;
BEGIN
    SELECT priced.id INTO changed
        FROM unnest(p_ids, p_versions) AS priced (id, version)
        WHERE NOT EXISTS (SELECT FROM products p WHERE p.id = priced.id AND p.version = priced.version)
        LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'product changed' USING ERRCODE = 'MP003', DETAIL = changed::text;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION check_products(uuid[], bigint[]);
