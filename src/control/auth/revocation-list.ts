import { sql, type Kysely } from 'kysely';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { Schema } from '../db/schema.js';

/**
 * Access tokens are checked without a database round trip, so revoking one
 * must reach every instance's memory. A revocation is a row in
 * token_revocations (subject "jti:…", "sid:…" or "client:…", kept until the
 * last token it can match has expired); each instance polls the rows after
 * the last seq it saw every `pollMs` (250 ms: a revocation counts everywhere
 * within about that, and one indexed query four times a second is nothing to
 * PostgreSQL). The database alone carries it, so it needs no Redis and
 * survives a restart. A sequence number is taken before its transaction
 * commits, so each poll also rereads the last few seconds' rows: one
 * committed late with a lower seq is still seen.
 */

export interface RevocationListOptions {
  pollMs?: number;
  now?: () => number;
  log: Logger;
}

/** how far back each poll rereads, for sequence numbers that committed out of order */
const REREAD_MS = 10_000;
const PRUNE_EVERY_MS = 3_600_000;

export class RevocationList {
  readonly #db: Kysely<Schema>;
  readonly #now: () => number;
  readonly #log: Logger;
  /** subject → expiry (ms) */
  readonly #revoked = new Map<string, number>();
  #lastSeq = '0';
  #polling: Promise<void> | null = null;
  #lastPrune = 0;
  readonly #timer: PeriodicTask;

  private constructor(db: Kysely<Schema>, options: RevocationListOptions) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    this.#timer = every(options.pollMs ?? 250, () => void this.poll().catch((err: unknown) => this.#log.warn({ err }, 'polling token revocations failed')));
  }

  static async open(db: Kysely<Schema>, options: RevocationListOptions): Promise<RevocationList> {
    const list = new RevocationList(db, options);
    try {
      await list.poll();
    } catch (err) {
      list.close();
      throw err;
    }
    return list;
  }

  /** Whether any of the subjects is revoked. */
  has(...subjects: string[]): boolean {
    if (this.#revoked.size === 0) return false;
    for (const subject of subjects) {
      const until = this.#revoked.get(subject);
      if (until !== undefined && until > this.#now()) return true;
    }
    return false;
  }

  /** Revokes `subject` here at once and everywhere within a poll; `until`: when the last token it matches expires. */
  async revoke(subject: string, until: number): Promise<void> {
    this.#revoked.set(subject, Math.max(until, this.#revoked.get(subject) ?? 0));
    await this.#db
      .insertInto('token_revocations')
      .values({ subject, created_at: new Date(this.#now()), expires_at: new Date(until) })
      .execute();
  }

  poll(): Promise<void> {
    this.#polling ??= this.#poll().finally(() => {
      this.#polling = null;
    });
    return this.#polling;
  }

  close(): void {
    this.#timer.cancel();
  }

  async #poll(): Promise<void> {
    const now = this.#now();
    const rows = await this.#db
      .selectFrom('token_revocations')
      .select(['seq', 'subject', 'expires_at'])
      .where((eb) =>
        eb.or([eb('seq', '>', sql<string>`${this.#lastSeq}::bigint`), eb('created_at', '>', new Date(now - REREAD_MS))]),
      )
      .execute();
    for (const row of rows) {
      const until = row.expires_at.getTime();
      if (until > now) this.#revoked.set(row.subject, Math.max(until, this.#revoked.get(row.subject) ?? 0));
      if (BigInt(row.seq) > BigInt(this.#lastSeq)) this.#lastSeq = String(row.seq);
    }
    if (now - this.#lastPrune > PRUNE_EVERY_MS) {
      this.#lastPrune = now;
      for (const [subject, until] of this.#revoked) if (until <= now) this.#revoked.delete(subject);
      await this.#db.deleteFrom('token_revocations').where('expires_at', '<', new Date(now)).execute();
    }
  }
}
