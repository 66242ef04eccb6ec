import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { NovaError } from '../../errors.js';
import type { Schema } from '../db/schema.js';
import type { ApiIdempotency, ApiResult } from './api-router.js';

/**
 * Idempotency-Key on POST (draft-ietf-httpapi-idempotency-key-header),
 * stored in the database so a retry that lands on another instance is
 * recognised too. The first request with a key inserts its row (the primary
 * key makes exactly one of any number of concurrent requests the first);
 * while it runs, the same key gets 409; once it has answered, the same key
 * and request within 24 h get the stored status and body again, and the
 * key with a different method, path or body gets 422. A request that fails
 * (an error, not an answer) removes its row, so it can be retried.
 *
 * A stored create response holds secrets (a stream key, a client secret),
 * so it is encrypted (AES-256-GCM) with a key derived from the
 * Idempotency-Key value, which the database never sees (only its sha256).
 */

const TTL_MS = 24 * 3_600_000;
/** a first request still "running" after this long died with its instance: the key is free again */
const STALE_IN_FLIGHT_MS = 60_000;
const PRUNE_EVERY_MS = 3_600_000;

interface Stored {
  body?: unknown;
  headers?: Record<string, string>;
}

export class IdempotencyStore implements ApiIdempotency {
  readonly #db: Kysely<Schema>;
  readonly #now: () => number;
  #lastPrune = 0;

  constructor(db: Kysely<Schema>, now: () => number = Date.now) {
    this.#db = db;
    this.#now = now;
  }

  async run(
    input: { principal: string; key: string; method: string; path: string; body: Buffer },
    execute: () => Promise<ApiResult>,
  ): Promise<ApiResult> {
    await this.#prune();
    const keyHash = createHash('sha256').update(input.key, 'utf8').digest('hex');
    const requestHash = createHash('sha256').update(`${input.method} ${input.path}\n`).update(input.body).digest('hex');
    for (let attempt = 0; attempt < 2; attempt++) {
      const now = this.#now();
      const inserted = await this.#db
        .insertInto('idempotency_keys')
        .values({
          principal: input.principal,
          key_hash: keyHash,
          method: input.method,
          path: input.path,
          request_hash: requestHash,
          created_at: new Date(now),
          expires_at: new Date(now + TTL_MS),
        })
        .onConflict((oc) => oc.columns(['principal', 'key_hash']).doNothing())
        .returning('key_hash')
        .executeTakeFirst();
      if (inserted) return this.#first(input, keyHash, execute);
      const row = await this.#db
        .selectFrom('idempotency_keys')
        .selectAll()
        .where('principal', '=', input.principal)
        .where('key_hash', '=', keyHash)
        .executeTakeFirst();
      if (!row) continue; // removed between the two statements: try to be first again
      const expired = row.expires_at.getTime() <= now;
      const stale = row.status === null && now - row.created_at.getTime() > STALE_IN_FLIGHT_MS;
      if (expired || stale) {
        await this.#db
          .deleteFrom('idempotency_keys')
          .where('principal', '=', input.principal)
          .where('key_hash', '=', keyHash)
          .where('created_at', '=', row.created_at)
          .execute();
        continue;
      }
      if (row.request_hash !== requestHash) {
        throw new NovaError('NOVA_ERR_UNPROCESSABLE', 'this Idempotency-Key was used with another request (method, path or body)');
      }
      if (row.status === null) throw new NovaError('NOVA_ERR_CONFLICT', 'a request with this Idempotency-Key is still running: retry later');
      const stored = decrypt(row.response ?? '', input.key, input.principal);
      return {
        status: row.status,
        ...(stored.body === undefined ? {} : { body: stored.body }),
        headers: { ...stored.headers, 'idempotency-replayed': 'true' },
      };
    }
    throw new NovaError('NOVA_ERR_CONFLICT', 'a request with this Idempotency-Key is still running: retry later');
  }

  async #first(input: { principal: string; key: string }, keyHash: string, execute: () => Promise<ApiResult>): Promise<ApiResult> {
    const forget = () =>
      this.#db.deleteFrom('idempotency_keys').where('principal', '=', input.principal).where('key_hash', '=', keyHash).execute();
    let result: ApiResult;
    try {
      result = await execute();
    } catch (err) {
      await forget().catch(() => {});
      throw err;
    }
    if (result.status >= 500 || result.raw) {
      await forget();
      return result;
    }
    const stored: Stored = { ...(result.body === undefined ? {} : { body: result.body }), ...(result.headers ? { headers: result.headers } : {}) };
    await this.#db
      .updateTable('idempotency_keys')
      .set({ status: result.status, response: encrypt(stored, input.key, input.principal) })
      .where('principal', '=', input.principal)
      .where('key_hash', '=', keyHash)
      .execute();
    return result;
  }

  async #prune(): Promise<void> {
    const now = this.#now();
    if (now - this.#lastPrune < PRUNE_EVERY_MS) return;
    this.#lastPrune = now;
    await this.#db.deleteFrom('idempotency_keys').where('expires_at', '<', new Date(now)).execute();
  }
}

function keyFor(idempotencyKey: string, principal: string): Buffer {
  return Buffer.from(hkdfSync('sha256', idempotencyKey, principal, 'nova idempotency response', 32));
}

function encrypt(value: Stored, idempotencyKey: string, principal: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', keyFor(idempotencyKey, principal), iv);
  const data = Buffer.concat([cipher.update(JSON.stringify(value), 'utf8'), cipher.final()]);
  return [iv, cipher.getAuthTag(), data].map((part) => part.toString('base64url')).join('.');
}

function decrypt(text: string, idempotencyKey: string, principal: string): Stored {
  const [iv, tag, data] = text.split('.').map((part) => Buffer.from(part, 'base64url'));
  const decipher = createDecipheriv('aes-256-gcm', keyFor(idempotencyKey, principal), iv!);
  decipher.setAuthTag(tag!);
  return JSON.parse(Buffer.concat([decipher.update(data!), decipher.final()]).toString('utf8')) as Stored;
}
