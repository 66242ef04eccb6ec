import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { partitionOf } from '../events/durable-event.js';
import type { DurableStreamEvent } from '../events/stream-events.js';
import type { Schema } from './schema.js';

/** How a repository writes its events into the outbox. */
export interface OutboxSettings {
  /** the writer, named in its events' instanceId */
  instanceId: string;
  /** EVENT_PARTITIONS: fixed for a deployment (see partitionOf) */
  partitions: number;
  /** told after a commit that wrote events: wakes a relay in this process without a poll */
  onCommit?: () => void;
}

export const DEFAULT_OUTBOX_SETTINGS: OutboxSettings = { instanceId: 'nova', partitions: 16 };

/**
 * Two CTEs, `event_seq` and `event_row`, that append `event` to the outbox in
 * the statement they are part of. With `source` (the name of a CTE before
 * them, e.g. an UPDATE … RETURNING) the event is written only when that CTE
 * returned a row, so a change and its announcement are one statement: one
 * round trip, which on the embedded database is ~2 ms of its thread each.
 *
 * The partition's row lock (event_seq) is held to commit: two transactions
 * raising events in one partition are serialised there, so seq order is
 * commit order. It is taken last in the statement, after the change's own
 * row locks, which keeps every writer's lock order the same.
 */
export function outboxCtes(event: DurableStreamEvent, settings: OutboxSettings, source: string | null): RawBuilder<unknown> {
  const partition = partitionOf(event.streamId, settings.partitions);
  const from = source === null ? sql`` : sql`FROM ${sql.table(source)} LIMIT 1`;
  return sql`event_seq AS (
    INSERT INTO event_partitions (partition, last_seq) SELECT ${partition}::integer, 1 ${from}
    ON CONFLICT (partition) DO UPDATE SET last_seq = event_partitions.last_seq + 1
    RETURNING last_seq
  ), event_row AS (
    INSERT INTO event_outbox (event_id, partition, seq, stream_id, type, payload, created_at)
    SELECT ${randomUUID()}::text, ${partition}::integer, last_seq, ${event.streamId}::text, ${event.type}::text,
      ${JSON.stringify(event)}::jsonb, ${new Date(event.at)}::timestamptz
    FROM event_seq
    RETURNING seq
  )`;
}

/** Appends `event` on its own (inside the caller's transaction when `db` is one). */
export async function appendOutboxEvent(db: Kysely<Schema>, event: DurableStreamEvent, settings: OutboxSettings): Promise<void> {
  await sql`WITH ${outboxCtes(event, settings, null)} SELECT seq FROM event_row`.execute(db);
}
