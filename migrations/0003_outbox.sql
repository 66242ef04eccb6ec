-- The transactional outbox: an event others must hear of is written in the
-- same transaction as the state change it announces, and a relay publishes it
-- (src/control/events/outbox-relay.ts). Events are ordered per partition (a
-- hash of the stream id): each event takes the next seq of its partition,
-- whose row lock is held to the end of the transaction, so within a partition
-- seq order is commit order and has no gaps.

-- This database's name for itself in the event log: a relay refuses a log another
-- database's relay has written to (two deployments, or test runs, sharing a Redis key prefix),
-- where seq numbers of different outboxes would be taken for each other's.
CREATE TABLE event_log_identity (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  id         text NOT NULL
);

INSERT INTO event_log_identity (id) VALUES (gen_random_uuid()::text);

CREATE TABLE event_partitions (
  partition  integer PRIMARY KEY CHECK (partition >= 0),
  last_seq   bigint NOT NULL
);

CREATE TABLE event_outbox (
  id            bigserial PRIMARY KEY,
  -- the event's identity for consumers (webhook-id, idempotency keys)
  event_id      text NOT NULL UNIQUE,
  partition     integer NOT NULL,
  seq           bigint NOT NULL,
  stream_id     text NOT NULL,
  type          text NOT NULL,
  payload       jsonb NOT NULL,
  created_at    timestamptz NOT NULL,
  -- set by the relay once the event log holds the event; published rows are pruned after a retention
  published_at  timestamptz,
  UNIQUE (partition, seq)
);

-- The relay's scan: unpublished rows in id order.
CREATE INDEX event_outbox_pending_idx ON event_outbox (id) WHERE published_at IS NULL;
-- Pruning and the republication after the event log lost entries.
CREATE INDEX event_outbox_published_idx ON event_outbox (published_at) WHERE published_at IS NOT NULL;

-- Wakes relays listening on PostgreSQL at commit (NOTIFY is delivered only when the inserting
-- transaction commits, and once per transaction however many rows it inserted).
CREATE FUNCTION event_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('nova_outbox', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER event_outbox_notify AFTER INSERT ON event_outbox
  FOR EACH STATEMENT EXECUTE FUNCTION event_outbox_notify();
