import { badCursor, decodeCursor, encodeCursor } from './opaque-cursor.js';
import { randomUUID } from 'node:crypto';
import { sql, type Compilable, type Kysely } from 'kysely';
import { NovaError } from '../../errors.js';
import type { StreamEndReason } from '../../ingest/stream-end-reason.js';
import type { RenditionInfo } from '../../package/rendition-info.js';
import { generateStreamKey, hashStreamKey, looksLikeStreamKey, streamKeyHashesEqual } from '../auth/stream-key.js';
import type { DurableStreamEvent } from '../events/stream-events.js';
import { DEFAULT_OUTBOX_SETTINGS, appendOutboxEvent, outboxCtes, type OutboxSettings } from './outbox-append.js';
import type { Schema, StreamRow, StreamStatus } from './schema.js';

export interface StreamRecord {
  id: string;
  title: string;
  status: StreamStatus;
  private: boolean;
  createdAt: Date;
  startedAt: Date | null;
  endedAt: Date | null;
  endReason: string | null;
  renditions: RenditionInfo[];
  peakViewers: number;
  /** The instance ingesting it (last one, once ended). */
  instanceId: string | null;
  /** The API client that created it; null when the admin token did. */
  ownerClientId: string | null;
}

export interface CreateStreamInput {
  title?: string;
  private?: boolean;
  /** the creating API client (omitted: the admin) */
  ownerClientId?: string | null;
}

export interface CreatedStream {
  stream: StreamRecord;
  /** The plaintext publish key. Returned here only; only its hash is stored. */
  streamKey: string;
}

export interface ListStreamsOptions {
  status?: StreamStatus;
  /** only the streams of this API client */
  ownerClientId?: string;
  /** 1..MAX_PAGE_LIMIT, default DEFAULT_PAGE_LIMIT. */
  limit?: number;
  /** next_cursor of the previous page. */
  cursor?: string | null;
}

export interface StreamPage {
  items: StreamRecord[];
  nextCursor: string | null;
}

/** A live public stream as discovery lists it. */
export interface LiveListing {
  id: string;
  title: string;
  startedAt: Date;
}

export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 100;

/**
 * Streams and their keys. Every state change is one conditional UPDATE, so
 * two instances racing on the same stream cannot both win a transition, and
 * every change others must hear of writes its event to the outbox in the same
 * statement or transaction (stream created, started, ended, errored,
 * renditions changed, keys revoked): committed together or not at all.
 * Timestamps are written from the injected clock at millisecond precision.
 */
export class StreamRepository {
  readonly #db: Kysely<Schema>;
  /** key checks: a publisher waits on them (Database.urgent) */
  readonly #urgent: Kysely<Schema>;
  readonly #now: () => Date;
  readonly #outbox: OutboxSettings;

  constructor(db: Kysely<Schema>, now: () => Date = () => new Date(), outbox: OutboxSettings = DEFAULT_OUTBOX_SETTINGS, urgent: Kysely<Schema> = db) {
    this.#db = db;
    this.#urgent = urgent;
    this.#now = now;
    this.#outbox = outbox;
  }

