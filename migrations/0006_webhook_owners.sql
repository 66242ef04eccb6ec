-- A webhook belongs to the API client that registered it, as a stream does (0002);
-- NULL: the admin token registered it. Another client gets 404 for it, and it is
-- sent only the events of its owner's streams (src/control/webhooks/webhook-repository.ts).
-- Replaces 0004's free-text `owner`, which nothing wrote (the API set it to NULL);
-- a value naming a client is carried over all the same.

ALTER TABLE webhooks ADD COLUMN owner_client_id text REFERENCES api_clients (id);

UPDATE webhooks SET owner_client_id = owner WHERE owner IN (SELECT id FROM api_clients);

ALTER TABLE webhooks DROP COLUMN owner;

-- a client lists its own webhooks, oldest first
CREATE INDEX webhooks_owner_created_idx ON webhooks (owner_client_id, created_at, id);
