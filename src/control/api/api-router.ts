import { createHash, randomUUID } from 'node:crypto';
import { Counter, Histogram, type Registry } from 'prom-client';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { NovaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { captureRequest, errorStatus, readBody, statusLine, type RequestContext } from '../../http/uws-helpers.js';
import { OAuthError } from '../auth/oauth-error.js';
import { principalKey, type Principal } from '../auth/principal.js';
import type { RequestAuthenticator } from '../auth/request-authenticator.js';
import { grants, isScope, type Scope } from '../auth/scopes.js';
import { listOperations, type OpenApiDocument, type OpenApiOperation } from './openapi-document.js';
import { badRequest, type OpenApiValidator } from './openapi-validator.js';

/**
 * Registers the operations of the OpenAPI document on uWS and runs each
 * request through one pipeline: request id, authentication and scope (read
 * from the operation's `security`), rate limit, body and parameter
 * validation (ajv, from the document), Idempotency-Key, the handler, and a
 * JSON answer with security headers, metrics and an audit line. A handler
 * can only be attached to an operation the document lists, and `finish()`
 * refuses a document operation left without one.
 */

export interface ApiRequest {
  operationId: string;
  requestId: string;
  ctx: RequestContext;
  /** null on the public and OAuth client-authenticated operations */
  principal: Principal | null;
  /** path and query parameters, validated, query values coerced */
  params: Record<string, unknown>;
  /** the validated body ({} when none) */
  body: Record<string, unknown>;
  log: Logger;
}

export interface ApiResult {
  status: number;
  /** JSON body; omitted: an empty body */
  body?: unknown;
  headers?: Record<string, string>;
  /** a non-JSON body (docs page and its assets) */
  raw?: { contentType: string; data: string | Buffer; cacheControl: string };
}

export type ApiHandler = (request: ApiRequest) => Promise<ApiResult>;

/** Decides whether a request may run now; a refusal becomes 429. Headers go on every answer. */
export interface ApiRateLimiter {
  /** `key`: "client:…" for a client, "ip:…" for anything else (the per-address limit) */
  consume(key: string, kind: 'read' | 'write'): Promise<{ allowed: boolean; headers: Record<string, string>; retryAfterS: number }>;
}

/** Replays, refuses or runs a POST carrying an Idempotency-Key. */
export interface ApiIdempotency {
  run(input: { principal: string; key: string; method: string; path: string; body: Buffer }, execute: () => Promise<ApiResult>): Promise<ApiResult>;
}

export interface ApiRouterDeps {
  app: TemplatedApp;
  document: OpenApiDocument;
  validator: OpenApiValidator;
  authenticator: RequestAuthenticator;
  registry: Registry;
  log: Logger;
  rateLimiter?: ApiRateLimiter | null;
  idempotency?: ApiIdempotency | null;
  /** the admin token skips rate limits (true): it is the operator's own credential */
  adminExemptFromRateLimits?: boolean;
}

export const MAX_BODY_BYTES = 16 * 1024;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/;
const REALM = 'realm="nova-streaming"';

/** On every API answer: JSON is never sniffed as HTML, framed, or cached; no referrer leaks a URL with a token. */
const SECURITY_HEADERS: Record<string, string> = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
};

type SecurityKind = { kind: 'bearer'; scope: Scope } | { kind: 'client' } | { kind: 'none' };

interface Route {
  method: string;
  path: string;
  operation: OpenApiOperation;
  security: SecurityKind;
  pathParams: string[];
  hasBody: boolean;
  acceptsForm: boolean;
  /** answers errors as RFC 6749 §5.2 */
  oauthErrors: boolean;
}

export class ApiRouter {
  readonly #deps: ApiRouterDeps;
  readonly #routes = new Map<string, Route>();
  readonly #handled = new Set<string>();
  readonly #requests: Counter<'route' | 'method' | 'status'>;
  readonly #duration: Histogram<'route' | 'method'>;

