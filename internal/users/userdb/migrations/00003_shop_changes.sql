-- +goose Up
-- version counts the changes of a shop (opening it is 1) and changed_at
-- stamps the latest, so that the search service reads the shops opened or
-- renamed since its last read and tells an old read from a new one
-- (ADR 45). clock_timestamp, not now(): the time of the write itself, so
-- that a transaction that waited does not stamp its change in the past.
ALTER TABLE sellers
    ADD COLUMN version bigint NOT NULL DEFAULT 1,
    ADD COLUMN changed_at timestamptz NOT NULL DEFAULT clock_timestamp();
UPDATE sellers SET changed_at = created_at;
CREATE INDEX sellers_changed_at_idx ON sellers (changed_at, user_id);

-- +goose Down
DROP INDEX sellers_changed_at_idx;
ALTER TABLE sellers DROP COLUMN changed_at, DROP COLUMN version;
