import { checkBearer } from './admin-token.js';
import type { JwtFailure } from './jwt-verifier.js';
import { ADMIN, type Principal } from './principal.js';
import type { TokenService } from './token-service.js';

/**
 * `Authorization: Bearer …` to a principal: the admin token (the bootstrap
 * credential, compared in constant time) or an RS256 access token.
 */

export type Authentication =
  | { ok: true; principal: Principal }
  | { ok: false; error: 'missing' | 'invalid_token'; description: string };

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

const DESCRIPTIONS: Record<JwtFailure | 'revoked', string> = {
  malformed: 'the access token is malformed',
  bad_alg: 'the access token must be signed with RS256',
  unknown_kid: 'the access token names an unknown key',
  bad_signature: 'the access token signature is invalid',
  wrong_type: 'the token is not an access token',
  wrong_issuer: 'the access token was issued elsewhere',
  wrong_audience: 'the token is not an access token for this API',
  expired: 'the access token has expired',
  not_yet_valid: 'the access token is not valid yet',
  revoked: 'the access token has been revoked',
};

export class RequestAuthenticator {
  readonly #adminToken: string;
  readonly #tokens: TokenService | null;
  /** an admin token without a dot can never be mistaken for a JWT: a JWT then skips the admin compare */
  readonly #adminLooksLikeJwt: boolean;

  /** `tokens` null: only the admin token is accepted. */
  constructor(adminToken: string, tokens: TokenService | null) {
    this.#adminToken = adminToken;
    this.#tokens = tokens;
    this.#adminLooksLikeJwt = adminToken.includes('.');
  }

  async authenticate(authorization: string | undefined): Promise<Authentication> {
    if (authorization === undefined || authorization === '') return { ok: false, error: 'missing', description: 'missing bearer token' };
    const match = BEARER.exec(authorization);
    if (!match) return { ok: false, error: 'invalid_token', description: 'the Authorization header must be "Bearer <token>"' };
    const token = match[1]!;
    const jwtShaped = this.#tokens !== null && token.includes('.');
    if ((!jwtShaped || this.#adminLooksLikeJwt) && checkBearer(authorization, this.#adminToken)) return { ok: true, principal: ADMIN };
    if (jwtShaped) {
      const check = await this.#tokens!.verifyAccessToken(token);
      return check.ok ? check : { ok: false, error: 'invalid_token', description: DESCRIPTIONS[check.reason] };
    }
    return { ok: false, error: 'invalid_token', description: 'invalid bearer token' };
  }
}