  constructor(deps: ApiRouterDeps) {
    this.#deps = deps;
    for (const { method, path, operation } of listOperations(deps.document)) {
      this.#routes.set(operation.operationId, {
        method,
        path,
        operation,
        security: securityOf(operation),
        pathParams: [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]!),
        hasBody: operation.requestBody !== undefined,
        acceptsForm: operation.requestBody?.content['application/x-www-form-urlencoded'] !== undefined,
        oauthErrors: operation.tags.includes('auth') && securityOf(operation).kind === 'client',
      });
    }
    this.#requests = new Counter({
      name: 'nova_streaming_http_requests_total',
      help: 'REST API requests by route (OpenAPI path), method and status',
      labelNames: ['route', 'method', 'status'],
      registers: [deps.registry],
    });
    this.#duration = new Histogram({
      name: 'nova_streaming_http_request_duration_seconds',
      help: 'REST API request duration, from the request line to the last byte written',
      labelNames: ['route', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [deps.registry],
    });
  }

  /** Attaches the handler of a document operation and registers its route. */
  handle(operationId: string, handler: ApiHandler): void {
    const route = this.#routes.get(operationId);
    if (!route) throw new Error(`operation ${operationId} is not in the OpenAPI document`);
    if (this.#handled.has(operationId)) throw new Error(`operation ${operationId} has a handler already`);
    this.#handled.add(operationId);
    const pattern = route.path.replace(/\{([^}]+)\}/g, ':$1');
    const register = { GET: 'get', POST: 'post', DELETE: 'del', PUT: 'put', PATCH: 'patch' }[route.method] as 'get' | 'post' | 'del' | 'put' | 'patch';
    this.#deps.app[register](pattern, (res: HttpResponse, req: HttpRequest) => this.#serve(route, handler, res, req));
  }

  /** Throws when an operation of the document has no handler. */
  finish(): void {
    const missing = [...this.#routes.keys()].filter((id) => !this.#handled.has(id));
    if (missing.length > 0) throw new Error(`OpenAPI operations without a handler: ${missing.join(', ')}`);
  }

  /** What is registered, as "METHOD /path/{param}" (tests compare it with the document). */
  registered(): string[] {
    return [...this.#handled].map((id) => `${this.#routes.get(id)!.method} ${this.#routes.get(id)!.path}`);
  }

  #serve(route: Route, handler: ApiHandler, res: HttpResponse, req: HttpRequest): void {
    const started = process.hrtime.bigint();
    const ctx = captureRequest(res, req);
    const rawParams: Record<string, string> = {};
    for (let i = 0; i < route.pathParams.length; i++) rawParams[route.pathParams[i]!] = req.getParameter(i) ?? '';
    const supplied = ctx.headers.get('x-request-id');
    const requestId = supplied !== undefined && REQUEST_ID.test(supplied) ? supplied : randomUUID();
    const log = this.#deps.log.child({ requestId });
    let body: Promise<Buffer> | null = null;
    if (route.hasBody) {
      const declared = Number(ctx.headers.get('content-length') ?? '0');
      if (declared > MAX_BODY_BYTES) {
        this.#answerError(res, ctx, route, requestId, new NovaError('NOVA_ERR_PAYLOAD_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`), started, null, log);
        return;
      }
      // uWS hands body data only to an onData attached before the handler returns.
      body = readBody(res, ctx, MAX_BODY_BYTES);
      // A request refused before its body is awaited must not leave an unhandled rejection.
      body.catch(() => {});
    }
    let principal: Principal | null = null;
    let limitHeaders: Record<string, string> = {};
    const limit = async (key: string): Promise<void> => {
      const limiter = this.#deps.rateLimiter;
      if (!limiter) return;
      const verdict = await limiter.consume(key, route.method === 'GET' ? 'read' : 'write');
      limitHeaders = verdict.headers;
      if (!verdict.allowed) throw new RateLimited(verdict.retryAfterS);
    };
    const run = async (): Promise<ApiResult> => {
      const authorization = ctx.headers.get('authorization');
      if (route.security.kind === 'bearer') {
        const auth = await this.#deps.authenticator.authenticate(authorization);
        if (!auth.ok) {
          // Failed authentication counts against the address: guessing tokens is rate-limited too.
          await limit(`ip:${ctx.remoteAddress}`);
          throw new AuthProblem(401, auth.description, auth.error === 'missing' ? `Bearer ${REALM}` : `Bearer ${REALM}, error="invalid_token", error_description="${auth.description}"`);
        }
        principal = auth.principal;
      }
      const exempt = principal?.kind === 'admin' && this.#deps.adminExemptFromRateLimits !== false;
      if (!exempt) await limit(principal ? principalKey(principal) : `ip:${ctx.remoteAddress}`);
      if (route.security.kind === 'bearer' && principal !== null && principal.kind === 'client' && !grants(principal.scopes, route.security.scope)) {
        throw new AuthProblem(403, `this token lacks the scope ${route.security.scope}`, `Bearer ${REALM}, error="insufficient_scope", scope="${route.security.scope}"`);
      }
      const params: Record<string, unknown> = { ...parseQuery(ctx.query) };
      for (const [name, value] of Object.entries(rawParams)) params[name] = decodePathSegment(value);
      const validators = this.#deps.validator.operation(route.operation.operationId);
      if (!validators.params(params)) throw oauthOr(route, badRequest(validators.params.errors, 'parameters'));
      const bytes = body === null ? Buffer.alloc(0) : await body;
      const parsed = validators.body === null ? {} : parseBody(bytes, ctx.headers.get('content-type'), route);
      if (validators.body !== null && !validators.body(parsed)) throw oauthOr(route, badRequest(validators.body.errors, 'body'));
      const request: ApiRequest = { operationId: route.operation.operationId, requestId, ctx, principal, params, body: parsed, log };
      const key = ctx.headers.get('idempotency-key');
      if (route.method === 'POST' && key !== undefined && this.#deps.idempotency) {
        if (!IDEMPOTENCY_KEY.test(key)) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'Idempotency-Key must be 1 to 255 visible ASCII characters');
        // The OAuth endpoints have no principal yet: their credentials name the owner (hashed: the row must not hold a secret).
        const owner = principal
          ? principalKey(principal)
          : `anon:${createHash('sha256').update(`${authorization ?? ''}\n${String(parsed.client_id ?? '')}`).digest('hex')}`;
        return this.#deps.idempotency.run({ principal: owner, key, method: route.method, path: ctx.url, body: bytes }, () => handler(request));
      }
      return handler(request);
    };
    run().then(
      (result) => {
        this.#send(res, ctx, result, requestId, limitHeaders);
        this.#observe(route, ctx, result.status, started, principal, log);
      },
      (err: unknown) => this.#answerError(res, ctx, route, requestId, err, started, principal, log, limitHeaders),
    );
  }

  #answerError(
    res: HttpResponse,
    ctx: RequestContext,
    route: Route,
    requestId: string,
    err: unknown,
    started: bigint,
    principal: Principal | null,
    log: Logger,
    limitHeaders: Record<string, string> = {},
  ): void {
    let result: ApiResult;
    if (err instanceof OAuthError) {
      const headers: Record<string, string> = { pragma: 'no-cache' };
      if (err.error === 'invalid_client') headers['www-authenticate'] = `Basic ${REALM}`;
      result = { status: err.status, body: { error: err.error, error_description: err.message, request_id: requestId }, headers };
    } else if (err instanceof AuthProblem) {
      const code = err.status === 401 ? 'NOVA_ERR_UNAUTHORIZED' : 'NOVA_ERR_FORBIDDEN';
      result = { status: err.status, body: errorBody(code, err.message, requestId), headers: { 'www-authenticate': err.challenge } };
    } else if (err instanceof RateLimited) {
      result = { status: 429, body: errorBody('NOVA_ERR_RATE_LIMITED', `rate limit reached: retry in ${err.retryAfterS} s`, requestId), headers: { 'retry-after': String(err.retryAfterS) } };
    } else if (err instanceof NovaError) {
      result = { status: errorStatus(err.code), body: errorBody(err.code, err.message, requestId) };
    } else {
      log.error({ err, method: ctx.method, url: ctx.url }, 'API request failed');
      result = { status: 500, body: errorBody('NOVA_ERR_INTERNAL', 'internal error', requestId) };
    }
    this.#send(res, ctx, result, requestId, limitHeaders);
    this.#observe(route, ctx, result.status, started, principal, log);
  }

  #send(res: HttpResponse, ctx: RequestContext, result: ApiResult, requestId: string, limitHeaders: Record<string, string>): void {
    if (ctx.aborted) return;
    const payload = result.raw ? result.raw.data : result.body === undefined ? '' : JSON.stringify(result.body);
    res.cork(() => {
      res.writeStatus(statusLine(result.status));
      if (result.raw) {
        res.writeHeader('content-type', result.raw.contentType);
        res.writeHeader('cache-control', result.raw.cacheControl);
      } else {
        if (result.body !== undefined) res.writeHeader('content-type', 'application/json; charset=utf-8');
        res.writeHeader('cache-control', 'no-store');
        for (const name in SECURITY_HEADERS) res.writeHeader(name, SECURITY_HEADERS[name]!);
      }
      res.writeHeader('x-request-id', requestId);
      for (const name in limitHeaders) res.writeHeader(name, limitHeaders[name]!);
      if (result.headers) for (const name in result.headers) res.writeHeader(name, result.headers[name]!);
      res.end(payload);
    });
  }

  #observe(route: Route, ctx: RequestContext, status: number, started: bigint, principal: Principal | null, log: Logger): void {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    this.#requests.inc({ route: route.path, method: route.method, status: String(status) });
    this.#duration.observe({ route: route.path, method: route.method }, seconds);
    // The audit trail: who changed what, when, from where (reads are counted, not logged).
    if (route.method !== 'GET' || status >= 500) {
      log.info(
        { audit: true, who: principal ? principalKey(principal) : 'anonymous', operation: route.operation.operationId, method: ctx.method, url: ctx.url, status, from: ctx.remoteAddress, ms: Math.round(seconds * 1000) },
        'api request',
      );
    }
  }
}

