/**
 * The benchmarks' wrk runner against a real server: what it parses from
 * wrk's summary agrees with what the server saw and sent, and error
 * responses are counted, not hidden in the request rate.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { runWrk, wrkInstalled } from '../../loadtest/bench/lib/wrk.js';
import { toolGate } from '../support/tools.js';

describe('runWrk', toolGate('wrk', wrkInstalled()), () => {
  const body = new Uint8Array(20_000);
  let served = 0;
  let server: http.Server;
  let base = '';

  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === '/missing') {
        res.writeHead(404).end();
        return;
      }
      served++;
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(() => server?.close());

  it('reports the rate, bytes and latency percentiles the server saw', async () => {
    const started = performance.now();
    const result = await runWrk(`${base}/segment`, { connections: 4, seconds: 1, threads: 1 });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(result.errors, 0);
    assert.ok(result.requestsPerSec > 0);
    // wrk's rate is over its own --seconds; the server also saw the requests in flight when it stopped
    assert.ok(served >= result.requestsPerSec * 0.9 && served <= result.requestsPerSec * seconds * 1.1 + 4, `wrk ${result.requestsPerSec}/s, server ${served} in ${seconds.toFixed(2)} s`);
    // bodies and headers: a little above the bodies alone
    const bodyMegabytesPerSec = (result.requestsPerSec * body.byteLength) / 1e6;
    assert.ok(result.megabytesPerSec >= bodyMegabytesPerSec * 0.99 && result.megabytesPerSec <= bodyMegabytesPerSec * 1.1, `${result.megabytesPerSec} MB/s for ${bodyMegabytesPerSec} MB/s of bodies`);
    assert.ok(result.p50Ms > 0 && result.p50Ms <= result.p99Ms, `p50 ${result.p50Ms} p99 ${result.p99Ms}`);
  });

  it('counts non-2xx responses as errors', async () => {
    const result = await runWrk(`${base}/missing`, { connections: 2, seconds: 1, threads: 1 });
    assert.ok(result.errors > 0);
    assert.ok(result.errors >= result.requestsPerSec * 0.9, `${result.errors} errors at ${result.requestsPerSec} req/s`);
  });
});
