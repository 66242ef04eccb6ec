/**
 * The signed-in credential: the admin token, or an access token from client
 * credentials. Kept in sessionStorage: it lives as
 * long as the tab and is not shared with other tabs or kept on disk.
 */

export interface Session {
  /** what goes after "Bearer " */
  accessToken: string;
  kind: 'admin' | 'client';
  /**
   * client sign-in: to get a new access token when this one expires (15 min). A refresh
   * must authenticate the client anyway (RFC 6749 §6), so the secret is kept as the admin token is.
   */
  clientId?: string;
  clientSecret?: string;
  /** client sign-in: epoch ms when the access token expires */
  expiresAt?: number;
}

const KEY = 'nova.session';

export function loadSession(): Session | null {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (raw === null) return null;
    const session = JSON.parse(raw) as Session;
    return typeof session.accessToken === 'string' && session.accessToken !== '' ? session : null;
  } catch {
    return null;
  }
}

export function saveSession(session: Session | null): void {
  if (session === null) sessionStorage.removeItem(KEY);
  else sessionStorage.setItem(KEY, JSON.stringify(session));
}
