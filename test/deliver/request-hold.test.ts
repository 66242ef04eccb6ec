import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { Registry, type Gauge } from 'prom-client';
import uWS from 'uWebSockets.js';
import { CorsPolicy } from '../../src/deliver/http/cors.js';
import { MediaMetrics } from '../../src/deliver/http/media-metrics.js';
import { writeResponse } from '../../src/deliver/http/media-response.js';
import { holdRequest } from '../../src/deliver/http/request-hold.js';
import { captureRequest } from '../../src/http/uws-helpers.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { feed, feedParts } from './synthetic-media.js';

/**
 * The one hold-on-the-store helper, on a real uWebSockets.js listener:
 * GET /hold/:stream/:msn/:part?timeout=ms parks on the store's wait for that
 * part of source/video and answers 200 "ready" when it may respond.
 */
describe('holding a request on a store wait', () => {
  const store = new SegmentStore();
  const registry = new Registry();
  const metrics = new MediaMetrics(registry, store, () => 0);
  const cors = new CorsPolicy('*');
  let base = '';
  let socket: uWS.us_listen_socket;
  let responded = 0;

  before(async () => {
    const app = uWS.App();
    app.get('/hold/*', (res, req) => {
      const ctx = captureRequest(res, req);
      const [, , streamId, msn, part] = ctx.url.split('/');
      const timeoutMs = Number(new URLSearchParams(ctx.query).get('timeout') ?? 5000);
      holdRequest(
        res,
        ctx,
        cors,
        (onDone) => store.waitFor(streamId!, 'source', 'video', Number(msn), Number(part), timeoutMs, onDone),
        { kind: 'part', timeouts: { heldTooLong: (kind) => metrics.countHoldTimeout(kind) }, late: `part ${msn}.${part} late`, gone: `stream ${streamId} gone`, streamId: streamId! },
        () => {
          responded++;
          writeResponse(res, ctx, 200, cors.headers(ctx, ['content-type', 'text/plain']), 'ready', false);
        },
      );
    });
    socket = await new Promise<uWS.us_listen_socket>((resolve, reject) => app.listen('127.0.0.1', 0, (s) => (s ? resolve(s) : reject(new Error('listen failed')))));
    base = `http://127.0.0.1:${uWS.us_socket_local_port(socket)}`;
  });
  after(() => {
    store.clear();
    uWS.us_listen_socket_close(socket);
  });

  async function parkedGauge(): Promise<number> {
    const gauge = registry.getSingleMetric('nova_streaming_blocking_reloads_parked') as Gauge;
    return (await gauge.get()).values[0]!.value;
  }

  async function untilParked(count: number): Promise<void> {
    for (let i = 0; i < 100 && store.parkedCount !== count; i++) await sleep(10);
    assert.equal(store.parkedCount, count);
    assert.equal(await parkedGauge(), count);
  }

  it('answers at once when nothing needs waiting for, and after the wait when the part arrives', async () => {
    feed(store, 'ready', 0, 2);
    const now = await fetch(`${base}/hold/ready/1/0`);
    assert.equal(now.status, 200);
    assert.equal(await now.text(), 'ready');
    const parked = fetch(`${base}/hold/ready/2/1`);
    await untilParked(1);
    feedParts(store, 'ready', 2, 2);
    const released = await parked;
    assert.equal(released.status, 200);
    assert.equal(await released.text(), 'ready');
    assert.equal(await parkedGauge(), 0);
  });

  it('timeout: 503 with Retry-After and a coded error, and nothing left parked', async () => {
    feed(store, 'late', 0, 1);
    const started = Date.now();
    const late = await fetch(`${base}/hold/late/1/0?timeout=150`);
    assert.ok(Date.now() - started >= 140, 'held for the timeout');
    assert.equal(late.status, 503);
    assert.equal(late.headers.get('retry-after'), '1');
    assert.equal(late.headers.get('access-control-allow-origin'), '*');
    assert.deepEqual(await late.json(), { error: { code: 'NOVA_ERR_INTERNAL', message: 'part 1.0 late' } });
    assert.equal(await parkedGauge(), 0);
    // counted by what it waited for; the waits that were answered in time are not
    const timedOut = (await registry.getSingleMetric('nova_streaming_held_requests_timed_out_total')!.get()).values;
    assert.deepEqual(timedOut.map((v) => [v.labels.kind, v.value]), [['part', 1]]);
  });

  it('aborted: the wait is cancelled, the parked gauge is back to 0, and a later part writes nothing', async () => {
    feed(store, 'abort', 0, 1);
    const before = responded;
    const controller = new AbortController();
    const parked = fetch(`${base}/hold/abort/1/0`, { signal: controller.signal });
    await untilParked(1);
    controller.abort();
    await assert.rejects(parked);
    await untilParked(0);
    assert.equal(store.getStream('abort')!.renditions.get('source')!.tracks.get('video')!.waiters.length, 0);
    feedParts(store, 'abort', 1, 1);
    await sleep(20);
    assert.equal(responded, before, 'respond never ran for the aborted request');
  });

  it('gone: 404 with the gone message; ended: respond runs (the response says what there is)', async () => {
    feed(store, 'gone', 0, 1);
    const parked = fetch(`${base}/hold/gone/1/0`);
    await untilParked(1);
    store.removeStream('gone');
    const gone = await parked;
    assert.equal(gone.status, 404);
    assert.deepEqual(await gone.json(), { error: { code: 'NOVA_ERR_NOT_FOUND', message: 'stream gone gone' } });

    feed(store, 'ended', 0, 1);
    const waiting = fetch(`${base}/hold/ended/1/0`);
    await untilParked(1);
    store.endStream('ended');
    const ended = await waiting;
    assert.equal(ended.status, 200);
    assert.equal(await ended.text(), 'ready');
    assert.equal(await parkedGauge(), 0);
  });

  it('unavailable (an edge lost the stream\'s origin): 503 with Retry-After and NOVA_ERR_ORIGIN_UNAVAILABLE', async () => {
    feed(store, 'lost', 0, 1);
    const parked = fetch(`${base}/hold/lost/1/0`);
    await untilParked(1);
    store.interruptStream('lost');
    const lost = await parked;
    assert.equal(lost.status, 503);
    assert.equal(lost.headers.get('retry-after'), '1');
    assert.equal(((await lost.json()) as { error: { code: string } }).error.code, 'NOVA_ERR_ORIGIN_UNAVAILABLE');
    assert.equal(await parkedGauge(), 0);
  });
});