class AuthProblem extends Error {
  constructor(readonly status: 401 | 403, message: string, readonly challenge: string) {
    super(message);
  }
}

class RateLimited extends Error {
  constructor(readonly retryAfterS: number) {
    super('rate limited');
  }
}

function errorBody(code: string, message: string, requestId: string): unknown {
  return { error: { code, message, request_id: requestId } };
}

function oauthOr(route: Route, err: NovaError): Error {
  return route.oauthErrors ? new OAuthError('invalid_request', err.message) : err;
}

function securityOf(operation: OpenApiOperation): SecurityKind {
  for (const requirement of operation.security) {
    const scopes = requirement.oauth2;
    if (scopes !== undefined) {
      const scope = scopes[0];
      if (scope === undefined || !isScope(scope)) throw new Error(`${operation.operationId}: oauth2 security needs one known scope`);
      return { kind: 'bearer', scope };
    }
  }
  if (operation.security.some((requirement) => requirement.clientBasic !== undefined)) return { kind: 'client' };
  return { kind: 'none' };
}

/** Query parameters; a repeated one is refused (ambiguous), not silently narrowed. */
function parseQuery(query: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (query === '') return out;
  for (const [name, value] of new URLSearchParams(query)) {
    if (Object.hasOwn(out, name)) throw new NovaError('NOVA_ERR_BAD_REQUEST', `query parameter ${JSON.stringify(name.slice(0, 64))} given twice`);
    out[name] = value;
  }
  return out;
}

function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function parseBody(bytes: Buffer, contentType: string | undefined, route: Route): Record<string, unknown> {
  if (route.acceptsForm && contentType !== undefined && /^application\/x-www-form-urlencoded\b/i.test(contentType)) {
    const out: Record<string, unknown> = {};
    for (const [name, value] of new URLSearchParams(bytes.toString('utf8'))) {
      // RFC 6749 §3.2: parameters MUST NOT be included more than once.
      if (Object.hasOwn(out, name)) throw new OAuthError('invalid_request', `parameter ${JSON.stringify(name.slice(0, 64))} given twice`);
      out[name] = value;
    }
    return out;
  }
  if (bytes.length === 0) return {};
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw oauthOr(route, new NovaError('NOVA_ERR_BAD_REQUEST', 'request body is not valid JSON'));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw oauthOr(route, new NovaError('NOVA_ERR_BAD_REQUEST', 'request body must be a JSON object'));
  }
  return value as Record<string, unknown>;
}
