/**
 * The edge bench's peer, real nginx as a caching reverse proxy: concurrent
 * misses for one object reach the origin once (proxy_cache_lock), the
 * origin's Cache-Control decides how long a copy lasts, and the upstream log
 * the bench counts agrees with what the origin saw.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { nginxInstalled } from '../../loadtest/peers/nginx.js';
import { startNginxCache, type NginxCacheProxy } from '../../loadtest/peers/nginx-cache.js';
import { toolGate } from '../support/tools.js';

describe('nginx caching proxy (edge bench peer)', toolGate('nginx', nginxInstalled()), () => {
  const originHits = new Map<string, number>();
  const body = new Uint8Array(256 * 1024).map((_, i) => i & 0xff);
  let origin: http.Server;
  let proxy: NginxCacheProxy;

  before(async () => {
    origin = http.createServer((req, res) => {
      const path = req.url ?? '';
      originHits.set(path, (originHits.get(path) ?? 0) + 1);
      // slow enough that every concurrent request arrives while the first is a miss
      setTimeout(() => {
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'cache-control': path.startsWith('/short') ? 'public, max-age=1' : 'public, max-age=31536000, immutable',
        });
        res.end(body);
      }, 150);
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    proxy = await startNginxCache({ origin: `http://127.0.0.1:${(origin.address() as AddressInfo).port}`, workerProcesses: 'auto' });
  });

  after(async () => {
    await proxy?.peer.stop();
    origin?.close();
  });

  it('runs workers, not the master, and sends 50 concurrent misses for one object upstream once', async () => {
    assert.ok(proxy.peer.workerPids().length >= 1);
    assert.ok(!proxy.peer.workerPids().includes(proxy.peer.pid));
    const bodies = await Promise.all(Array.from({ length: 50 }, async () => new Uint8Array(await (await fetch(`${proxy.http}/segment.m4s`)).arrayBuffer())));
    for (const received of bodies) assert.deepEqual(received, body);
    assert.equal(originHits.get('/segment.m4s'), 1);
    assert.equal(proxy.upstreamFetches().get('/segment.m4s'), 1);
  });

  it('keeps a copy only as long as the origin says', async () => {
    await (await fetch(`${proxy.http}/short.m3u8`)).arrayBuffer();
    await (await fetch(`${proxy.http}/short.m3u8`)).arrayBuffer();
    assert.equal(originHits.get('/short.m3u8'), 1);
    await sleep(2100);
    // expired: served stale while one background request refreshes it
    await (await fetch(`${proxy.http}/short.m3u8`)).arrayBuffer();
    await sleep(400);
    assert.equal(originHits.get('/short.m3u8'), 2);
    assert.equal(proxy.upstreamFetches().get('/short.m3u8'), 2);
  });
});
