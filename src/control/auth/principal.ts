import type { Scope } from './scopes.js';

/** Who a request acts as: the admin token, or an API client through one of its access tokens. */
export type Principal =
  | { kind: 'admin' }
  | {
      kind: 'client';
      clientId: string;
      /** the token's scopes (a subset of the client's) */
      scopes: ReadonlySet<Scope>;
      /** the access token's jti */
      tokenId: string;
    };

export const ADMIN: Principal = { kind: 'admin' };

/** A stable name for rate limits, idempotency keys and the log. */
export function principalKey(principal: Principal): string {
  return principal.kind === 'admin' ? 'admin' : `client:${principal.clientId}`;
}

/** Whether the principal sees every client's streams (the admin token, or the `admin` scope). */
export function seesEverything(principal: Principal): boolean {
  return principal.kind === 'admin' || principal.scopes.has('admin');
}
