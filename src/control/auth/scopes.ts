/**
 * What an API client may do. A client holds a set of these; an access token
 * carries a subset (the token request's `scope`); each route needs one.
 * `admin` is everything the admin token can do, other clients' streams included.
 */
export const SCOPES = ['streams:read', 'streams:write', 'analytics:read', 'chat:write', 'chat:moderate', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

const KNOWN = new Set<string>(SCOPES);

export function isScope(value: string): value is Scope {
  return KNOWN.has(value);
}

/** A space-delimited scope string (RFC 6749 §3.3) as a set; null when it names an unknown scope. */
export function parseScopes(text: string): Set<Scope> | null {
  const scopes = new Set<Scope>();
  for (const word of text.split(' ')) {
    if (word === '') continue;
    if (!isScope(word)) return null;
    scopes.add(word);
  }
  return scopes;
}

/** In SCOPES order, so the same set always prints the same. */
export function formatScopes(scopes: Iterable<Scope>): string {
  const set = new Set(scopes);
  return SCOPES.filter((scope) => set.has(scope)).join(' ');
}

/** Whether `held` grants `needed`: `admin` grants every scope. */
export function grants(held: ReadonlySet<Scope>, needed: Scope): boolean {
  return held.has(needed) || held.has('admin');
}
