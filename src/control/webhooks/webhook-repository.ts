import { randomBytes, randomUUID } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { appendOutboxEvent, type OutboxSettings } from '../db/outbox-append.js';
import type { Schema, WebhookAttemptRow, WebhookDeliveryStatus, WebhookRow } from '../db/schema.js';

export interface WebhookRecord {
  id: string;
  url: string;
  eventTypes: string[];
  description: string;
  enabled: boolean;
  disabledReason: string | null;
  /** the API client that registered it; null: the admin token */
  ownerClientId: string | null;
  createdAt: Date;
}

/** A delivery taken by one dispatcher for one attempt. */
export interface ClaimedDelivery {
  id: string;
  webhookId: string;
  eventId: string;
  body: string;
  /** attempts made before this one */
  attempts: number;
  createdAt: Date;
  url: string;
  secret: string;
}

export interface AttemptRecord {
  id: number;
  deliveryId: string;
  eventId: string;
  attempt: number;
  at: Date;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
}

/**
 * Webhooks, their deliveries and attempts. A delivery is taken for an
 * attempt with FOR UPDATE SKIP LOCKED and leased (its next_attempt_at moved
 * past the attempt's timeout), so instances never send one delivery at once
 * and one that died mid-attempt leaves it to be taken again after the lease.
 */
export class WebhookRepository {
  readonly #db: Kysely<Schema>;
  readonly #outbox: OutboxSettings;

  constructor(db: Kysely<Schema>, outbox: OutboxSettings) {
    this.#db = db;
    this.#outbox = outbox;
  }

