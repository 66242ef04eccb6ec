/**
 * A delivery thread's forwarder between two real uWS apps in this process:
 * a "main" app with routes written the way the server writes them
 * (captureRequest, sendJson, readBody, writeResponse, the ops routes) on a
 * private port, and a "delivery" app whose every route is the forwarder.
 * Clients are node:http, so what goes over the wire is what is checked:
 * requests and bodies arrive intact, answers come back byte-exact and
 * streamed, HEAD/204/304 keep the connection usable, the client's address
 * reaches the main thread only through the forwarder, and failures on
 * either side end in a coded 502 or a closed connection, never a crash.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { Agent, request, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import uWS from 'uWebSockets.js';
import { MainForwarder, type ForwardResult } from '../../../src/deliver/threads/forward-to-main.js';
import { writeResponse } from '../../../src/deliver/http/media-response.js';
import { trustForwardedRequests } from '../../../src/http/forwarded-address.js';
import { captureRequest, readBody, sendError, sendJson, statusLine } from '../../../src/http/uws-helpers.js';
import { createLogger } from '../../../src/log.js';
import { registerOpsRoutes } from '../../../src/ops/ops-routes.js';

const SECRET = randomBytes(24).toString('base64url');
const BIG = randomBytes(10 * 1024 * 1024);
const sha256 = (bytes: Buffer): string => createHash('sha256').update(bytes).digest('hex');

interface Listening {
  port: number;
  close(): void;
}

function listen(app: uWS.TemplatedApp, host = '127.0.0.1'): Promise<Listening> {
  return new Promise((resolve, reject) =>
    app.listen(host, 0, (token) => {
      if (!token) reject(new Error('listen failed'));
      else resolve({ port: uWS.us_socket_local_port(token), close: () => uWS.us_listen_socket_close(token) });
    }),
  );
}

/** What the main app's routes saw, for the tests to look at. */
const seen = {
  eventWrites: [] as number[],
  slowAborted: false,
  uploadAborted: false,
  uploadBytes: 0,
};

