import { randomUUID } from 'node:crypto';
import { Agent, request, STATUS_CODES, type ClientRequest, type IncomingMessage } from 'node:http';
import { Counter, type Registry } from 'prom-client';
import type { HttpRequest, HttpResponse } from 'uWebSockets.js';
import { NovaError } from '../../errors.js';
import { CLIENT_ADDRESS_HEADER, FORWARDED_SECRET_HEADER, secretMatches } from '../../http/forwarded-address.js';
import { statusLine } from '../../http/uws-helpers.js';
import type { Logger } from '../../log.js';
import type { LogRateLimiter } from '../../ops/log-rate-limiter.js';
import { requestHeaders, responseHeaders, type RawHeaders } from './forward-headers.js';

/**
 * A delivery thread's way to answer what it does not serve itself. The
 * kernel spreads the public port's connections over the main thread's and
 * the delivery threads' uWS apps, and a keep-alive connection handed to a
 * delivery thread may ask for anything: the REST API, the console, /metrics.
 * Those stay on the main thread, so the delivery thread hands each such
 * request over HTTP to the main thread's private listener and streams the
 * answer back, as if the client had asked the main thread itself.
 *
 *   app.any('/*', (res, req) => forwarder.forward(res, req));
 *
 * Bodies stream both ways with backpressure (nothing is held whole), and
 * the client's address travels in a header the main thread believes only
 * with the forwarding secret (src/http/forwarded-address.ts).
 */

export interface ForwardTarget {
  /**
   * The main thread's private listener (e.g. its app listening on 127.0.0.1
   * port 0 as well), never the public port the delivery threads share: a
   * request sent there could land on a delivery thread again.
   */
  port: number;
  /** default 127.0.0.1 */
  host?: string;
  /** the process's forwarding secret, the one the main thread was given with trustForwardedRequests */
  secret: string;
  /** connections to the main thread at most (default 128); requests past them wait for one */
  maxSockets?: number;
}

export interface MainForwarderOptions {
  /** counts nova_streaming_forwarded_requests_total{result} there */
  registry?: Registry;
  /** caps the warnings an unreachable main thread would otherwise write per request */
  logLimiter?: LogRateLimiter;
}

/**
 * How a forwarded request ended. ok: answered in full; aborted: the client
 * went away first; upstream_error: the main thread could not be reached or
 * failed before answering (the client got a 502); upstream_reset: its answer
 * broke off midway (the client's connection was closed); refused: not
 * forwarded (a forwarding loop, or a request Node cannot send).
 */
export type ForwardResult = 'ok' | 'aborted' | 'upstream_error' | 'upstream_reset' | 'refused';

const DEFAULT_MAX_SOCKETS = 128;
/**
 * A pooled connection idle this long is closed by this side: uWS closes an
 * idle keep-alive connection after 10 s, and a request sent on one it is
 * closing at that moment would fail. Well below, so that rarely happens
 * (a bodiless request it happens to is sent again once).
 */
const IDLE_SOCKET_MS = 4000;

/** Requests sent again, once, when a pooled connection turns out closed: nothing of them reached the main thread, and sending them twice is harmless. */
const RETRYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What every exchange of one forwarder shares. */
interface ForwardContext {
  readonly host: string;
  readonly port: number;
  readonly secretText: string;
  readonly secret: Buffer;
  readonly pooled: Agent;
  readonly oneShot: Agent;
  readonly log: Logger;
  warn(kind: string, fields: Record<string, unknown>, message: string): void;
  count(result: ForwardResult): void;
}

export class MainForwarder {
  readonly #context: ForwardContext;