  /** A new webhook with its signing secret (returned here only). */
  async create(input: { url: string; eventTypes: string[]; description: string; ownerClientId: string | null }, at: Date): Promise<{ webhook: WebhookRecord; secret: string }> {
    const secret = `whsec_${randomBytes(24).toString('base64')}`;
    const row = await this.#db
      .insertInto('webhooks')
      .values({
        id: randomUUID(),
        url: input.url,
        event_types: JSON.stringify(input.eventTypes),
        secret,
        description: input.description,
        owner_client_id: input.ownerClientId,
        created_at: at,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { webhook: toRecord(row), secret };
  }

  /** Oldest first: every webhook, or (with `ownerClientId`) one client's. */
  async list(filter: { ownerClientId?: string } = {}): Promise<WebhookRecord[]> {
    let query = this.#db.selectFrom('webhooks').selectAll();
    if (filter.ownerClientId !== undefined) query = query.where('owner_client_id', '=', filter.ownerClientId);
    return (await query.orderBy('created_at').orderBy('id').execute()).map(toRecord);
  }

  async get(id: string): Promise<WebhookRecord | null> {
    const row = await this.#db.selectFrom('webhooks').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  async delete(id: string): Promise<boolean> {
    const result = await this.#db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
    return Number(result.numDeletedRows) > 0;
  }

  /** Enables again (clearing why it was disabled); null when there is no such webhook. */
  async enable(id: string): Promise<WebhookRecord | null> {
    const row = await this.#db.updateTable('webhooks').set({ enabled: true, disabled_reason: null }).where('id', '=', id).returningAll().executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /**
   * Disables a webhook that failed for its whole retry window and writes the
   * webhook_disabled notice in the same transaction; false when it was disabled already.
   */
  async disable(id: string, reason: string, at: Date): Promise<boolean> {
    const disabled = await this.#db.transaction().execute(async (trx) => {
      const row = await trx
        .updateTable('webhooks')
        .set({ enabled: false, disabled_reason: reason })
        .where('id', '=', id)
        .where('enabled', '=', true)
        .returning(['id', 'url'])
        .executeTakeFirst();
      if (!row) return false;
      await appendOutboxEvent(trx, { type: 'webhook_disabled', streamId: id, instanceId: this.#outbox.instanceId, at: at.getTime(), url: row.url, reason }, this.#outbox);
      return true;
    });
    if (disabled) this.#outbox.onCommit?.();
    return disabled;
  }

  /**
   * One delivery of the event to every enabled webhook that wants its type,
   * existed when it happened and may see it; a delivery already there (the
   * event came twice) is left as it is. Returns how many were added.
   *
   * Who may see it: a webhook the admin token registered hears every stream;
   * a client's webhook hears only the streams that client owns (and the
   * webhook_disabled notices of its own webhooks, whose streamId is the
   * webhook's id), unless the client holds the `admin` scope, which sees every
   * stream through the API too. A revoked client's webhooks hear nothing.
   * The owner is read here, at fan-out, so no event of another client's
   * stream ever becomes a delivery.
   */
  async enqueue(event: { id: string; type: string; streamId: string; createdAt: Date }, body: string, at: Date): Promise<number> {
    const subjectOwner =
      event.type === 'webhook_disabled'
        ? sql`(SELECT owner_client_id FROM webhooks WHERE id = ${event.streamId}::text)`
        : sql`(SELECT owner_client_id FROM streams WHERE id = ${event.streamId}::text)`;
    const result = await sql`
      INSERT INTO webhook_deliveries (id, webhook_id, event_id, event_type, body, next_attempt_at, created_at)
      SELECT gen_random_uuid()::text, w.id, ${event.id}::text, ${event.type}::text, ${body}::text, ${at}::timestamptz, ${at}::timestamptz
      FROM webhooks w LEFT JOIN api_clients c ON c.id = w.owner_client_id
      WHERE w.enabled AND w.created_at <= ${event.createdAt}::timestamptz
        AND (w.event_types @> jsonb_build_array(${event.type}::text) OR w.event_types @> '["*"]'::jsonb)
        AND (
          w.owner_client_id IS NULL
          OR (c.revoked_at IS NULL AND ((' ' || c.scopes || ' ') LIKE '% admin %' OR w.owner_client_id = ${subjectOwner}))
        )
      ON CONFLICT (webhook_id, event_id) DO NOTHING
    `.execute(this.#db);
    return Number(result.numAffectedRows ?? 0);
  }

  /** Takes up to `limit` due deliveries of enabled webhooks not in `exclude`, leased until `leaseUntil`. */
  async claimDue(limit: number, exclude: readonly string[], now: Date, leaseUntil: Date): Promise<ClaimedDelivery[]> {
    if (limit <= 0) return [];
    const result = await sql<{
      id: string;
      webhook_id: string;
      event_id: string;
      body: string;
      attempts: number;
      created_at: Date;
      url: string;
      secret: string;
    }>`
      UPDATE webhook_deliveries d SET next_attempt_at = ${leaseUntil}::timestamptz
      FROM webhooks w
      WHERE w.id = d.webhook_id AND d.id IN (
        SELECT d2.id FROM webhook_deliveries d2 JOIN webhooks w2 ON w2.id = d2.webhook_id
        WHERE d2.status = 'pending' AND d2.next_attempt_at <= ${now}::timestamptz AND w2.enabled
          AND NOT (d2.webhook_id = ANY(${textArray(exclude)}::text[]))
        ORDER BY d2.next_attempt_at
        LIMIT ${limit}
        FOR UPDATE OF d2 SKIP LOCKED
      )
      RETURNING d.id, d.webhook_id, d.event_id, d.body, d.attempts, d.created_at, w.url, w.secret
    `.execute(this.#db);
    return result.rows.map((row) => ({
      id: row.id,
      webhookId: row.webhook_id,
      eventId: row.event_id,
      body: row.body,
      attempts: row.attempts,
      createdAt: row.created_at,
      url: row.url,
      secret: row.secret,
    }));
  }

  /** When the earliest pending delivery of an enabled webhook is due (a leased one: when its lease ends), or null when none is pending. */
  async nextDueAt(): Promise<Date | null> {
    const row = await this.#db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('webhooks as w', 'w.id', 'd.webhook_id')
      .select((eb) => eb.fn.min('d.next_attempt_at').as('due'))
      .where('d.status', '=', 'pending')
      .where('w.enabled', '=', true)
      .executeTakeFirst();
    return row?.due ? new Date(row.due) : null;
  }

  /** Gives claimed deliveries back untried (a per-webhook limit, a breaker that opened meanwhile). */
  async release(ids: readonly string[], at: Date): Promise<void> {
    if (ids.length === 0) return;
    await this.#db.updateTable('webhook_deliveries').set({ next_attempt_at: at }).where('id', 'in', [...ids]).where('status', '=', 'pending').execute();
  }

  /** Records one attempt and where its delivery stands now, in one transaction. */
  async recordAttempt(
    delivery: ClaimedDelivery,
    attempt: { at: Date; statusCode: number | null; error: string | null; durationMs: number },
    next: { status: WebhookDeliveryStatus; nextAttemptAt: Date },
  ): Promise<void> {
    await this.#db.transaction().execute(async (trx) => {
      await trx
        .updateTable('webhook_deliveries')
        .set({
          status: next.status,
          attempts: delivery.attempts + 1,
          next_attempt_at: next.nextAttemptAt,
          finished_at: next.status === 'pending' ? null : attempt.at,
        })
        .where('id', '=', delivery.id)
        .execute();
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: delivery.id,
          webhook_id: delivery.webhookId,
          event_id: delivery.eventId,
          attempt: delivery.attempts + 1,
          at: attempt.at,
          status_code: attempt.statusCode,
          error: attempt.error === null ? null : attempt.error.slice(0, 500),
          duration_ms: attempt.durationMs,
        })
        .execute();
    });
  }

  /** A webhook's attempts, newest first, before `before` (an id from this list). */
  async attempts(webhookId: string, limit: number, before?: number): Promise<AttemptRecord[]> {
    let query = this.#db.selectFrom('webhook_attempts').selectAll().where('webhook_id', '=', webhookId);
    if (before !== undefined) query = query.where('id', '<', before);
    return (await query.orderBy('id', 'desc').limit(limit).execute()).map(toAttempt);
  }
}

function textArray(values: readonly string[]): string {
  return `{${values.map((v) => `"${v.replace(/["\\]/g, '\\$&')}"`).join(',')}}`;
}

function toRecord(row: WebhookRow): WebhookRecord {
  return {
    id: row.id,
    url: row.url,
    eventTypes: row.event_types,
    description: row.description,
    enabled: row.enabled,
    disabledReason: row.disabled_reason,
    ownerClientId: row.owner_client_id,
    createdAt: row.created_at,
  };
}

function toAttempt(row: WebhookAttemptRow): AttemptRecord {
  return {
    id: Number(row.id),
    deliveryId: row.delivery_id,
    eventId: row.event_id,
    attempt: row.attempt,
    at: row.at,
    statusCode: row.status_code,
    error: row.error,
    durationMs: row.duration_ms,
  };
}
