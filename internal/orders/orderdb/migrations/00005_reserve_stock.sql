-- +goose Up

-- reserve_stock holds units of a product for an order, and fails (SQLSTATE
-- MP002, the product's id as the detail) when too few are free or the
-- product has no stock row. Failing in the server, rather than reporting
-- an unchanged row to the client, lets a checkout send its whole
-- transaction, BEGIN to COMMIT, in one round trip: a refused reservation
-- aborts it before the COMMIT runs (ADR 0053).
-- +goose StatementBegin
CREATE FUNCTION reserve_stock(p_product uuid, p_quantity bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stock SET reserved = reserved + p_quantity, updated_at = now()
        WHERE product_id = p_product AND on_hand - reserved >= p_quantity;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'insufficient stock' USING ERRCODE = 'MP002', DETAIL = p_product::text;
    END IF;
END $$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION reserve_stock(uuid, bigint);
