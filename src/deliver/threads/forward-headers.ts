import { CLIENT_ADDRESS_HEADER, FORWARDED_SECRET_HEADER } from '../../http/forwarded-address.js';

/**
 * Which headers cross the delivery thread → main thread hop, each way.
 * Hop-by-hop headers (RFC 9110 7.6.1) describe one connection, and the
 * forwarder has two: the client's, and its own pooled one to the main
 * thread; those it nominates in `Connection` too. Framing is each side's
 * own business: uWS writes Content-Length or Transfer-Encoding for what
 * it sends, and Node's client for what it sends.
 */

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

/** A header list as Node's rawHeaders and http.request's array form: [name, value, name, value, …]. */
export type RawHeaders = string[];

/** What the request carries, as the forwarder needs it besides the headers to send. */
export interface ForwardedRequestHeaders {
  /** headers for the main thread, without the forwarder's own */
  headers: RawHeaders;
  /** the client sent its body chunked (no Content-Length): the main thread must get it chunked too */
  chunked: boolean;
  /** the client's X-Request-Id, if any */
  requestId: string | null;
  /** the value of a FORWARDED_SECRET_HEADER the request came with (a forwarding loop when it is ours) */
  forwardedSecret: string | null;
}

function isHopByHop(lowerName: string, nominated: Set<string> | null): boolean {
  return HOP_BY_HOP.has(lowerName) || lowerName.startsWith('proxy-') || (nominated !== null && nominated.has(lowerName));
}

/** Header names a `Connection` value nominates as hop-by-hop ("close", "keep-alive" and the like are no header's name, which does no harm). */
function nominatedBy(connection: string | null): Set<string> | null {
  if (connection === null) return null;
  const names = new Set<string>();
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '') names.add(name);
  }
  return names;
}

/**
 * The client's headers (lower-case names, as uWS gives them) as the main
 * thread gets them: hop-by-hop ones dropped, any FORWARDED_SECRET_HEADER
 * or CLIENT_ADDRESS_HEADER the client sent dropped (only the forwarder
 * says those), and `Expect` dropped (uWS answered 100-continue to the
 * client already; the main thread gets the body without asking).
 */
export function requestHeaders(pairs: RawHeaders): ForwardedRequestHeaders {
  let connection: string | null = null;
  for (let i = 0; i < pairs.length; i += 2) {
    if (pairs[i] === 'connection') connection = connection === null ? pairs[i + 1]! : `${connection}, ${pairs[i + 1]!}`;
  }
  const nominated = nominatedBy(connection);
  const headers: RawHeaders = [];
  let chunked = false;
  let requestId: string | null = null;
  let forwardedSecret: string | null = null;
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i]!;
    const value = pairs[i + 1]!;
    if (name === 'transfer-encoding') {
      chunked ||= value.toLowerCase().includes('chunked');
      continue;
    }
    if (name === FORWARDED_SECRET_HEADER) {
      forwardedSecret = value;
      continue;
    }
    if (name === CLIENT_ADDRESS_HEADER || name === 'expect' || isHopByHop(name, nominated)) continue;
    if (name === 'x-request-id') requestId = value;
    headers.push(name, value);
  }
  return { headers, chunked, requestId, forwardedSecret };
}

/** What the main thread answered, as the client gets it besides the status. */
export interface ForwardedResponseHeaders {
  /** headers to write, in the main thread's order and spelling */
  headers: RawHeaders;
  /** the main thread's Content-Length, null when it sent none (or one that is not a length) */
  contentLength: number | null;
}

/**
 * The main thread's response headers (Node's rawHeaders) as the client gets
 * them: hop-by-hop ones dropped, and Content-Length taken out (uWS writes
 * its own from the length it is given), and the two headers uWS writes on
 * every response itself (Date, and its "uWebSockets" mark) dropped so the
 * client does not get them twice.
 */
export function responseHeaders(raw: RawHeaders): ForwardedResponseHeaders {
  let connection: string | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === 'connection') connection = connection === null ? raw[i + 1]! : `${connection}, ${raw[i + 1]!}`;
  }
  const nominated = nominatedBy(connection);
  const headers: RawHeaders = [];
  let contentLength: number | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      const value = raw[i + 1]!;
      contentLength = /^\d{1,15}$/.test(value) ? Number(value) : null;
      continue;
    }
    if (lower === 'date' || lower === 'uwebsockets' || isHopByHop(lower, nominated)) continue;
    headers.push(name, raw[i + 1]!);
  }
  return { headers, contentLength };
}