/** The main thread's app: a few routes in the server's style, and its 404 for the rest. */
function mainApp(registry: Registry): uWS.TemplatedApp {
  const app = uWS.App();
  registerOpsRoutes(app, { registry, checks: [], dependencies: [], warnings: () => [] });
  app.any('/echo', (res, req) => {
    const ctx = captureRequest(res, req);
    sendJson(res, ctx, 200, { method: ctx.method, url: ctx.url, query: ctx.query, headers: Object.fromEntries(ctx.headers), remoteAddress: ctx.remoteAddress });
  });
  app.any('/upload', (res, req) => {
    const ctx = captureRequest(res, req);
    readBody(res, ctx, 16 * 1024 * 1024).then(
      (body) => sendJson(res, ctx, 200, { length: body.length, sha256: sha256(body), contentLength: ctx.headers.get('content-length') ?? null }),
      (err: unknown) => sendError(res, ctx, err),
    );
  });
  // watches its own abort: readBody's promise would just never settle
  app.post('/upload-watch', (res) => {
    res.onAborted(() => {
      seen.uploadAborted = true;
    });
    res.onData((chunk) => {
      seen.uploadBytes += chunk.byteLength;
    });
  });
  app.get('/big', (res, req) => {
    const ctx = captureRequest(res, req);
    writeResponse(res, ctx, 200, ['content-type', 'application/octet-stream'], BIG, false);
  });
  // writeResponse's HEAD: uWS's endWithoutBody(length), which leaves the main thread's connection open-ended
  app.head('/big', (res, req) => {
    const ctx = captureRequest(res, req);
    writeResponse(res, ctx, 200, ['content-type', 'application/octet-stream'], BIG, true);
  });
  app.get('/big-chunked', (res, req) => {
    const ctx = captureRequest(res, req);
    res.cork(() => {
      res.writeHeader('content-type', 'application/octet-stream');
      for (let offset = 0; offset < BIG.length; offset += 64 * 1024) res.write(BIG.subarray(offset, offset + 64 * 1024));
      res.end();
    });
    void ctx;
  });
  app.get('/events', (res, req) => {
    const ctx = captureRequest(res, req);
    seen.eventWrites = [];
    let sent = 0;
    const next = (): void => {
      if (ctx.aborted) return;
      res.cork(() => {
        if (sent === 0) res.writeHeader('content-type', 'text/event-stream');
        res.write(`data: event ${sent}\n\n`);
        seen.eventWrites.push(performance.now());
        sent++;
        if (sent === 5) res.end();
      });
      if (sent < 5) setTimeout(next, 100);
    };
    next();
  });
  app.get('/slow', (res, req) => {
    const ctx = captureRequest(res, req);
    seen.slowAborted = false;
    res.onAborted(() => {
      ctx.aborted = true;
      seen.slowAborted = true;
    });
    const timer = setInterval(() => {
      if (ctx.aborted) {
        clearInterval(timer);
        return;
      }
      res.cork(() => res.write('tick\n'));
    }, 50);
  });
  // the answer breaks off after its headers and a first piece
  app.get('/break', (res, req) => {
    const ctx = captureRequest(res, req);
    res.cork(() => res.write('first piece'));
    setTimeout(() => {
      if (!ctx.aborted) res.close();
    }, 100);
  });
  // sendJson on HEAD: uWS 20.30 writes the body even then
  app.any('/json', (res, req) => {
    const ctx = captureRequest(res, req);
    sendJson(res, ctx, 200, { hello: 'world' }, { 'x-extra': 'yes', 'set-cookie': 'a=1' });
  });
  // the REST API's 204: res.end('') (uWS then writes Content-Length: 0)
  app.del('/thing', (res, req) => {
    const ctx = captureRequest(res, req);
    res.cork(() => {
      res.writeStatus(statusLine(204));
      res.writeHeader('x-request-id', ctx.headers.get('x-request-id') ?? '');
      res.end('');
    });
  });
  app.get('/etag', (res, req) => {
    const ctx = captureRequest(res, req);
    if (ctx.headers.get('if-none-match') === '"v1"') writeResponse(res, ctx, 304, ['etag', '"v1"', 'cache-control', 'no-cache'], null, false);
    else writeResponse(res, ctx, 200, ['etag', '"v1"', 'cache-control', 'no-cache', 'content-type', 'text/plain'], 'version one', false);
  });
  app.any('/*', (res, req) => {
    const ctx = captureRequest(res, req);
    sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.url}` } });
  });
  return app;
}

function deliveryApp(forwarder: MainForwarder): uWS.TemplatedApp {
  return uWS.App().any('/*', (res, req) => forwarder.forward(res, req));
}

interface Answer {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: Buffer;
  /** the client's port: the same port means the same connection */
  localPort: number;
}

interface CallOptions {
  method?: string;
  headers?: OutgoingHttpHeaders;
  body?: Buffer | Buffer[];
  agent?: Agent | false;
  localAddress?: string;
  /** stop reading this long once the headers are in (the forwarder has to hold the main thread back meanwhile) */
  pauseMs?: number;
}

function call(port: number, path: string, options: CallOptions = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false, localAddress: options.localAddress },
      (res) => {
        const chunks: Buffer[] = [];
        const localPort = res.socket.localPort ?? 0;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, statusMessage: res.statusMessage ?? '', headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks), localPort }),
        );
        if (options.pauseMs !== undefined) {
          res.pause();
          setTimeout(() => res.resume(), options.pauseMs);
        }
      },
    );
    req.on('error', reject);
    if (Array.isArray(options.body)) {
      for (const piece of options.body) req.write(piece);
      req.end();
    } else req.end(options.body);
  });
}

async function counted(registry: Registry, result: ForwardResult): Promise<number> {
  const metric = (await registry.getSingleMetric('nova_streaming_forwarded_requests_total')?.get()) ?? { values: [] };
  return metric.values.find((v) => v.labels.result === result)?.value ?? 0;
}

async function waitFor(condition: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

describe('MainForwarder: a delivery thread hands requests to the main thread', () => {
  const registry = new Registry();
  let main: Listening;
  let delivery: Listening;
  let forwarder: MainForwarder;

  before(async () => {
    trustForwardedRequests(SECRET);
    main = await listen(mainApp(registry));
    forwarder = new MainForwarder({ port: main.port, secret: SECRET }, createLogger('silent'), { registry });
    delivery = await listen(deliveryApp(forwarder));
  });

  after(() => {
    delivery?.close();
    main?.close();
    forwarder?.close();
    trustForwardedRequests(null);
  });

  it('passes method, path, query and headers through; hop-by-hop and forged forwarding headers stay behind', async () => {
    const answer = await call(delivery.port, '/echo?a=1&b=two%20words&c=%2F', {
      method: 'PATCH',
      headers: {
        'x-custom': 'kept',
        authorization: 'Bearer abc',
        'x-request-id': 'req-123',
        'keep-alive': 'timeout=5',
        'proxy-authorization': 'Basic xyz',
        connection: 'keep-alive, x-per-hop',
        'x-per-hop': 'dropped',
        'x-nova-client-address': '203.0.113.9',
        'x-nova-forwarded-secret': 'guess',
      },
    });
    assert.equal(answer.status, 200);
    const echo = JSON.parse(answer.body.toString()) as { method: string; url: string; query: string; headers: Record<string, string>; remoteAddress: string };
    assert.equal(echo.method, 'PATCH');
    assert.equal(echo.url, '/echo');
    assert.equal(echo.query, 'a=1&b=two%20words&c=%2F');
    assert.equal(echo.headers['x-custom'], 'kept');
    assert.equal(echo.headers.authorization, 'Bearer abc');
    assert.equal(echo.headers['x-request-id'], 'req-123');
    assert.equal(echo.headers.host, `127.0.0.1:${delivery.port}`, "the client's Host, not the forwarder's");
    for (const dropped of ['keep-alive', 'proxy-authorization', 'x-per-hop', 'x-nova-client-address', 'x-nova-forwarded-secret']) {
      assert.equal(echo.headers[dropped], undefined, dropped);
    }
    assert.equal(echo.remoteAddress, '127.0.0.1');
    // the main thread's headers come back once each (uWS writes its own Date)
    assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(answer.rawHeaders.filter((name) => name.toLowerCase() === 'date').length, 1);
    assert.equal(answer.statusMessage, 'OK');
  });

  it('gives requests without an X-Request-Id one, the same the main thread sees', async () => {
    const answer = await call(delivery.port, '/echo');
    const echo = JSON.parse(answer.body.toString()) as { headers: Record<string, string> };
    assert.match(echo.headers['x-request-id'] ?? '', /^[0-9a-f-]{36}$/);
  });

  it('sends a 5 MB body through byte-exact, with its length or chunked', async () => {
    const body = randomBytes(5 * 1024 * 1024);
    const sized = await call(delivery.port, '/upload', { method: 'POST', body, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } });
    assert.equal(sized.status, 200);
    assert.deepEqual(JSON.parse(sized.body.toString()), { length: body.length, sha256: sha256(body), contentLength: String(body.length) });

    // no Content-Length: the client sends it chunked, and so must the forwarder, whatever the method
    // (Node's client chunks a POST's body by itself, a DELETE's only when told)
    const pieces = Array.from({ length: 40 }, (_, i) => body.subarray(i * 131072, (i + 1) * 131072));
    for (const method of ['POST', 'DELETE']) {
      const chunked = await call(delivery.port, '/upload', { method, body: pieces, headers: { 'transfer-encoding': 'chunked' } });
      assert.equal(chunked.status, 200, method);
      assert.deepEqual(JSON.parse(chunked.body.toString()), { length: body.length, sha256: sha256(body), contentLength: null }, method);
    }
  });

  it("answers the main thread's early refusal of a body as it is (413), and its connection is not lost", async () => {
    // one connection to the main thread: if the refused upload kept it, the next request would wait forever
    const single = new MainForwarder({ port: main.port, secret: SECRET, maxSockets: 1 }, createLogger('silent'));
    const edge = await listen(deliveryApp(single));
    try {
      const answer = await call(edge.port, '/upload', { method: 'POST', body: randomBytes(17 * 1024 * 1024) });
      assert.equal(answer.status, 413);
      assert.equal((JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code, 'NOVA_ERR_PAYLOAD_TOO_LARGE');
      const next = await Promise.race([call(edge.port, '/echo'), sleep(3000).then(() => null)]);
      assert.equal(next?.status, 200, 'the next request got through');
    } finally {
      edge.close();
      single.close();
    }
  });

  it('brings a 10 MB answer back byte-exact to a reader that falls behind, with its length or chunked', async () => {
    const sized = await call(delivery.port, '/big', { pauseMs: 300 });
    assert.equal(sized.status, 200);
    assert.equal(sized.headers['content-length'], String(BIG.length));
    assert.equal(sized.body.length, BIG.length);
    assert.equal(sha256(sized.body), sha256(BIG));

    const chunked = await call(delivery.port, '/big-chunked', { pauseMs: 300 });
    assert.equal(chunked.status, 200);
    assert.equal(chunked.headers['transfer-encoding'], 'chunked');
    assert.equal(chunked.body.length, BIG.length);
    assert.equal(sha256(chunked.body), sha256(BIG));
  });

  it('streams an answer piece by piece: the first event arrives before the main thread writes the last', async () => {
    const arrivals: { at: number; text: string }[] = [];
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: delivery.port, path: '/events', agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => arrivals.push({ at: performance.now(), text: chunk.toString() }));
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(status, 200);
    assert.equal(arrivals.map((a) => a.text).join(''), [0, 1, 2, 3, 4].map((i) => `data: event ${i}\n\n`).join(''));
    assert.equal(seen.eventWrites.length, 5);
    assert.ok(arrivals[0]!.at < seen.eventWrites[4]!, 'the first event came only with the last');
    assert.ok(arrivals.length >= 4, `events arrived in ${arrivals.length} pieces`);
  });

  it('answers HEAD, 204 and 304 without a body, keeping the connection for the next request', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const first = await call(delivery.port, '/echo', { agent });
      const head = await call(delivery.port, '/big', { method: 'HEAD', agent });
      assert.equal(head.status, 200);
      assert.equal(head.headers['content-length'], String(BIG.length), 'the length a GET would get');
      assert.equal(head.body.length, 0);

      // right after that HEAD (whose main-thread response uWS left open-ended), a request that is not sent twice
      const noContent = await call(delivery.port, '/thing', { method: 'DELETE', agent, headers: { 'x-request-id': 'del-1' } });
      assert.equal(noContent.status, 204);
      assert.equal(noContent.statusMessage, 'No Content');
      assert.equal(noContent.headers['content-length'], undefined, 'a 204 has no Content-Length (RFC 9110 8.6)');
      assert.equal(noContent.headers['x-request-id'], 'del-1');

      // the main thread writes this body even on HEAD: it must reach neither the client nor the next answer
      const headJson = await call(delivery.port, '/json', { method: 'HEAD', agent });
      assert.equal(headJson.status, 200);
      assert.equal(headJson.headers['x-extra'], 'yes');
      assert.equal(headJson.body.length, 0);
      const afterHead = await call(delivery.port, '/upload', { method: 'POST', agent, body: Buffer.from('after a HEAD') });
      assert.equal(afterHead.status, 200);
      assert.equal((JSON.parse(afterHead.body.toString()) as { length: number }).length, 12);

      const fresh = await call(delivery.port, '/etag', { agent });
      assert.equal(fresh.status, 200);
      assert.equal(fresh.body.toString(), 'version one');
      const notModified = await call(delivery.port, '/etag', { agent, headers: { 'if-none-match': '"v1"' } });
      assert.equal(notModified.status, 304);
      assert.equal(notModified.headers.etag, '"v1"');
      assert.equal(notModified.body.length, 0);

      const json = await call(delivery.port, '/json', { agent });
      assert.deepEqual(JSON.parse(json.body.toString()), { hello: 'world' });
      assert.equal(json.headers['set-cookie']?.[0], 'a=1');
      const last = await call(delivery.port, '/echo', { agent });
      assert.equal(last.status, 200);
      for (const answer of [head, noContent, headJson, afterHead, fresh, notModified, json, last]) assert.equal(answer.localPort, first.localPort, 'one client connection throughout');
    } finally {
      agent.destroy();
    }
  });

  it('serves many requests, sized and chunked, on one client connection', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const ports = new Set<number>();
      for (let i = 0; i < 6; i++) {
        const body = randomBytes(1000 + i * 70_000);
        const upload = await call(delivery.port, '/upload', { method: 'POST', body, agent });
        assert.equal((JSON.parse(upload.body.toString()) as { sha256: string }).sha256, sha256(body));
        const echo = await call(delivery.port, `/echo?i=${i}`, { agent });
        assert.equal((JSON.parse(echo.body.toString()) as { query: string }).query, `i=${i}`);
        const missing = await call(delivery.port, `/nowhere/${i}`, { agent });
        assert.equal(missing.status, 404);
        assert.equal((JSON.parse(missing.body.toString()) as { error: { code: string } }).error.code, 'NOVA_ERR_NOT_FOUND');
        for (const answer of [upload, echo, missing]) ports.add(answer.localPort);
      }
      assert.equal(ports.size, 1);
      const health = await call(delivery.port, '/health', { agent });
      assert.equal(health.status, 200);
    } finally {
      agent.destroy();
    }
  });

  it("tells the main thread the client's address; a client claiming one itself is not believed", async () => {
    // the client comes from 127.0.0.2, the forwarder from 127.0.0.1
    const forwarded = await call(delivery.port, '/echo', { localAddress: '127.0.0.2', headers: { 'x-nova-client-address': '203.0.113.9' } });
    assert.equal((JSON.parse(forwarded.body.toString()) as { remoteAddress: string }).remoteAddress, '127.0.0.2');

    // straight to the main thread: without the secret, or with a wrong one, the socket's address counts
    for (const headers of [{ 'x-nova-client-address': '203.0.113.9' }, { 'x-nova-client-address': '203.0.113.9', 'x-nova-forwarded-secret': `${SECRET}x` }, { 'x-nova-client-address': '203.0.113.9', 'x-nova-forwarded-secret': SECRET.slice(0, -1) + (SECRET.endsWith('A') ? 'B' : 'A') }]) {
      const direct = await call(main.port, '/echo', { localAddress: '127.0.0.2', headers });
      const echo = JSON.parse(direct.body.toString()) as { remoteAddress: string; headers: Record<string, string> };
      assert.equal(echo.remoteAddress, '127.0.0.2', JSON.stringify(headers));
      assert.equal(echo.headers['x-nova-client-address'], undefined);
      assert.equal(echo.headers['x-nova-forwarded-secret'], undefined);
    }
    // with it (what the forwarder sends), the header counts
    const vouched = await call(main.port, '/echo', { localAddress: '127.0.0.2', headers: { 'x-nova-client-address': '203.0.113.9', 'x-nova-forwarded-secret': SECRET } });
    assert.equal((JSON.parse(vouched.body.toString()) as { remoteAddress: string }).remoteAddress, '203.0.113.9');

    // a main thread that trusts no forwarder sees the forwarder's own address
    trustForwardedRequests(null);
    try {
      const untrusted = await call(delivery.port, '/echo', { localAddress: '127.0.0.2' });
      assert.equal((JSON.parse(untrusted.body.toString()) as { remoteAddress: string }).remoteAddress, '127.0.0.1');
    } finally {
      trustForwardedRequests(SECRET);
    }
  });

  it('drops the request to the main thread when the client leaves mid-answer or mid-upload', async () => {
    const abortedBefore = await counted(registry, 'aborted');
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: delivery.port, path: '/slow', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? undefined : reject(err)));
      req.end();
    });
    await waitFor(() => seen.slowAborted);

    seen.uploadAborted = false;
    seen.uploadBytes = 0;
    const upload = request({ host: '127.0.0.1', port: delivery.port, path: '/upload-watch', method: 'POST', agent: false, headers: { 'content-length': 8 * 1024 * 1024 } });
    upload.on('error', () => {});
    upload.write(randomBytes(1024 * 1024));
    await waitFor(() => seen.uploadBytes > 0);
    upload.destroy();
    await waitFor(() => seen.uploadAborted);

    await waitFor(async () => (await counted(registry, 'aborted')) === abortedBefore + 2);
    // both sides still serve
    assert.equal((await call(delivery.port, '/echo')).status, 200);
  });

  it("closes the client's connection when the main thread's answer breaks off", async () => {
    const resetBefore = await counted(registry, 'upstream_reset');
    const outcome = await new Promise<{ received: string; complete: boolean }>((resolve) => {
      let received = '';
      const req = request({ host: '127.0.0.1', port: delivery.port, path: '/break', agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => (received += chunk.toString()));
        res.on('end', () => resolve({ received, complete: res.complete }));
        res.on('error', () => resolve({ received, complete: false }));
      });
      req.on('error', () => resolve({ received, complete: false }));
      req.end();
    });
    assert.equal(outcome.received, 'first piece');
    assert.equal(outcome.complete, false, 'the client must not take a broken answer for a whole one');
    await waitFor(async () => (await counted(registry, 'upstream_reset')) === resetBefore + 1);
  });

  it('answers 502 with the coded JSON error when the main thread cannot be reached', async () => {
    const gone = await listen(uWS.App());
    gone.close();
    const lostRegistry = new Registry();
    const counting = new MainForwarder({ port: gone.port, secret: SECRET }, createLogger('silent'), { registry: lostRegistry });
    const edge = await listen(deliveryApp(counting));
    try {
      const answer = await call(edge.port, '/api/v1/streams');
      assert.equal(answer.status, 502);
      assert.equal(answer.statusMessage, 'Bad Gateway');
      assert.equal(answer.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(answer.headers['cache-control'], 'no-store');
      const body = JSON.parse(answer.body.toString()) as { error: { code: string; message: string } };
      assert.equal(body.error.code, 'NOVA_ERR_UPSTREAM');
      assert.equal(typeof body.error.message, 'string');

      const head = await call(edge.port, '/api/v1/streams', { method: 'HEAD' });
      assert.equal(head.status, 502);
      assert.equal(head.body.length, 0);

      // a body the main thread will never read does not keep the answer waiting
      const post = await call(edge.port, '/api/v1/streams', { method: 'POST', body: randomBytes(2 * 1024 * 1024) });
      assert.equal(post.status, 502);
      assert.equal(await counted(lostRegistry, 'upstream_error'), 3);
    } finally {
      edge.close();
      counting.close();
    }
  });

  it('sends a bodiless GET again when its pooled connection turns out closed, never a POST', async () => {
    // A plain TCP server in the main thread's place, to close a kept-alive connection just as the next request
    // comes (uWS does so at its idle timeout, 10 s): each connection answers one request and drops the next.
    const answered: string[] = [];
    const server = createServer((socket) => {
      let served = false;
      socket.on('data', (data: Buffer) => {
        const line = data.toString('latin1').split('\r\n')[0]!;
        if (served) {
          socket.destroy();
          return;
        }
        served = true;
        answered.push(line);
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok');
      });
      socket.on('error', () => {});
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    const retryRegistry = new Registry();
    const retrying = new MainForwarder({ port, secret: SECRET, maxSockets: 1 }, createLogger('silent'), { registry: retryRegistry });
    const edge = await listen(deliveryApp(retrying));
    try {
      assert.equal((await call(edge.port, '/first')).body.toString(), 'ok');
      const again = await call(edge.port, '/second');
      assert.equal(again.status, 200);
      assert.equal(again.body.toString(), 'ok');
      assert.deepEqual(answered, ['GET /first HTTP/1.1', 'GET /second HTTP/1.1']);
      const post = await call(edge.port, '/third', { method: 'POST', body: Buffer.from('once only') });
      assert.equal(post.status, 502);
      assert.equal(answered.length, 2, 'the POST was not sent again');
      assert.equal(await counted(retryRegistry, 'upstream_error'), 1);
    } finally {
      edge.close();
      retrying.close();
      server.close();
    }
  });

  it('refuses to forward a request it forwarded itself (the target port reaches delivery threads)', async () => {
    const loopRegistry = new Registry();
    // a delivery app whose target is itself, as when the public port is given as the target
    let looping: MainForwarder | null = null;
    const app = await listen(uWS.App().any('/*', (res, req) => looping!.forward(res, req)));
    const selfPort = app.port;
    looping = new MainForwarder({ port: selfPort, secret: SECRET }, createLogger('silent'), { registry: loopRegistry });
    try {
      const answer = await call(selfPort, '/api/v1/streams');
      assert.equal(answer.status, 502);
      assert.equal((JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code, 'NOVA_ERR_UPSTREAM');
      assert.equal(await counted(loopRegistry, 'refused'), 1);
      assert.equal(await counted(loopRegistry, 'ok'), 1, 'the first hop relayed the refusal');
    } finally {
      app.close();
      looping.close();
    }
  });

  it('refuses an empty forwarding secret on either side', () => {
    assert.throws(() => trustForwardedRequests(''), { code: 'NOVA_ERR_CONFIG' });
    assert.throws(() => new MainForwarder({ port: main.port, secret: '' }, createLogger('silent')), { code: 'NOVA_ERR_CONFIG' });
  });

  it('counts what it forwarded, visible on the main thread at /metrics', async () => {
    const answer = await call(delivery.port, '/metrics');
    assert.equal(answer.status, 200);
    assert.match(answer.body.toString(), /nova_streaming_forwarded_requests_total\{result="ok"\} \d+/);
    assert.ok((await counted(registry, 'ok')) > 20);
  });
});