  constructor(target: ForwardTarget, log: Logger, options: MainForwarderOptions = {}) {
    if (target.secret === '') throw new NovaError('NOVA_ERR_CONFIG', 'the forwarding secret must not be empty');
    const maxSockets = target.maxSockets ?? DEFAULT_MAX_SOCKETS;
    const counter = options.registry
      ? new Counter({
          name: 'nova_streaming_forwarded_requests_total',
          help: 'Requests a delivery thread handed to the main thread, by how they ended (ok, aborted, upstream_error, upstream_reset, refused)',
          labelNames: ['result'],
          registers: [options.registry],
        })
      : null;
    const limiter = options.logLimiter ?? null;
    this.#context = {
      host: target.host ?? '127.0.0.1',
      port: target.port,
      secretText: target.secret,
      secret: Buffer.from(target.secret, 'utf8'),
      pooled: new Agent({ keepAlive: true, maxSockets, maxFreeSockets: Math.min(maxSockets, 16), timeout: IDLE_SOCKET_MS }),
      // uWS 20.30 writes a body on HEAD when a route ends with one, which Node's client leaves unread:
      // on a pooled connection those bytes would be taken for the next response, so HEAD gets a connection of its own
      oneShot: new Agent({ keepAlive: false, maxSockets }),
      log,
      warn(kind, fields, message) {
        if (limiter === null || limiter.allow(kind)) log.warn(fields, message);
      },
      count(result) {
        counter?.inc({ result });
      },
    };
  }

  /** Hands one request over; call it synchronously from the route handler (uWS's request is gone after it returns). */
  forward(res: HttpResponse, req: HttpRequest): void {
    new ForwardedExchange(this.#context, res, req);
  }

  /** Closes the connections to the main thread; requests in flight fail (their clients get a 502 or a closed connection). */
  close(): void {
    this.#context.pooled.destroy();
    this.#context.oneShot.destroy();
  }
}

const addressDecoder = new TextDecoder();
const noop = (): void => {};
let collecting: RawHeaders | null = null;
const collectHeader = (key: string, value: string): void => void collecting!.push(key, value);

function statusText(status: number, reason: string | undefined): string {
  const text = reason || STATUS_CODES[status];
  return text ? `${status} ${text}` : String(status);
}

function errorCode(err: unknown): string {
  return err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
}

/**
 * One request on its way to the main thread and its answer on the way
 * back. `#settled` is the one rule: once set (answered, closed, or the
 * client gone) nothing touches `res` again, and the result was counted.
 */
class ForwardedExchange {
  readonly #context: ForwardContext;
  readonly #res: HttpResponse;
  readonly #method: string;
  readonly #path: string;
  readonly #headers: RawHeaders;
  readonly #requestId: string;
  #upstream: ClientRequest | null = null;
  #response: IncomingMessage | null = null;
  #settled = false;
  #retried = false;
  #bodyBytes = 0;
  #bodyEnded = false;
  /** the client's body is paused until the main thread's connection drains */
  #bodyPaused = false;
  /** the main thread's Content-Length: the body goes out with tryEnd against it; null: chunked with write */
  #total: number | null = null;
  /** a piece tryEnd could not take whole, resent from onWritable; it began at body offset #pendingOffset */
  #pending: Buffer | null = null;
  #pendingOffset = 0;

