import { sql, type Kysely } from 'kysely';
import type { DurableEvent } from '../events/durable-event.js';
import type { DurableStreamEvent } from '../events/stream-events.js';
import type { EventOutboxRow, Schema } from './schema.js';

/** An outbox row on its way to the event log: the event, and the row to mark once the log holds it. */
export interface PendingEvent {
  rowId: number;
  event: DurableEvent;
}

/**
 * The relay's queries on the outbox (the writers' side is outbox-append.ts):
 * unpublished rows in order, marking them published, publishing again what
 * the event log lost, pruning. Only the relay holding the lead runs them.
 */
export class OutboxRepository {
  readonly #db: Kysely<Schema>;

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  /**
   * Unpublished events, oldest first: within a partition, in seq order (see
   * 0003_outbox.sql). With `mark`, first marks those rows published at `at`
   * (the event log holds them) in the same statement: a relay under load
   * spends one round trip per batch, not two.
   */
  async pending(limit: number, mark: readonly number[] = [], at: Date = new Date()): Promise<PendingEvent[]> {
    const ids = `{${mark.join(',')}}`;
    // The SELECT sees the table as it was before the UPDATE (one snapshot): it leaves the marked rows out itself.
    const marking =
      mark.length === 0
        ? sql``
        : sql`WITH marked AS (UPDATE event_outbox SET published_at = ${at} WHERE id = ANY(${ids}::bigint[]) RETURNING id) `;
    const unmarked = mark.length === 0 ? sql`` : sql`AND NOT (id = ANY(${ids}::bigint[]))`;
    const { rows } = await sql<Pick<EventOutboxRow, 'id' | 'event_id' | 'partition' | 'seq' | 'stream_id' | 'type' | 'payload' | 'created_at'>>`
      ${marking}SELECT id, event_id, partition, seq, stream_id, type, payload, created_at FROM event_outbox
      WHERE published_at IS NULL ${unmarked} ORDER BY id LIMIT ${limit}
    `.execute(this.#db);
    return rows.map((row) => ({
      rowId: Number(row.id),
      event: {
        id: row.event_id,
        partition: row.partition,
        seq: Number(row.seq),
        streamId: row.stream_id,
        type: row.type as DurableStreamEvent['type'],
        createdAt: row.created_at.getTime(),
        event: row.payload as DurableStreamEvent,
      },
    }));
  }

  async markPublished(rowIds: readonly number[], at: Date): Promise<void> {
    if (rowIds.length === 0) return;
    await sql`UPDATE event_outbox SET published_at = ${at} WHERE id = ANY(${`{${rowIds.join(',')}}`}::bigint[])`.execute(this.#db);
  }

  /** The highest published seq of each partition that has one (what the event log should hold at least). */
  async publishedTops(): Promise<Map<number, number>> {
    const rows = await this.#db
      .selectFrom('event_outbox')
      .select(['partition', (eb) => eb.fn.max('seq').as('top')])
      .where('published_at', 'is not', null)
      .groupBy('partition')
      .execute();
    return new Map(rows.map((row) => [row.partition, Number(row.top)]));
  }

  /**
   * Marks unpublished again the rows of `partition` after `top`, the last seq
   * the event log holds: it lost them (restarted without persistence). Returns how many.
   */
  async republishAfter(partition: number, top: number): Promise<number> {
    const result = await this.#db
      .updateTable('event_outbox')
      .set({ published_at: null })
      .where('partition', '=', partition)
      .where('seq', '>', top)
      .where('published_at', 'is not', null)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** Deletes up to `limit` rows published before `before`; returns how many. */
  async prunePublished(before: Date, limit: number): Promise<number> {
    const result = await sql`
      DELETE FROM event_outbox WHERE id IN (
        SELECT id FROM event_outbox WHERE published_at IS NOT NULL AND published_at < ${before} ORDER BY published_at LIMIT ${limit}
      )
    `.execute(this.#db);
    return Number(result.numAffectedRows ?? 0);
  }

  /** This database's identity in the event log (0003_outbox.sql). */
  async identity(): Promise<string> {
    return (await this.#db.selectFrom('event_log_identity').select('id').executeTakeFirstOrThrow()).id;
  }

  /** Rows not yet published (a gauge). */
  async pendingCount(): Promise<number> {
    const row = await this.#db
      .selectFrom('event_outbox')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('published_at', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}
