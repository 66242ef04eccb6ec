import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import type { Kysely } from 'kysely';
import type { ApiClientRecord } from '../db/client-repository.js';
import type { Schema } from '../db/schema.js';
import type { JwtCheck, JwtFailure, JwtVerifier } from './jwt-verifier.js';
import { OAuthError } from './oauth-error.js';
import type { Principal } from './principal.js';
import type { RevocationList } from './revocation-list.js';
import { formatScopes, parseScopes, type Scope } from './scopes.js';
import type { SigningKeyRing } from './signing-keys.js';

/**
 * OAuth2 client credentials with rotating refresh tokens, and the access and
 * viewer tokens they lead to.
 *
 * - A client-credentials grant starts a token family (the `sid` claim of its
 *   access tokens). Each refresh token works once: using it marks it used and
 *   issues its successor in the same family. Presenting a used one again is
 *   reuse (a copy leaked, or a retry after a lost response): the whole family
 *   is revoked, refresh tokens in the database and access tokens through
 *   the revocation list. RFC 6749 §4.4.3 says a refresh token SHOULD NOT come
 *   with client credentials; we issue one for the family: one revocation
 *   ends a grant's tokens, and a leaked copy shows itself when reused. A
 *   refresh still authenticates the client (§6), so it saves no scrypt.
 * - Access tokens: RS256, typ "at+jwt" (RFC 9068), aud "nova-api".
 * - Viewer tokens: RS256, typ "JWT", aud "nova-playback", bound to one stream.
 */

export const ACCESS_TOKEN_SECONDS = 900;
export const REFRESH_TOKEN_SECONDS = 30 * 86_400;
export const ACCESS_AUDIENCE = 'nova-api';
export const ACCESS_TYPE = 'at+jwt';
export const VIEWER_AUDIENCE = 'nova-playback';
export const VIEWER_TYPE = 'JWT';
const REFRESH_PREFIX = 'nrt_';
const REFRESH_PATTERN = /^nrt_[A-Za-z0-9_-]{43}$/;

export interface TokenResponse {
  access_token: string;
  token_type: 'Bearer';
  expires_in: number;
  refresh_token: string;
  scope: string;
}

export type AccessCheck = { ok: true; principal: Principal & { kind: 'client' } } | { ok: false; reason: JwtFailure | 'revoked' };

export interface TokenServiceOptions {
  db: Kysely<Schema>;
  keys: SigningKeyRing;
  verifier: JwtVerifier;
  revocations: RevocationList;
  /** read per token: a server on port 0 learns its URL after start */
  issuer: () => string;
  now?: () => number;
}

function hashRefreshToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

export class TokenService {
  readonly #db: Kysely<Schema>;
  readonly #keys: SigningKeyRing;
  readonly #verifier: JwtVerifier;
  readonly #revocations: RevocationList;
  readonly #issuer: () => string;
  readonly #now: () => number;
  #lastPrune = 0;

  constructor(options: TokenServiceOptions) {
    this.#db = options.db;
    this.#keys = options.keys;
    this.#verifier = options.verifier;
    this.#revocations = options.revocations;
    this.#issuer = options.issuer;
    this.#now = options.now ?? Date.now;
  }

  /** RFC 6749 §4.4: a new family for an authenticated client. `scope`: the request's parameter, if any. */
  async clientCredentials(client: ApiClientRecord, scope: string | undefined): Promise<TokenResponse> {
    const scopes = this.#grantedScopes(client.scopes, scope);
    return this.#issue(client.id, scopes, randomUUID());
  }

