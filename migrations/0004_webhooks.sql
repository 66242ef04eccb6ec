-- Webhooks: endpoints registered for event types, one delivery per
-- (endpoint, event) and a log of every attempt. Deliveries are claimed with
-- FOR UPDATE SKIP LOCKED by any instance (src/control/webhooks/webhook-dispatcher.ts).

CREATE TABLE webhooks (
  id               text PRIMARY KEY,
  url              text NOT NULL,
  -- event types it wants (JSON array of strings; ["*"] for all)
  event_types      jsonb NOT NULL,
  -- the Standard Webhooks signing secret ("whsec_" + base64): shown once, needed to sign
  secret           text NOT NULL,
  description      text NOT NULL DEFAULT '',
  enabled          boolean NOT NULL DEFAULT true,
  disabled_reason  text,
  -- the API client that registered it (null: the admin token)
  owner            text,
  created_at       timestamptz NOT NULL
);

CREATE TABLE webhook_deliveries (
  id               text PRIMARY KEY,
  webhook_id       text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
  -- the event's id: the webhook-id header, the same on every attempt
  event_id         text NOT NULL,
  event_type       text NOT NULL,
  -- the exact body sent (what the signature covers)
  body             text NOT NULL,
  status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL,
  created_at       timestamptz NOT NULL,
  finished_at      timestamptz,
  UNIQUE (webhook_id, event_id)
);

CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';

CREATE TABLE webhook_attempts (
  id           bigserial PRIMARY KEY,
  delivery_id  text NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
  webhook_id   text NOT NULL,
  event_id     text NOT NULL,
  attempt      integer NOT NULL,
  at           timestamptz NOT NULL,
  -- the receiver's HTTP status, null when there was no answer
  status_code  integer,
  -- why it failed (timeout, refused, non-2xx), null on success
  error        text,
  duration_ms  integer NOT NULL
);

CREATE INDEX webhook_attempts_webhook_idx ON webhook_attempts (webhook_id, id DESC);
