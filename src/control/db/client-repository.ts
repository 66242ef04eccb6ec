import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import { generateClientSecret, hashClientSecret, looksLikeClientSecret, verifyClientSecret } from '../auth/client-secret.js';
import { formatScopes, parseScopes, type Scope } from '../auth/scopes.js';
import type { ApiClientRow, Schema } from './schema.js';

export interface ApiClientRecord {
  id: string;
  name: string;
  scopes: Set<Scope>;
  createdAt: Date;
  revokedAt: Date | null;
}

export interface CreatedApiClient {
  client: ApiClientRecord;
  /** The plaintext secret: returned here only, stored as scrypt. */
  clientSecret: string;
}

const CLIENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** API clients: the admin creates them; their secrets are checked at the token endpoint. */
export class ClientRepository {
  readonly #db: Kysely<Schema>;
  readonly #now: () => Date;
  readonly #hashParams: { N: number; r: number; p: number } | undefined;

  /** `hashParams`: cheaper scrypt for tests only. */
  constructor(db: Kysely<Schema>, now: () => Date = () => new Date(), hashParams?: { N: number; r: number; p: number }) {
    this.#db = db;
    this.#now = now;
    this.#hashParams = hashParams;
  }

  async create(input: { name: string; scopes: ReadonlySet<Scope> }): Promise<CreatedApiClient> {
    const clientSecret = generateClientSecret();
    const row = await this.#db
      .insertInto('api_clients')
      .values({
        id: randomUUID(),
        name: input.name,
        secret_hash: await hashClientSecret(clientSecret, this.#hashParams),
        scopes: formatScopes(input.scopes),
        created_at: this.#now(),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { client: toRecord(row), clientSecret };
  }

  async get(id: string): Promise<ApiClientRecord | null> {
    if (!CLIENT_ID.test(id)) return null;
    const row = await this.#db.selectFrom('api_clients').selectAll().where('id', '=', id).executeTakeFirst();
    return row ? toRecord(row) : null;
  }

  /** Newest first; clients are few (one per integrating backend), so no pagination. */
  async list(): Promise<ApiClientRecord[]> {
    const rows = await this.#db.selectFrom('api_clients').selectAll().orderBy('created_at', 'desc').orderBy('id', 'desc').limit(1000).execute();
    return rows.map(toRecord);
  }

  /** Marks the client revoked (its refresh tokens too); null when unknown. Revoking twice keeps the first time. */
  async revoke(id: string): Promise<ApiClientRecord | null> {
    if (!CLIENT_ID.test(id)) return null;
    const at = this.#now();
    return this.#db.transaction().execute(async (trx) => {
      await trx.updateTable('api_clients').set({ revoked_at: at }).where('id', '=', id).where('revoked_at', 'is', null).execute();
      await trx.updateTable('refresh_tokens').set({ revoked_at: at }).where('client_id', '=', id).where('revoked_at', 'is', null).execute();
      const row = await trx.selectFrom('api_clients').selectAll().where('id', '=', id).executeTakeFirst();
      return row ? toRecord(row) : null;
    });
  }

  /**
   * The live client these credentials name, or null (unknown, revoked, wrong
   * secret). An unknown id still costs one scrypt, so timing does not tell
   * which client ids exist.
   */
  async authenticate(id: string, secret: string): Promise<ApiClientRecord | null> {
    const row = CLIENT_ID.test(id) ? await this.#db.selectFrom('api_clients').selectAll().where('id', '=', id).executeTakeFirst() : undefined;
    const stored = row?.secret_hash ?? (await this.#decoyHash());
    const ok = looksLikeClientSecret(secret) ? await verifyClientSecret(secret, stored) : (await verifyClientSecret(secret, stored), false);
    if (!ok || !row || row.revoked_at !== null) return null;
    return toRecord(row);
  }

  #decoy: Promise<string> | null = null;
  #decoyHash(): Promise<string> {
    this.#decoy ??= hashClientSecret(generateClientSecret(), this.#hashParams);
    return this.#decoy;
  }
}

function toRecord(row: ApiClientRow): ApiClientRecord {
  return {
    id: row.id,
    name: row.name,
    // Stored by formatScopes; an unknown word (a scope since removed) is dropped, never granted.
    scopes: parseScopes(row.scopes) ?? new Set(row.scopes.split(' ').filter((word): word is Scope => parseScopes(word) !== null)),
    createdAt: row.created_at,
    revokedAt: row.revoked_at,
  };
}