  async create(input: CreateStreamInput = {}): Promise<CreatedStream> {
    const id = randomUUID();
    const createdAt = this.#now();
    const key = generateStreamKey();
    const row = await this.#db.transaction().execute(async (trx) => {
      const inserted = await trx
        .insertInto('streams')
        .values({ id, title: input.title ?? '', private: input.private ?? false, created_at: createdAt, owner_client_id: input.ownerClientId ?? null })
        .returningAll()
        .executeTakeFirstOrThrow();
      await trx
        .insertInto('stream_keys')
        .values({
          id: randomUUID(),
          stream_id: id,
          key_hash: key.hash,
          key_prefix: key.displayPrefix,
          created_at: createdAt,
        })
        .execute();
      const event: DurableStreamEvent = {
        type: 'stream_created',
        streamId: id,
        instanceId: this.#outbox.instanceId,
        at: createdAt.getTime(),
        title: inserted.title,
        private: inserted.private,
      };
      await appendOutboxEvent(trx, event, this.#outbox);
      return inserted;
    });
    this.#outbox.onCommit?.();
    return { stream: toRecord(row), streamKey: key.plaintext };
  }

  async get(id: string): Promise<StreamRecord | null> {
    const row = await this.#db.selectFrom('streams').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /**
   * The live (ACTIVE), non-private streams, most recently started first, at most `max`:
   * what public discovery lists (it reads this once a second at most, see LiveDirectory).
   */
  async listLivePublic(max: number): Promise<LiveListing[]> {
    const rows = await this.#db
      .selectFrom('streams')
      .select(['id', 'title', 'started_at'])
      .where('status', '=', 'ACTIVE')
      .where('private', '=', false)
      .where('started_at', 'is not', null)
      .orderBy('started_at', 'desc')
      .orderBy('id', 'asc')
      .limit(max)
      .execute();
    return rows.map((row) => ({ id: row.id, title: row.title, startedAt: row.started_at! }));
  }

  /** Newest first; keyset pagination on (created_at, id). */
  async list(options: ListStreamsOptions = {}): Promise<StreamPage> {
    const limit = options.limit ?? DEFAULT_PAGE_LIMIT;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_LIMIT) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
    }
    let query = this.#db.selectFrom('streams').selectAll();
    if (options.status !== undefined) query = query.where('status', '=', options.status);
    if (options.ownerClientId !== undefined) query = query.where('owner_client_id', '=', options.ownerClientId);
    if (options.cursor) {
      const after = streamsCursorKey(options.cursor);
      query = query.where((eb) =>
        eb(eb.refTuple('created_at', 'id'), '<', eb.tuple(after.createdAt, after.id)),
      );
    }
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(limit + 1)
      .execute();
    const items = rows.slice(0, limit).map(toRecord);
    const last = items[items.length - 1];
    return { items, nextCursor: rows.length > limit && last ? streamsCursor(last) : null };
  }

  /**
   * A publisher started (or reconnected, or took over on another instance).
   * Refused (null) when the stream is unknown or has no valid key left, so a
   * stream deleted between key lookup and publish stays ended.
   * Announces stream_started with `renditions`; null announces nothing (a
   * takeover on the instance that already announced the stream).
   */
  async markActive(
    id: string,
    instanceId: string,
    at: Date = this.#now(),
    renditions: readonly RenditionInfo[] | null = [],
  ): Promise<StreamRecord | null> {
    const update = this.#db
      .updateTable('streams')
      .set({
        status: 'ACTIVE',
        instance_id: instanceId,
        // A takeover keeps the running session's start; anything else starts a new one.
        started_at: sql<Date>`CASE WHEN status = 'ACTIVE' THEN started_at ELSE ${at} END`,
        ended_at: null,
        end_reason: null,
      })
      .where('id', '=', id)
      .where(({ exists, selectFrom }) =>
        exists(
          selectFrom('stream_keys')
            .select('stream_keys.id')
            .whereRef('stream_keys.stream_id', '=', 'streams.id')
            .where('stream_keys.revoked_at', 'is', null),
        ),
      )
      .returningAll();
    if (renditions === null) {
      const row = await update.executeTakeFirst();
      return row ? toRecord(row) : null;
    }
    const event: DurableStreamEvent = { type: 'stream_started', streamId: id, instanceId, at: at.getTime(), renditions: [...renditions] };
    return this.#changeWithEvent(update, event);
  }

  /**
   * PENDING/ACTIVE → ENDED. With `onlyIfInstance`, only when that instance
   * still owns it (a publisher that lost a takeover must not end the winner).
   * Null when no transition happened.
   */
  async markEnded(
    id: string,
    reason: StreamEndReason,
    at: Date = this.#now(),
    onlyIfInstance?: string,
    /** the broadcast's peak viewer count: raises peak_viewers in the same write */
    peakViewers = 0,
  ): Promise<StreamRecord | null> {
    return this.#finish(id, 'ENDED', reason, at, onlyIfInstance, peakViewers);
  }

  /** PENDING/ACTIVE → ERROR, with a short reason (no secrets). */
  async markError(id: string, reason: string, at: Date = this.#now(), onlyIfInstance?: string): Promise<StreamRecord | null> {
    return this.#finish(id, 'ERROR', reason, at, onlyIfInstance);
  }

  async #finish(
    id: string,
    status: 'ENDED' | 'ERROR',
    reason: string,
    at: Date,
    onlyIfInstance: string | undefined,
    peakViewers = 0,
  ): Promise<StreamRecord | null> {
    let query = this.#db
      .updateTable('streams')
      .set({ status, ended_at: at, end_reason: reason, peak_viewers: sql<number>`GREATEST(peak_viewers, ${Math.max(0, Math.floor(peakViewers))})` })
      .where('id', '=', id)
      .where('status', 'in', ['PENDING', 'ACTIVE']);
    if (onlyIfInstance !== undefined) query = query.where('instance_id', '=', onlyIfInstance);
    const instanceId = onlyIfInstance ?? this.#outbox.instanceId;
    const event: DurableStreamEvent =
      status === 'ENDED'
        ? { type: 'stream_ended', streamId: id, instanceId, at: at.getTime(), reason: reason as StreamEndReason }
        : { type: 'stream_errored', streamId: id, instanceId, at: at.getTime(), reason };
    return this.#changeWithEvent(query.returningAll(), event);
  }

  /** Revokes every live key of the stream; returns how many. */
  async revokeKeys(streamId: string, at: Date = this.#now()): Promise<number> {
    const update = this.#db
      .updateTable('stream_keys')
      .set({ revoked_at: at })
      .where('stream_id', '=', streamId)
      .where('revoked_at', 'is', null)
      .returning('id');
    const event: DurableStreamEvent = { type: 'key_revoked', streamId, instanceId: this.#outbox.instanceId, at: at.getTime() };
    const result = await sql<{ revoked: number | string }>`
      WITH changed AS (${update}), ${outboxCtes(event, this.#outbox, 'changed')}
      SELECT count(*) AS revoked FROM changed
    `.execute(this.#db);
    const revoked = Number(result.rows[0]?.revoked ?? 0);
    if (revoked > 0) this.#outbox.onCommit?.();
    return revoked;
  }

  /** The stream a plaintext key publishes to, or null for an unknown, malformed or revoked key. */
  async findStreamByKey(plaintextKey: string): Promise<StreamRecord | null> {
    if (!looksLikeStreamKey(plaintextKey)) return null;
    return this.findStreamByKeyHash(hashStreamKey(plaintextKey));
  }

  /** The same by the key's hash, for a caller that has hashed it already (the lifecycle keeps hashes, never keys). */
  async findStreamByKeyHash(hash: string): Promise<StreamRecord | null> {
    const row = await this.#urgent
      .selectFrom('stream_keys')
      .innerJoin('streams', 'streams.id', 'stream_keys.stream_id')
      .selectAll('streams')
      .select('stream_keys.key_hash')
      .where('stream_keys.key_hash', '=', hash)
      .where('stream_keys.revoked_at', 'is', null)
      .executeTakeFirst();
    // The index lookup is by equality; compare again without a timing signal.
    if (!row || !streamKeyHashesEqual(row.key_hash, hash)) return null;
    const { key_hash: _ignored, ...stream } = row;
    return toRecord(stream);
  }

  /**
   * The streams of several key hashes in one statement (a burst of publishes checks its keys
   * together: see StreamLifecycle.authorize), by hash; an unknown or revoked key has no entry.
   */
  async findStreamsByKeyHashes(hashes: readonly string[]): Promise<Map<string, StreamRecord>> {
    const found = new Map<string, StreamRecord>();
    if (hashes.length === 0) return found;
    const rows = await this.#urgent
      .selectFrom('stream_keys')
      .innerJoin('streams', 'streams.id', 'stream_keys.stream_id')
      .selectAll('streams')
      .select('stream_keys.key_hash')
      .where('stream_keys.key_hash', '=', sql<string>`ANY(${[...hashes]}::text[])`)
      .where('stream_keys.revoked_at', 'is', null)
      .execute();
    const byHash = new Map(rows.map((row) => [row.key_hash, row]));
    for (const hash of hashes) {
      const row = byHash.get(hash);
      // as findStreamByKeyHash: the lookups were by equality, compare again without a timing signal
      if (row === undefined || !streamKeyHashesEqual(row.key_hash, hash)) continue;
      const { key_hash: _ignored, ...stream } = row;
      found.set(hash, toRecord(stream));
    }
    return found;
  }

  /**
   * Current ladder, as the stream record's JSON and as quality_levels rows.
   * One statement (so one round trip, atomic on its own): it runs at every
   * stream start, where a transaction of four statements cost the embedded
   * database five. With `announce`, quality_changed goes to the outbox in it.
   */
  async setRenditions(id: string, renditions: readonly RenditionInfo[], announce = false): Promise<void> {
    const levels = JSON.stringify(
      renditions.map((r) => ({
        name: r.name,
        width: r.width || null,
        height: r.height || null,
        bandwidth: Math.round(r.bandwidth),
        codecs: r.codecs,
        frame_rate: r.frameRate || null,
      })),
    );
    const event: DurableStreamEvent = { type: 'quality_changed', streamId: id, instanceId: this.#outbox.instanceId, at: this.#now().getTime(), renditions: [...renditions] };
    // The DELETE and the upsert touch different rows (names leaving, names staying or new), so the
    // data-modifying CTEs cannot race within the statement.
    await sql`
      WITH levels AS (
        SELECT * FROM jsonb_to_recordset(${levels}::jsonb)
          AS l(name text, width integer, height integer, bandwidth integer, codecs text, frame_rate double precision)
      ), stream AS (
        UPDATE streams SET current_renditions = ${JSON.stringify(renditions)}::jsonb WHERE id = ${id} RETURNING id
      ), ${announce ? sql`${outboxCtes(event, this.#outbox, 'stream')},` : sql``} gone AS (
        DELETE FROM quality_levels WHERE stream_id = ${id} AND name NOT IN (SELECT name FROM levels)
      )
      INSERT INTO quality_levels (stream_id, name, width, height, bandwidth, codecs, frame_rate)
      SELECT ${id}, name, width, height, bandwidth, codecs, frame_rate FROM levels
      ON CONFLICT (stream_id, name) DO UPDATE SET
        width = EXCLUDED.width, height = EXCLUDED.height, bandwidth = EXCLUDED.bandwidth,
        codecs = EXCLUDED.codecs, frame_rate = EXCLUDED.frame_rate
    `.execute(this.#db);
    if (announce) this.#outbox.onCommit?.();
  }

  /** Ends every stream this instance was ingesting (clean shutdown, or restart after a crash); returns their ids. */
  async endAllActiveForInstance(
    instanceId: string,
    reason: StreamEndReason = 'shutdown',
    at: Date = this.#now(),
  ): Promise<string[]> {
    const ids = await this.#db.transaction().execute(async (trx) => {
      const rows = await trx
        .updateTable('streams')
        .set({ status: 'ENDED', ended_at: at, end_reason: reason })
        .where('instance_id', '=', instanceId)
        .where('status', '=', 'ACTIVE')
        .returning('id')
        .execute();
      for (const { id } of rows) {
        await appendOutboxEvent(trx, { type: 'stream_ended', streamId: id, instanceId, at: at.getTime(), reason }, this.#outbox);
      }
      return rows.map((row) => row.id);
    });
    if (ids.length > 0) this.#outbox.onCommit?.();
    return ids;
  }

  /** `change` (an UPDATE … RETURNING the stream row) and, when it changed a row, `event` in the outbox: one statement. */
  async #changeWithEvent(change: Compilable<StreamRow>, event: DurableStreamEvent): Promise<StreamRecord | null> {
    const result = await sql<StreamRow>`
      WITH changed AS (${change}), ${outboxCtes(event, this.#outbox, 'changed')}
      SELECT * FROM changed
    `.execute(this.#db);
    const row = result.rows[0];
    if (!row) return null;
    this.#outbox.onCommit?.();
    return toRecord(row);
  }
}

function toRecord(row: StreamRow): StreamRecord {
  return {
    id: row.id,
    title: row.title,
    status: row.status,
    private: row.private,
    createdAt: row.created_at,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    endReason: row.end_reason,
    renditions: row.current_renditions,
    peakViewers: row.peak_viewers,
    instanceId: row.instance_id,
    ownerClientId: row.owner_client_id,
  };
}

function streamsCursor(stream: StreamRecord): string {
  return encodeCursor([stream.createdAt.getTime(), stream.id]);
}

function streamsCursorKey(cursor: string): { createdAt: Date; id: string } {
  const invalid = badCursor();
  const value = decodeCursor(cursor, invalid);
  if (value.length !== 2 || !Number.isSafeInteger(value[0]) || typeof value[1] !== 'string' || value[1].length > 200) throw invalid;
  const createdAt = new Date(value[0] as number);
  if (Number.isNaN(createdAt.getTime())) throw invalid;
  return { createdAt, id: value[1] };
}
