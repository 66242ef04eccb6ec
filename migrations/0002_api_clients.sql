-- API clients and what they own, OAuth2 tokens, the signing keys every
-- instance shares, and stored responses for Idempotency-Key.

CREATE TABLE api_clients (
  id           text PRIMARY KEY,
  name         text NOT NULL DEFAULT '',
  -- scrypt of the secret with its parameters and salt ("scrypt$N$r$p$salt$hash"); the secret is shown once.
  secret_hash  text NOT NULL,
  -- space-delimited, as OAuth writes scopes
  scopes       text NOT NULL,
  created_at   timestamptz NOT NULL,
  revoked_at   timestamptz
);

-- A stream belongs to the client that created it; NULL: the admin token created it.
ALTER TABLE streams ADD COLUMN owner_client_id text REFERENCES api_clients (id);
CREATE INDEX streams_owner_created_idx ON streams (owner_client_id, created_at DESC, id DESC);

-- RS256 keys. A key signs from activates_at until a newer one is active, and stays published
-- in the JWKS until expires_at (its last token's expiry).
CREATE TABLE signing_keys (
  kid           text PRIMARY KEY,
  private_jwk   text NOT NULL,
  public_jwk    text NOT NULL,
  created_at    timestamptz NOT NULL,
  activates_at  timestamptz NOT NULL,
  retired_at    timestamptz,
  expires_at    timestamptz
);

-- Refresh tokens by the sha256 of their value. Each use rotates: the used row gets used_at and a
-- successor in the same family; presenting a used one again revokes the family.
CREATE TABLE refresh_tokens (
  token_hash  text PRIMARY KEY,
  family_id   text NOT NULL,
  client_id   text NOT NULL REFERENCES api_clients (id) ON DELETE CASCADE,
  scopes      text NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  used_at     timestamptz,
  revoked_at  timestamptz
);

CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_client_idx ON refresh_tokens (client_id);

-- What access tokens no longer count, by subject: "jti:<id>", "sid:<family>" or "client:<id>".
-- Every instance polls the rows after the last seq it saw; rows go once expires_at passes.
CREATE TABLE token_revocations (
  seq         bigserial PRIMARY KEY,
  subject     text NOT NULL,
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL
);

CREATE INDEX token_revocations_expires_idx ON token_revocations (expires_at);

-- Idempotency-Key: one row per (who, key). status NULL while the first request runs.
-- The response body is encrypted with a key derived from the Idempotency-Key value, which
-- only the client knows (key_hash is its sha256): a stored create response holds a stream key.
CREATE TABLE idempotency_keys (
  principal     text NOT NULL,
  key_hash      text NOT NULL,
  method        text NOT NULL,
  path          text NOT NULL,
  request_hash  text NOT NULL,
  status        integer,
  response      text,
  created_at    timestamptz NOT NULL,
  expires_at    timestamptz NOT NULL,
  PRIMARY KEY (principal, key_hash)
);

CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);
