-- +goose Up

-- products is this service's copy of the catalog, built from product
-- events and filled on demand from the products service. version only
-- grows: an older event never overwrites a newer state.
CREATE TABLE products (
    id          uuid PRIMARY KEY,
    seller_id   uuid NOT NULL,
    title       text NOT NULL,
    price       bigint NOT NULL CHECK (price >= 0),
    currency    char(3) NOT NULL,
    status      text NOT NULL,
    version     bigint NOT NULL,
    synced_at   timestamptz NOT NULL DEFAULT now()
);

-- stock is owned here. The checks make overselling and negative stock
-- impossible whatever the code above does.
CREATE TABLE stock (
    product_id  uuid PRIMARY KEY REFERENCES products (id),
    on_hand     bigint NOT NULL CHECK (on_hand >= 0),
    reserved    bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_reserved_within_on_hand CHECK (reserved <= on_hand)
);

CREATE TABLE cart_items (
    buyer_id    uuid NOT NULL,
    product_id  uuid NOT NULL REFERENCES products (id),
    quantity    integer NOT NULL CHECK (quantity > 0),
    added_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (buyer_id, product_id)
);

CREATE TABLE orders (
    id              uuid PRIMARY KEY,
    buyer_id        uuid NOT NULL,
    status          text NOT NULL,
    currency        char(3) NOT NULL,
    total           bigint NOT NULL CHECK (total >= 0),
    version         bigint NOT NULL DEFAULT 1,
    -- reserved_until is when the stock held for an unpaid order goes back.
    reserved_until  timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX orders_by_buyer ON orders (buyer_id, created_at DESC, id DESC);
CREATE INDEX orders_by_time ON orders (created_at DESC, id DESC);
CREATE INDEX orders_expiring ON orders (reserved_until) WHERE status = 'pending_payment';

CREATE TABLE sub_orders (
    id              uuid PRIMARY KEY,
    order_id        uuid NOT NULL REFERENCES orders (id),
    seller_id       uuid NOT NULL,
    status          text NOT NULL,
    subtotal        bigint NOT NULL CHECK (subtotal >= 0),
    tracking_number text,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);
CREATE INDEX sub_orders_by_order ON sub_orders (order_id);
CREATE INDEX sub_orders_by_seller ON sub_orders (seller_id, created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id      uuid NOT NULL REFERENCES orders (id),
    sub_order_id  uuid NOT NULL REFERENCES sub_orders (id),
    product_id    uuid NOT NULL,
    title         text NOT NULL,
    unit_price    bigint NOT NULL CHECK (unit_price >= 0),
    quantity      integer NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, product_id)
);

-- order_history has a row for every status change of an order or one of
-- its sub-orders.
CREATE TABLE order_history (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id      uuid NOT NULL REFERENCES orders (id),
    sub_order_id  uuid REFERENCES sub_orders (id),
    from_status   text,
    to_status     text NOT NULL,
    actor         text NOT NULL,
    reason        text NOT NULL DEFAULT '',
    at            timestamptz NOT NULL
);
CREATE INDEX order_history_by_order ON order_history (order_id, id);

-- payments has at most one row per order: the charge is made under a key
-- derived from the order, so retries reach the provider as the same charge.
CREATE TABLE payments (
    order_id        uuid PRIMARY KEY REFERENCES orders (id),
    provider        text NOT NULL,
    charge_key      text NOT NULL UNIQUE,
    payment_method  text NOT NULL,
    amount          bigint NOT NULL,
    currency        char(3) NOT NULL,
    -- processing: the outcome is not known yet; succeeded, declined.
    status          text NOT NULL,
    charge_id       text,
    decline_reason  text,
    attempts        integer NOT NULL DEFAULT 0,
    refund_status   text, -- NULL, pending or refunded
    refund_id       text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_unresolved ON payments (updated_at) WHERE status = 'processing' OR refund_status = 'pending';

-- idempotency_keys remembers the answer to a retried request. An entry is
-- claimed before the work starts, so a concurrent retry waits for the
-- first answer instead of doing the work again.
CREATE TABLE idempotency_keys (
    user_id       uuid NOT NULL,
    key           text NOT NULL,
    operation     text NOT NULL,
    request_hash  bytea NOT NULL,
    -- locked_until: while the first request runs; a crashed request's
    -- claim can be taken over after it.
    locked_until  timestamptz,
    -- resource_id is the order a checkout created, linked in the order's
    -- own transaction, so a retry after a crash finds it.
    resource_id   text,
    status        integer,
    response      bytea,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

-- outbox and inbox as internal/platform/outbox.Schema has them.
CREATE TABLE outbox (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event       jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE inbox (
    consumer     text NOT NULL,
    event_id     text NOT NULL,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX inbox_received_at_idx ON inbox (received_at);

-- +goose Down
DROP TABLE inbox, outbox, idempotency_keys, payments, order_history, order_lines, sub_orders, orders, cart_items, stock, products;
