import { createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Kysely } from 'kysely';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { Schema, SigningKeyRow } from '../db/schema.js';

/**
 * The RS256 keys every instance signs and verifies with, kept in the
 * database so all instances share one set.
 *
 * Rotation publishes before it signs: a new key is written with
 * `activates_at` = now + propagation (longer than the reload period), so by
 * the time any instance signs with it every instance has loaded it. The key
 * it replaces retires at that instant and stays published until
 * `expires_at`, the expiry of the last token it can have signed. Instances
 * reload the set every `reloadMs`, and at once (at most once a second) when
 * a token names a kid they do not know.
 */

export interface SigningKey {
  kid: string;
  publicKey: KeyObject;
  privateKey: KeyObject;
  publicJwk: PublicJwk;
  activatesAt: number;
  expiresAt: number | null;
}

export interface PublicJwk {
  kty: 'RSA';
  kid: string;
  use: 'sig';
  alg: 'RS256';
  n: string;
  e: string;
}

export interface SigningKeyRingOptions {
  /** how often the set is reloaded from the database (10 s) */
  reloadMs?: number;
  /** how long a new key is published before it signs (3 × reloadMs) */
  propagationMs?: number;
  /** the longest a token signed with a key can live (s): a retired key stays published this long */
  maxTokenSeconds: number;
  now?: () => number;
  log: Logger;
}

const MIN_RELOAD_GAP_MS = 1000;

export class SigningKeyRing {
  readonly #db: Kysely<Schema>;
  readonly #now: () => number;
  readonly #log: Logger;
  readonly #propagationMs: number;
  readonly #maxTokenMs: number;
  #keys = new Map<string, SigningKey>();
  #jwks: { keys: PublicJwk[] } = { keys: [] };
  #reloading: Promise<void> | null = null;
  #lastReloadAt = 0;
  readonly #timer: PeriodicTask;

  private constructor(db: Kysely<Schema>, options: SigningKeyRingOptions) {
    this.#db = db;
    this.#now = options.now ?? Date.now;
    this.#log = options.log;
    const reloadMs = options.reloadMs ?? 10_000;
    this.#propagationMs = options.propagationMs ?? 3 * reloadMs;
    this.#maxTokenMs = options.maxTokenSeconds * 1000;
    this.#timer = every(reloadMs, () => void this.reload().catch((err: unknown) => this.#log.warn({ err }, 'reloading signing keys failed')));
  }

  /** Loads the set, creating the first key when there is none (it signs at once: no token exists yet). */
  static async open(db: Kysely<Schema>, options: SigningKeyRingOptions): Promise<SigningKeyRing> {
    const ring = new SigningKeyRing(db, options);
    try {
      await ring.reload();
      if (ring.#keys.size === 0) {
        await ring.#insert(0);
        await ring.reload();
      }
    } catch (err) {
      ring.close();
      throw err;
    }
    return ring;
  }

  /** The key to sign with now: the newest active one. */
  signingKey(): SigningKey {
    const now = this.#now();
    let best: SigningKey | null = null;
    for (const key of this.#keys.values()) {
      if (key.activatesAt > now) continue;
      if (best === null || key.activatesAt > best.activatesAt || (key.activatesAt === best.activatesAt && key.kid > best.kid)) best = key;
    }
    if (best === null) throw new Error('no active signing key');
    return best;
  }

  publicKey(kid: string): KeyObject | undefined {
    return this.#keys.get(kid)?.publicKey;
  }

  /** The published set (RFC 7517): every key not yet expired, upcoming ones included. */
  jwks(): { keys: PublicJwk[] } {
    return this.#jwks;
  }

  /** Reload after a token named an unknown kid; at most once a second, concurrent callers share one query. */
  async reloadForUnknownKid(): Promise<void> {
    if (this.#now() - this.#lastReloadAt < MIN_RELOAD_GAP_MS) return this.#reloading ?? undefined;
    await this.reload();
  }

  reload(): Promise<void> {
    this.#reloading ??= this.#load().finally(() => {
      this.#reloading = null;
    });
    return this.#reloading;
  }

  /**
   * Adds a key that signs after the propagation delay and retires the ones
   * signing now at that instant. Returns the new key's kid and start.
   */
  async rotate(): Promise<{ kid: string; activatesAt: Date }> {
    const { kid, activatesAt } = await this.#insert(this.#propagationMs);
    await this.reload();
    this.#log.info({ kid, activatesAt: new Date(activatesAt).toISOString() }, 'signing key rotated');
    return { kid, activatesAt: new Date(activatesAt) };
  }

  close(): void {
    this.#timer.cancel();
  }

  /** Generates a key and stores it to sign `delayMs` from now (counted after the slow key generation). */
  async #insert(delayMs: number): Promise<{ kid: string; activatesAt: number }> {
    const { publicKey, privateKey } = await new Promise<{ publicKey: KeyObject; privateKey: KeyObject }>((resolve, reject) =>
      generateKeyPair('rsa', { modulusLength: 2048 }, (err, pub, priv) => (err ? reject(err) : resolve({ publicKey: pub, privateKey: priv }))),
    );
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    // RFC 7638 thumbprint: the same key always gets the same kid.
    const kid = await calculateJwkThumbprint({ kty: 'RSA', n: jwk.n!, e: jwk.e! }, 'sha256');
    const activatesAt = this.#now() + delayMs;
    const retireAt = new Date(activatesAt);
    const expiresAt = new Date(activatesAt + this.#maxTokenMs + 60_000);
    await this.#db.transaction().execute(async (trx) => {
      await trx.deleteFrom('signing_keys').where('expires_at', '<', new Date(this.#now())).execute();
      await trx
        .updateTable('signing_keys')
        .set({ retired_at: retireAt, expires_at: expiresAt })
        .where('retired_at', 'is', null)
        .where('activates_at', '<', retireAt)
        .execute();
      await trx
        .insertInto('signing_keys')
        .values({
          kid,
          private_jwk: JSON.stringify(privateKey.export({ format: 'jwk' })),
          public_jwk: JSON.stringify({ kty: 'RSA', kid, use: 'sig', alg: 'RS256', n: jwk.n, e: jwk.e }),
          created_at: new Date(this.#now()),
          activates_at: new Date(activatesAt),
        })
        .execute();
    });
    return { kid, activatesAt };
  }

  async #load(): Promise<void> {
    const now = new Date(this.#now());
    const rows = await this.#db
      .selectFrom('signing_keys')
      .selectAll()
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .execute();
    const next = new Map<string, SigningKey>();
    for (const row of rows) next.set(row.kid, this.#keys.get(row.kid) ?? toKey(row));
    this.#keys = next;
    this.#jwks = { keys: [...next.values()].sort((a, b) => b.activatesAt - a.activatesAt).map((key) => key.publicJwk) };
    this.#lastReloadAt = this.#now();
  }
}

function toKey(row: SigningKeyRow): SigningKey {
  const publicJwk = JSON.parse(row.public_jwk) as PublicJwk;
  return {
    kid: row.kid,
    publicKey: createPublicKey({ key: publicJwk as unknown as JsonWebKeyInput['key'], format: 'jwk' }),
    privateKey: createPrivateKey({ key: JSON.parse(row.private_jwk) as JsonWebKeyInput['key'], format: 'jwk' }),
    publicJwk,
    activatesAt: row.activates_at.getTime(),
    expiresAt: row.expires_at?.getTime() ?? null,
  };
}

type JsonWebKeyInput = import('node:crypto').JsonWebKeyInput;