  constructor(context: ForwardContext, res: HttpResponse, req: HttpRequest) {
    this.#context = context;
    this.#res = res;
    this.#method = req.getCaseSensitiveMethod();
    const query = req.getQuery();
    this.#path = query ? `${req.getUrl()}?${query}` : req.getUrl();
    const pairs: RawHeaders = [];
    collecting = pairs;
    req.forEach(collectHeader);
    collecting = null;
    const incoming = requestHeaders(pairs);
    this.#requestId = incoming.requestId ?? randomUUID();
    const headers = incoming.headers;
    headers.push(FORWARDED_SECRET_HEADER, context.secretText, CLIENT_ADDRESS_HEADER, addressDecoder.decode(res.getRemoteAddressAsText()));
    // the main thread's logs then carry the id this thread's warnings do
    if (incoming.requestId === null) headers.push('x-request-id', this.#requestId);
    if (incoming.chunked) headers.push('transfer-encoding', 'chunked');
    this.#headers = headers;
    res.onAborted(() => this.#onAborted());

    // Our own secret on an incoming request: the target port reaches delivery threads too, and forwarding would go round
    if (incoming.forwardedSecret !== null && secretMatches(context.secret, incoming.forwardedSecret)) {
      context.log.error({ requestId: this.#requestId, port: context.port }, "forwarding loop: the main thread's forwarding port is served by delivery threads too");
      this.#answerError(502, 'NOVA_ERR_UPSTREAM', 'the request cannot be handed to the main thread', 'refused');
      return;
    }

    res.onData((chunk, isLast) => this.#onBody(chunk, isLast));
    this.#send();
  }

  /** Opens the request to the main thread (again, for a retry): the body follows from onData, or at once when it is already complete. */
  #send(): void {
    const context = this.#context;
    let upstream: ClientRequest;
    try {
      upstream = request({
        host: context.host,
        port: context.port,
        method: this.#method,
        path: this.#path,
        // the array form is sent as given: no Host or other header of Node's own added
        headers: this.#headers,
        agent: this.#method === 'HEAD' ? context.oneShot : context.pooled,
      });
    } catch (err) {
      // Node refused the method, path or a header that uWS let through: nothing was sent
      context.log.info({ requestId: this.#requestId, method: this.#method, err: errorCode(err) }, 'request not forwarded to the main thread');
      this.#answerError(400, 'NOVA_ERR_BAD_REQUEST', 'the request cannot be handed to the main thread', 'refused');
      return;
    }
    this.#upstream = upstream;
    upstream.on('response', (response: IncomingMessage) => this.#onResponse(upstream, response));
    upstream.on('error', (err: Error) => this.#onUpstreamError(upstream, err));
    if (this.#bodyEnded) upstream.end();
  }

  #onBody(chunk: ArrayBuffer, isLast: boolean): void {
    // answered already (a 502, or the main thread answered before reading it all) or gone: the rest goes nowhere
    const upstream = this.#upstream;
    if (this.#settled || upstream === null) return;
    if (chunk.byteLength > 0) {
      this.#bodyBytes += chunk.byteLength;
      // uWS reuses the chunk's memory after this callback: copy it
      const accepted = upstream.write(Buffer.from(new Uint8Array(chunk)));
      // Paused only until the answer begins: the main thread has decided by then, and the client's
      // connection must not stay paused past the end of the response
      if (!accepted && !isLast && this.#response === null && !this.#bodyPaused) {
        this.#bodyPaused = true;
        this.#res.pause();
        upstream.once('drain', () => this.#resumeBody());
      }
    }
    if (isLast) {
      this.#bodyEnded = true;
      upstream.end();
    }
  }

  #resumeBody(): void {
    if (!this.#bodyPaused || this.#settled) return;
    this.#bodyPaused = false;
    this.#res.resume();
  }

  #onUpstreamError(upstream: ClientRequest, err: Error): void {
    // a replaced attempt, or an exchange already over (the client left, or the answer broke off)
    if (upstream !== this.#upstream || this.#settled) return;
    if (this.#response !== null) {
      this.#breakOff(err);
      return;
    }
    if (upstream.reusedSocket && !this.#retried && this.#bodyEnded && this.#bodyBytes === 0 && RETRYABLE.has(this.#method)) {
      // the pooled connection was closed under us before the main thread saw anything
      this.#retried = true;
      this.#send();
      return;
    }
    this.#context.warn(
      'forward:upstream_error',
      { requestId: this.#requestId, method: this.#method, url: this.#path, err: errorCode(err) },
      'the main thread did not answer a forwarded request',
    );
    this.#answerError(502, 'NOVA_ERR_UPSTREAM', 'the main thread did not answer', 'upstream_error');
  }

  #onResponse(upstream: ClientRequest, response: IncomingMessage): void {
    if (upstream !== this.#upstream || this.#settled) {
      response.destroy();
      return;
    }
    this.#response = response;
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      this.#res.resume();
    }
    // a broken answer shows as a close before its end: reported there, not as an error thrown at nobody
    response.on('error', noop);
    response.on('close', () => {
      if (!this.#settled) this.#breakOff(new Error(response.complete ? 'answer ended early' : 'answer cut short'));
    });
    const status = response.statusCode ?? 502;
    const { headers, contentLength } = responseHeaders(response.rawHeaders);
    const bodiless = this.#method === 'HEAD' || status === 204 || status === 304;
    const res = this.#res;
    res.cork(() => {
      res.writeStatus(statusText(status, response.statusMessage));
      for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
      if (bodiless) {
        // uWS's endWithoutBody(length) leaves the response open and breaks the keep-alive connection after it:
        // the main thread's length (what a GET would get) goes as a plain header instead (none on a 204, RFC 9110 8.6)
        if (contentLength !== null && status !== 204) res.writeHeader('content-length', String(contentLength));
        res.endWithoutBody();
        this.#settle('ok');
      } else if (contentLength === 0) {
        res.end();
        this.#settle('ok');
      }
    });
    if (this.#settled) {
      // nothing to read, but the response must be consumed for its connection to go back to the pool
      response.resume();
      return;
    }
    this.#total = contentLength;
    res.onWritable((offset) => this.#onWritable(offset));
    response.on('data', (chunk: Buffer) => this.#onChunk(chunk));
    response.on('end', () => this.#onEnd());
  }

  /** One piece of the main thread's body, out as it comes (a Server-Sent Event or a long poll's answer is not held back). */
  #onChunk(chunk: Buffer): void {
    if (this.#settled) return;
    const res = this.#res;
    res.cork(() => {
      if (this.#total !== null) {
        const offset = res.getWriteOffset();
        const [ok, done] = res.tryEnd(chunk, this.#total);
        if (done) this.#settle('ok');
        else if (!ok) {
          // tryEnd kept none of what it could not send: the rest goes again from onWritable
          this.#pending = chunk;
          this.#pendingOffset = offset;
          this.#response!.pause();
        }
      } else if (!res.write(chunk)) {
        // write keeps what it could not send; read no more until it went
        this.#response!.pause();
      }
    });
  }

  #onWritable(offset: number): boolean {
    if (this.#settled) return true;
    const res = this.#res;
    if (this.#pending !== null) {
      const [ok, done] = res.tryEnd(this.#pending.subarray(offset - this.#pendingOffset), this.#total!);
      if (done) {
        this.#settle('ok');
        return true;
      }
      if (!ok) return false;
      this.#pending = null;
    } else {
      // What write() kept: with a writable handler registered uWS leaves sending it to the handler (it does
      // not drain on its own), and an empty cork sends what it can (verified: without it the bytes waited for the next write)
      res.cork(noop);
    }
    this.#response?.resume();
    return true;
  }

  #onEnd(): void {
    if (this.#settled) return;
    if (this.#total !== null) {
      // tryEnd finishes a sized body itself: an end before it means fewer bytes than Content-Length
      this.#breakOff(new Error('answer shorter than its content-length'));
      return;
    }
    this.#res.cork(() => this.#res.end());
    this.#settle('ok');
  }

  /** The answer broke off after its status went out: all the client can be told is a closed connection. */
  #breakOff(err: Error): void {
    this.#settle('upstream_reset');
    this.#context.warn(
      'forward:upstream_reset',
      { requestId: this.#requestId, method: this.#method, url: this.#path, err: errorCode(err) },
      "the main thread's answer to a forwarded request broke off",
    );
    this.#upstream?.destroy();
    // runs onAborted, which finds the exchange settled
    this.#res.close();
  }

  /** A coded JSON error, the project's shape (uws-helpers sendJson), before anything else was written. */
  #answerError(status: number, code: string, message: string, result: ForwardResult): void {
    if (this.#settled) return;
    this.#settle(result);
    this.#upstream?.destroy();
    const res = this.#res;
    // a paused client body would keep the connection from reading its next request
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      res.resume();
    }
    res.cork(() => {
      res.writeStatus(statusLine(status));
      res.writeHeader('content-type', 'application/json; charset=utf-8');
      res.writeHeader('cache-control', 'no-store');
      if (this.#method === 'HEAD') res.endWithoutBody();
      else res.end(JSON.stringify({ error: { code, message } }));
    });
  }

  #onAborted(): void {
    const wasSettled = this.#settled;
    this.#settled = true;
    // the main thread sees its request go away too (a long poll, a stream of events) instead of answering nobody
    this.#upstream?.destroy();
    if (wasSettled) return;
    this.#context.count('aborted');
    this.#context.log.debug({ requestId: this.#requestId, method: this.#method, url: this.#path }, 'client left a forwarded request');
  }

  #settle(result: ForwardResult): void {
    this.#settled = true;
    this.#context.count(result);
    // Answered before the client's body was all in (an early 413): the rest of it is not sent, and a pooled
    // connection left in the middle of a request would never serve another; it goes
    if (!this.#bodyEnded) this.#upstream?.destroy();
  }
}
