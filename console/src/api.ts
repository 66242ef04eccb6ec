import { saveSession, type Session } from './session.js';

/** The REST API as the console uses it (shapes from /api/v1/openapi.json). */

export type StreamStatus = 'PENDING' | 'ACTIVE' | 'ENDED' | 'ERROR';

export interface Rendition {
  name: string;
  width?: number;
  height?: number;
  bandwidth?: number;
}

export interface Stream {
  id: string;
  title: string;
  status: StreamStatus;
  private: boolean;
  created_at: string;
  started_at: string | null;
  ended_at: string | null;
  end_reason: string | null;
  viewers: number;
  peak_viewers: number;
  renditions: Rendition[];
  warnings: Array<{ code: string; message: string }>;
  hls_url: string;
  ll_hls_url: string;
  dash_url: string;
  ws_url: string;
  rtmp_url: string;
}

export interface CreatedStream extends Stream {
  stream_key: string;
  publish_url: string;
}

export interface MetricsPoint {
  at: string;
  viewers: number;
  peak_viewers: number;
  ingress_bitrate: number;
  fps: number;
  /** bits per second served to viewers; null where not measured (viewer sessions off) */
  egress_bitrate: number | null;
  peak_egress_bitrate: number | null;
  viewers_by_rendition: Record<string, number> | null;
  samples: number;
}

export interface PlaybackToken {
  token: string;
  expires_at: string;
  hls_url: string;
  ws_url: string;
}

export interface DiscoveredStream {
  id: string;
  title: string;
  viewers: number;
  started_at: string;
}

/** An API answer that was not 2xx: the server's coded error when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

async function errorOf(response: Response): Promise<ApiError> {
  let code = `HTTP_${response.status}`;
  let message = response.statusText || `HTTP ${response.status}`;
  try {
    const body = (await response.json()) as { error?: { code?: string; message?: string } | string; error_description?: string };
    if (typeof body.error === 'object' && body.error !== null) {
      code = body.error.code ?? code;
      message = body.error.message ?? message;
    } else if (typeof body.error === 'string') {
      code = body.error;
      message = body.error_description ?? body.error;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(response.status, code, message);
}

async function request<T>(session: Session | null, method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = {};
  if (session !== null) headers.authorization = `Bearer ${session.accessToken}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (!response.ok) throw await errorOf(response);
  return (await response.json()) as T;
}

/** Exchanges client credentials for an access token (OAuth2 client credentials). */
export async function signInWithClient(clientId: string, clientSecret: string): Promise<Session> {
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret });
  const response = await fetch('/api/v1/auth/token', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
  if (!response.ok) throw await errorOf(response);
  const token = (await response.json()) as { access_token: string; expires_in: number };
  return { kind: 'client', accessToken: token.access_token, clientId, clientSecret, expiresAt: Date.now() + token.expires_in * 1000 };
}

/** A client session's access token, renewed a minute before it expires. */
async function fresh(session: Session): Promise<Session> {
  if (session.kind !== 'client' || session.clientId === undefined || session.clientSecret === undefined) return session;
  if (session.expiresAt !== undefined && session.expiresAt - Date.now() > 60_000) return session;
  Object.assign(session, await signInWithClient(session.clientId, session.clientSecret));
  saveSession(session);
  return session;
}

export class Api {
  constructor(private readonly session: Session) {}

  async #call<T>(method: string, path: string, body?: unknown): Promise<T> {
    return request<T>(await fresh(this.session), method, path, body);
  }

  listStreams(): Promise<{ items: Stream[] }> {
    return this.#call('GET', '/api/v1/streams?limit=100');
  }

  getStream(id: string): Promise<Stream> {
    return this.#call('GET', `/api/v1/streams/${encodeURIComponent(id)}`);
  }

  createStream(title: string, isPrivate: boolean): Promise<CreatedStream> {
    return this.#call('POST', '/api/v1/streams', { title, private: isPrivate });
  }

  /** Ends the stream: its publisher is dropped and its key revoked. */
  endStream(id: string): Promise<Stream> {
    return this.#call('DELETE', `/api/v1/streams/${encodeURIComponent(id)}`);
  }

  playbackToken(id: string, expiresIn = 3600): Promise<PlaybackToken> {
    return this.#call('POST', `/api/v1/streams/${encodeURIComponent(id)}/playback-tokens`, { expires_in: expiresIn });
  }

  metrics(id: string, from: Date, to: Date, step: number): Promise<{ points: MetricsPoint[] }> {
    const query = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), step: String(step) });
    return this.#call('GET', `/api/v1/streams/${encodeURIComponent(id)}/metrics?${query}`);
  }
}

/** Checks a credential by reading one page of streams (what the console does next anyway). */
export async function checkSession(session: Session): Promise<void> {
  await request(session, 'GET', '/api/v1/streams?limit=1');
}

/** Public: the live public streams (for a watch page's title). */
export function discoverLive(): Promise<{ items: DiscoveredStream[] }> {
  return request(null, 'GET', '/api/v1/discover/live?limit=50&sort=recent');
}
