-- +goose Up
CREATE TABLE users (
    id              uuid PRIMARY KEY,
    email           text NOT NULL,
    display_name    text NOT NULL,
    password_hash   text NOT NULL,
    roles           text[] NOT NULL DEFAULT '{buyer}'
                    CHECK (roles <@ ARRAY['buyer','seller','admin']::text[]),
    disabled        boolean NOT NULL DEFAULT false,
    -- PII, sealed with AES-256-GCM: "v1.<key id>.<base64url(nonce|ciphertext)>".
    phone_sealed    text,
    address_sealed  text,
    preferences     jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
-- Emails are stored normalised (lower case); the index also guards against
-- any writer that forgets to.
CREATE UNIQUE INDEX users_email_key ON users (lower(email));

CREATE TABLE sellers (
    user_id     uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    shop_name   text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX sellers_shop_name_key ON sellers (lower(shop_name));

-- A session is one refresh token family: every rotation adds a token to it,
-- and reuse of a spent token revokes the whole family.
CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX sessions_user_id_idx ON sessions (user_id) WHERE revoked_at IS NULL;

CREATE TABLE refresh_tokens (
    token_hash  bytea PRIMARY KEY,          -- SHA-256 of the opaque token
    session_id  uuid NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    used_at     timestamptz
);
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);

CREATE TABLE password_resets (
    token_hash  bytea PRIMARY KEY,          -- SHA-256 of the emailed token
    user_id     uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz
);
CREATE INDEX password_resets_user_id_idx ON password_resets (user_id);

-- Throttling counters in fixed windows, shared by every instance of the
-- service: failed logins per "account:<email>" and "address:<ip>", reset
-- mails per "reset:<email>".
CREATE TABLE throttle_counters (
    key         text PRIMARY KEY,
    count       integer NOT NULL,
    window_end  timestamptz NOT NULL
);

-- +goose Down
DROP TABLE throttle_counters, password_resets, refresh_tokens, sessions, sellers, users;
