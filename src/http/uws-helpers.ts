import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { NovaError, type NovaErrorCode } from '../errors.js';
import { takeForwardedAddress } from './forwarded-address.js';

/**
 * The few uWebSockets.js invariants every route must keep, in one place:
 * attach onAborted before anything async, read request data before any
 * await, cork multi-part writes, never write to an aborted response.
 */

export interface RequestContext {
  method: string;
  url: string;
  query: string;
  headers: Map<string, string>;
  remoteAddress: string;
  aborted: boolean;
}

// Per request, on the one HTTP thread: one decoder and one header callback for all, not a Buffer and a closure each.
const addressDecoder = new TextDecoder();
let collecting: Map<string, string> | null = null;
const collectHeader = (key: string, value: string): void => void collecting!.set(key, value);

/** Copies what the route needs out of uWS's stack-allocated request (invalid after the first await). */
export function captureRequest(res: HttpResponse, req: HttpRequest): RequestContext {
  const headers = new Map<string, string>();
  collecting = headers;
  req.forEach(collectHeader);
  collecting = null;
  const ctx: RequestContext = {
    method: req.getCaseSensitiveMethod ? req.getCaseSensitiveMethod() : req.getMethod().toUpperCase(),
    url: req.getUrl(),
    query: req.getQuery() ?? '',
    headers,
    // a request a delivery thread forwarded carries its client's address (forwarded-address.ts); anyone else gets the socket's
    remoteAddress: takeForwardedAddress(headers) ?? addressDecoder.decode(res.getRemoteAddressAsText()),
    aborted: false,
  };
  res.onAborted(() => {
    ctx.aborted = true;
  });
  return ctx;
}

const STATUS_TEXT: Record<number, string> = {
  200: '200 OK',
  201: '201 Created',
  204: '204 No Content',
  206: '206 Partial Content',
  304: '304 Not Modified',
  400: '400 Bad Request',
  401: '401 Unauthorized',
  403: '403 Forbidden',
  404: '404 Not Found',
  405: '405 Method Not Allowed',
  409: '409 Conflict',
  413: '413 Payload Too Large',
  415: '415 Unsupported Media Type',
  416: '416 Range Not Satisfiable',
  422: '422 Unprocessable Content',
  429: '429 Too Many Requests',
  500: '500 Internal Server Error',
  502: '502 Bad Gateway',
  503: '503 Service Unavailable',
};

/**
 * Ends a HEAD answer with the length a GET would get. uWS 20.30's
 * endWithoutBody(length) leaves the response open, and the keep-alive
 * connection's next request then finds it closed: the length goes as a plain
 * header instead.
 */
export function endHead(res: HttpResponse, length: number): void {
  res.writeHeader('content-length', String(length));
  res.endWithoutBody();
}

export function statusLine(status: number): string {
  return STATUS_TEXT[status] ?? String(status);
}

export function sendJson(
  res: HttpResponse,
  ctx: RequestContext,
  status: number,
  body: unknown,
  extraHeaders?: Record<string, string>,
): void {
  if (ctx.aborted) return;
  const payload = JSON.stringify(body);
  res.cork(() => {
    res.writeStatus(statusLine(status));
    res.writeHeader('content-type', 'application/json; charset=utf-8');
    res.writeHeader('cache-control', 'no-store');
    if (extraHeaders) for (const key in extraHeaders) res.writeHeader(key, extraHeaders[key]!);
    res.end(payload);
  });
}

const ERROR_STATUS: Partial<Record<NovaErrorCode, number>> = {
  NOVA_ERR_BAD_REQUEST: 400,
  NOVA_ERR_UNAUTHORIZED: 401,
  NOVA_ERR_FORBIDDEN: 403,
  NOVA_ERR_NOT_FOUND: 404,
  NOVA_ERR_CONFLICT: 409,
  NOVA_ERR_PAYLOAD_TOO_LARGE: 413,
  NOVA_ERR_UNPROCESSABLE: 422,
  NOVA_ERR_RATE_LIMITED: 429,
  NOVA_ERR_UPSTREAM: 502,
};

/** The HTTP status a coded error answers with (500 for codes that are the server's fault). */
export function errorStatus(code: NovaErrorCode): number {
  return ERROR_STATUS[code] ?? 500;
}

/** JSON error body: {"error":{"code","message"}} with the status the code implies. */
export function sendError(res: HttpResponse, ctx: RequestContext, err: unknown): void {
  if (err instanceof NovaError) {
    sendJson(res, ctx, errorStatus(err.code), { error: { code: err.code, message: err.message } });
    return;
  }
  sendJson(res, ctx, 500, { error: { code: 'NOVA_ERR_INTERNAL', message: 'internal error' } });
}

/**
 * Reads the whole body, refusing more than `limit` bytes. Must be called
 * synchronously in the handler (uWS delivers data only to the first onData).
 */
export function readBody(res: HttpResponse, ctx: RequestContext, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    res.onData((chunk, isLast) => {
      if (failed) return;
      size += chunk.byteLength;
      if (size > limit) {
        failed = true;
        reject(new NovaError('NOVA_ERR_PAYLOAD_TOO_LARGE', `request body over ${limit} bytes`));
        return;
      }
      // uWS reuses the chunk's memory after this callback: copy it.
      chunks.push(Buffer.from(new Uint8Array(chunk)));
      if (isLast) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
    void ctx;
  });
}

/** Parses a JSON object body, with a coded 400 for anything else. */
export function parseJsonObject(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(body.toString('utf8'));
  } catch {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', 'request body is not valid JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', 'request body must be a JSON object');
  }
  return value as Record<string, unknown>;
}
