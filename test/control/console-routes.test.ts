/**
 * The console's static files as the server serves them: the page at / and
 * /watch/:id, assets with their content types and cache lifetimes,
 * precompressed bodies, ETag revalidation, 404 for anything not built, and
 * no way out of the folder however the path is spelt. A small folder made
 * here stands in for the build (test/e2e/console.test.ts serves the real one).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gzipSync, brotliCompressSync } from 'node:zlib';
import uWS from 'uWebSockets.js';
import { registerConsoleRoutes } from '../../src/control/console/console-routes.js';
import { captureRequest, sendJson } from '../../src/http/uws-helpers.js';
import { createLogger } from '../../src/log.js';
import { tempDir } from '../support/tools.js';

const SCRIPT = 'export const hello = "console";\n'.repeat(40);

interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** node:http sends the path as written (fetch would resolve "..", hiding what a hostile client can send). */
function raw(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function serve(dir: string): Promise<{ port: number; built: boolean; close(): void }> {
  const app = uWS.App();
  const routes = await registerConsoleRoutes(app, { dir, log: createLogger('silent') });
  app.any('/*', (res, req) => {
    const ctx = captureRequest(res, req);
    sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `no route for ${ctx.method} ${ctx.url}` } });
  });
  const socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('listen failed')))));
  return { port: uWS.us_socket_local_port(socket), built: routes.built, close: () => uWS.us_listen_socket_close(socket) };
}

describe('console routes: static files from the built folder', () => {
  let server: Awaited<ReturnType<typeof serve>>;
  let root: string;

  before(async () => {
    root = tempDir('nova-console-routes-');
    const dir = join(root, 'console');
    mkdirSync(join(dir, 'assets'), { recursive: true });
    writeFileSync(join(root, 'secret.txt'), 'outside the console folder');
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>nova</title><div id="app"></div>');
    writeFileSync(join(dir, 'assets', 'console-ABCD2345.js'), SCRIPT);
    writeFileSync(join(dir, 'assets', 'console-ABCD2345.js.br'), brotliCompressSync(SCRIPT));
    writeFileSync(join(dir, 'assets', 'console-ABCD2345.js.gz'), gzipSync(SCRIPT));
    writeFileSync(join(dir, 'assets', 'console-WXYZ6789.css'), 'body { color: red }');
    writeFileSync(join(dir, 'assets', 'plain.svg'), '<svg xmlns="http://www.w3.org/2000/svg"/>');
    server = await serve(dir);
  });

  after(() => server?.close());

  it('serves the page at / and /watch/:id, revalidated each load, under a strict CSP', async () => {
    assert.equal(server.built, true);
    for (const path of ['/', '/watch/0b7c2f9e-1111-4222-8333-444455556666', '/watch/abc?token=x.y.z']) {
      const answer = await raw(server.port, path);
      assert.equal(answer.status, 200, path);
      assert.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
      assert.equal(answer.headers['cache-control'], 'no-cache');
      assert.match(String(answer.headers['content-security-policy']), /default-src 'none'; script-src 'self';/);
      assert.equal(answer.headers['referrer-policy'], 'no-referrer');
      assert.match(answer.body.toString(), /<div id="app">/);
    }
  });

  it('serves assets with their content type, a year of cache for hashed names, and the precompressed body asked for', async () => {
    const plain = await raw(server.port, '/console/assets/console-ABCD2345.js');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-type'], 'text/javascript; charset=utf-8');
    assert.equal(plain.headers['cache-control'], 'public, max-age=31536000, immutable');
    assert.equal(plain.headers['x-content-type-options'], 'nosniff');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.body.toString(), SCRIPT);
    const br = await raw(server.port, '/console/assets/console-ABCD2345.js', { 'accept-encoding': 'gzip, deflate, br' });
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(br.headers.vary, 'accept-encoding');
    assert.ok(br.body.byteLength < SCRIPT.length);
    const gzip = await raw(server.port, '/console/assets/console-ABCD2345.js', { 'accept-encoding': 'gzip' });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    const css = await raw(server.port, '/console/assets/console-WXYZ6789.css');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    const svg = await raw(server.port, '/console/assets/plain.svg');
    assert.equal(svg.headers['content-type'], 'image/svg+xml');
    assert.equal(svg.headers['cache-control'], 'no-cache', 'a name without a hash may change: revalidated');
    const head = await raw(server.port, '/console/assets/console-WXYZ6789.css', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.byteLength, 0);
  });

  it('answers 304 to a matching If-None-Match', async () => {
    const first = await raw(server.port, '/console/assets/console-ABCD2345.js');
    const etag = String(first.headers.etag);
    assert.match(etag, /^"[A-Za-z0-9_-]+"$/);
    const again = await raw(server.port, '/console/assets/console-ABCD2345.js', { 'if-none-match': etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.byteLength, 0);
  });

  it('404 for anything not built, the precompressed copies themselves, and every spelling of a way out', async () => {
    for (const path of [
      '/console/assets/nothing.js',
      '/console/assets/console-ABCD2345.js.br',
      '/console/assets/',
      '/console/index.html',
      '/console/assets/../index.html',
      '/console/assets/../../secret.txt',
      '/console/assets/%2e%2e/%2e%2e/secret.txt',
      '/console/assets/..%2F..%2Fsecret.txt',
      '/console/assets/....//....//secret.txt',
      '/console/assets/%00',
      '/secret.txt',
      '/watch/',
      '/watch/a/b',
    ]) {
      const answer = await raw(server.port, path);
      assert.equal(answer.status, 404, path);
      assert.doesNotMatch(answer.body.toString(), /outside the console folder/, path);
      assert.match(String(answer.headers['content-type']), /^application\/json/, path);
      assert.equal((JSON.parse(answer.body.toString()) as { error: { code: string } }).error.code, 'NOVA_ERR_NOT_FOUND', path);
    }
  });

  it('without a build, / says how to make one', async () => {
    const missing = await serve(join(root, 'not-built'));
    try {
      assert.equal(missing.built, false);
      const answer = await raw(missing.port, '/');
      assert.equal(answer.status, 404);
      assert.match(answer.body.toString(), /npm run build/);
      assert.equal((await raw(missing.port, '/console/assets/console-ABCD2345.js')).status, 404);
    } finally {
      missing.close();
    }
  });
});