  /** RFC 6749 §6, with rotation and reuse detection. */
  async refresh(client: ApiClientRecord, refreshToken: string | undefined, scope: string | undefined): Promise<TokenResponse> {
    if (refreshToken === undefined || refreshToken === '') throw new OAuthError('invalid_request', 'refresh_token is required');
    if (!REFRESH_PATTERN.test(refreshToken)) throw new OAuthError('invalid_grant', 'refresh token is invalid');
    const hash = hashRefreshToken(refreshToken);
    const now = new Date(this.#now());
    const outcome = await this.#db.transaction().execute(async (trx) => {
      const row = await trx.selectFrom('refresh_tokens').selectAll().where('token_hash', '=', hash).forUpdate().executeTakeFirst();
      if (!row || row.client_id !== client.id) return { kind: 'invalid' as const, reason: 'refresh token is invalid' };
      if (row.revoked_at !== null) return { kind: 'invalid' as const, reason: 'refresh token is revoked' };
      if (row.expires_at <= now) return { kind: 'invalid' as const, reason: 'refresh token has expired' };
      if (row.used_at !== null) {
        await trx.updateTable('refresh_tokens').set({ revoked_at: now }).where('family_id', '=', row.family_id).where('revoked_at', 'is', null).execute();
        return { kind: 'reused' as const, familyId: row.family_id };
      }
      await trx.updateTable('refresh_tokens').set({ used_at: now }).where('token_hash', '=', hash).execute();
      return { kind: 'rotate' as const, familyId: row.family_id, scopes: parseScopes(row.scopes) ?? new Set<Scope>() };
    });
    if (outcome.kind === 'invalid') throw new OAuthError('invalid_grant', outcome.reason);
    if (outcome.kind === 'reused') {
      await this.#revocations.revoke(`sid:${outcome.familyId}`, this.#now() + ACCESS_TOKEN_SECONDS * 1000 + 60_000);
      throw new OAuthError('invalid_grant', 'refresh token was already used: every token of its family is revoked');
    }
    // A refresh may narrow the scope, never widen it (RFC 6749 §6); the client may have lost scopes since.
    const held = new Set([...outcome.scopes].filter((s) => client.scopes.has(s)));
    return this.#issue(client.id, this.#grantedScopes(held, scope), outcome.familyId);
  }

  /**
   * RFC 7009: a refresh token revokes its family (and the family's access
   * tokens); an access token, itself. Tokens of other clients, unknown or
   * malformed ones change nothing and still succeed (§2.2).
   */
  async revoke(client: ApiClientRecord, token: string): Promise<void> {
    if (REFRESH_PATTERN.test(token)) {
      const row = await this.#db.selectFrom('refresh_tokens').select(['family_id', 'client_id']).where('token_hash', '=', hashRefreshToken(token)).executeTakeFirst();
      if (!row || row.client_id !== client.id) return;
      await this.#db.updateTable('refresh_tokens').set({ revoked_at: new Date(this.#now()) }).where('family_id', '=', row.family_id).where('revoked_at', 'is', null).execute();
      await this.#revocations.revoke(`sid:${row.family_id}`, this.#now() + ACCESS_TOKEN_SECONDS * 1000 + 60_000);
      return;
    }
    const check = await this.#verifyWithReload(token, { audience: ACCESS_AUDIENCE, type: ACCESS_TYPE });
    if (!check.ok || check.claims.sub !== client.id || typeof check.claims.jti !== 'string') return;
    await this.#revocations.revoke(`jti:${check.claims.jti}`, check.claims.exp * 1000 + 60_000);
  }

  /** The principal an access token stands for, or why not. */
  async verifyAccessToken(token: string): Promise<AccessCheck> {
    const check = await this.#verifyWithReload(token, { audience: ACCESS_AUDIENCE, type: ACCESS_TYPE });
    if (!check.ok) return check;
    const { sub, jti, sid, scope } = check.claims;
    if (typeof sub !== 'string' || typeof jti !== 'string' || typeof scope !== 'string') return { ok: false, reason: 'malformed' };
    if (this.#revocations.has(`jti:${jti}`, `client:${sub}`, typeof sid === 'string' ? `sid:${sid}` : '')) return { ok: false, reason: 'revoked' };
    return { ok: true, principal: { kind: 'client', clientId: sub, scopes: parseScopes(scope) ?? new Set(), tokenId: jti } };
  }

  /** A viewer token for one stream; `mintedBy`: the client id, or "admin". */
  async mintViewerToken(input: { streamId: string; expiresInSeconds: number; displayName?: string; viewerId?: string; mintedBy: string }): Promise<{ token: string; expiresAt: number }> {
    const key = this.#keys.signingKey();
    const iat = Math.floor(this.#now() / 1000);
    const exp = iat + input.expiresInSeconds;
    const claims: Record<string, unknown> = { stream_id: input.streamId, client_id: input.mintedBy };
    if (input.displayName !== undefined && input.displayName !== '') claims.name = input.displayName;
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: VIEWER_TYPE })
      .setIssuer(this.#issuer())
      .setAudience(VIEWER_AUDIENCE)
      .setSubject(input.viewerId ?? `viewer-${randomUUID()}`)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(exp)
      .sign(key.privateKey);
    return { token, expiresAt: exp * 1000 };
  }

  /** Verifies; on an unknown kid, reloads the key set once (another instance may have rotated) and tries again. */
  async #verifyWithReload(token: string, expect: { audience: string; type: string }): Promise<JwtCheck> {
    const first = this.#verifier.verify(token, expect);
    if (first.ok || first.reason !== 'unknown_kid') return first;
    await this.#keys.reloadForUnknownKid();
    return this.#verifier.verify(token, expect);
  }

  #grantedScopes(held: ReadonlySet<Scope>, requested: string | undefined): Set<Scope> {
    if (requested === undefined || requested.trim() === '') {
      if (held.size === 0) throw new OAuthError('invalid_scope', 'the client holds no scopes');
      return new Set(held);
    }
    const wanted = parseScopes(requested);
    if (wanted === null || wanted.size === 0) throw new OAuthError('invalid_scope', 'scope names an unknown scope');
    for (const scope of wanted) if (!held.has(scope)) throw new OAuthError('invalid_scope', `scope ${scope} is not granted to this client`);
    return wanted;
  }

  async #issue(clientId: string, scopes: Set<Scope>, familyId: string): Promise<TokenResponse> {
    // Every refresh adds a row; expired ones (a used one too: its family can no longer be refreshed) go hourly.
    if (this.#now() - this.#lastPrune > 3_600_000) {
      this.#lastPrune = this.#now();
      await this.#db.deleteFrom('refresh_tokens').where('expires_at', '<', new Date(this.#now())).execute();
    }
    const key = this.#keys.signingKey();
    const iat = Math.floor(this.#now() / 1000);
    const scope = formatScopes(scopes);
    const accessToken = await new SignJWT({ client_id: clientId, scope, sid: familyId })
      .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: ACCESS_TYPE })
      .setIssuer(this.#issuer())
      .setAudience(ACCESS_AUDIENCE)
      .setSubject(clientId)
      .setJti(randomUUID())
      .setIssuedAt(iat)
      .setExpirationTime(iat + ACCESS_TOKEN_SECONDS)
      .sign(key.privateKey);
    const refreshToken = REFRESH_PREFIX + randomBytes(32).toString('base64url');
    await this.#db
      .insertInto('refresh_tokens')
      .values({
        token_hash: hashRefreshToken(refreshToken),
        family_id: familyId,
        client_id: clientId,
        scopes: scope,
        created_at: new Date(this.#now()),
        expires_at: new Date(this.#now() + REFRESH_TOKEN_SECONDS * 1000),
      })
      .execute();
    return { access_token: accessToken, token_type: 'Bearer', expires_in: ACCESS_TOKEN_SECONDS, refresh_token: refreshToken, scope };
  }
}
