import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { metricValue, startHub, type HubFixture } from './support/hub-fixture.js';
import { TestViewer, waitUntil, wsMessageValidator } from './support/ws-viewer.js';

const ladder: RenditionInfo[] = [
  { name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30 },
  { name: '480p', width: 854, height: 480, bandwidth: 1_200_000, codecs: 'avc1.64001e,mp4a.40.2', frameRate: 30 },
];

let fixture: HubFixture;
const viewers: TestViewer[] = [];

function viewer(streamId = 'live1', query?: string): TestViewer {
  const v = new TestViewer(fixture.url(streamId, query));
  viewers.push(v);
  return v;
}

before(async () => {
  fixture = await startHub({ viewerOptions: { tickMs: 100 } });
});

after(async () => {
  for (const v of viewers) v.close();
  await fixture.close();
});

test('a joining viewer gets a schema-valid snapshot with the current state', async () => {
  const v = viewer();
  await v.opened;
  const snapshot = await v.waitFor((m) => m.type === 'snapshot');
  assert.equal(snapshot.stream_id, 'live1');
  assert.equal(snapshot.v, 1);
  assert.deepEqual(snapshot.state, { id: 'live1', status: 'live' });
  assert.equal(snapshot.live, false);
  assert.ok(Math.abs(snapshot.ts - Date.now()) < 5000);
  assert.deepEqual(v.schemaErrors, []);
  v.close();
});

test('lifecycle events reach every viewer of the stream in order, numbered, schema-valid; other streams see nothing', async () => {
  fixture.streams.set('other', { exists: true, private: false, state: {} });
  const a = viewer();
  const b = viewer();
  const other = viewer('other');
  await Promise.all([a.opened, b.opened, other.opened]);
  await Promise.all([a, b, other].map((v) => v.waitFor((m) => m.type === 'snapshot')));
  const base = { streamId: 'live1', instanceId: fixture.viewers.instanceId };
  const events: StreamEvent[] = [
    { ...base, type: 'stream_started', at: Date.now(), renditions: ladder },
    { ...base, type: 'quality_changed', at: Date.now(), renditions: ladder.slice(0, 1) },
    { ...base, type: 'stream_metrics', at: Date.now(), ingressBitrate: 4_500_000, fps: 29.97, renditions: ['720p'] },
    { ...base, type: 'viewer_count_changed', at: Date.now(), viewers: 7, peak: 9 },
    { ...base, type: 'stream_ended', at: Date.now(), reason: 'unpublished' },
  ];
  for (const event of events) fixture.bus.publish(event);
  for (const v of [a, b]) {
    await v.waitFor((m) => m.type === 'stream_ended');
    const broadcasts = v.messages.filter((m) => m.type !== 'snapshot' && m.type !== 'viewer_count_changed' || m.viewers === 7);
    assert.deepEqual(
      broadcasts.map((m) => m.type),
      ['stream_started', 'quality_changed', 'stream_metrics', 'viewer_count_changed', 'stream_ended'],
    );
    const started = broadcasts[0]!;
    assert.deepEqual(started.renditions, [
      { name: '720p', width: 1280, height: 720, bandwidth: 3_000_000, codecs: 'avc1.64001f,mp4a.40.2', frame_rate: 30 },
      { name: '480p', width: 854, height: 480, bandwidth: 1_200_000, codecs: 'avc1.64001e,mp4a.40.2', frame_rate: 30 },
    ]);
    assert.equal(broadcasts[2]!.ingress_bitrate, 4_500_000);
    assert.equal(broadcasts[2]!.fps, 29.97);
    assert.equal(broadcasts[3]!.peak, 9);
    assert.equal(broadcasts[4]!.reason, 'unpublished');
    // seq: consecutive over everything broadcast after the snapshot.
    const snapshotSeq = v.messages[0]!.seq;
    const after = v.messages.slice(1).map((m) => m.seq);
    assert.deepEqual(after, after.map((_, i) => snapshotSeq + 1 + i));
    assert.deepEqual(v.schemaErrors, []);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.deepEqual(other.messages.filter((m) => m.type !== 'snapshot' && m.type !== 'viewer_count_changed'), []);
  for (const v of [a, b, other]) v.close();
});

test('a repeated stream_started (a resync re-announcement) is not broadcast twice', async () => {
  const v = viewer();
  await v.waitFor((m) => m.type === 'snapshot');
  const started: StreamEvent = { type: 'stream_started', streamId: 'live1', instanceId: 'elsewhere', at: 1, renditions: ladder };
  fixture.bus.publish(started);
  fixture.bus.publish({ ...started });
  fixture.bus.publish({ type: 'stream_ended', streamId: 'live1', instanceId: 'elsewhere', at: 2, reason: 'disconnected' });
  await v.waitFor((m) => m.type === 'stream_ended');
  assert.equal(v.ofType('stream_started').length, 1);
  v.close();
});

test('viewer_count_changed from another instance is not repeated (each instance sends its own global count)', async () => {
  const v = viewer();
  await v.waitFor((m) => m.type === 'snapshot');
  fixture.bus.publish({ type: 'viewer_count_changed', streamId: 'live1', instanceId: 'another-instance', at: 1, viewers: 999, peak: 999 });
  fixture.bus.publish({ type: 'stream_ended', streamId: 'live1', instanceId: 'x', at: 2, reason: 'deleted' });
  await v.waitFor((m) => m.type === 'stream_ended');
  assert.equal(v.messages.some((m) => m.viewers === 999), false);
  v.close();
});

test('ping is answered with a pong; the snapshot counts the viewer itself', async () => {
  const v = viewer();
  const snapshot = await v.waitFor((m) => m.type === 'snapshot');
  assert.ok((snapshot.viewers as number) >= 1);
  v.ws.send(JSON.stringify({ type: 'ping' }));
  const pong = await v.waitFor((m) => m.type === 'pong');
  assert.equal(pong.stream_id, 'live1');
  assert.deepEqual(wsMessageValidator.validate(pong), []);
  v.close();
});

test('the schema rejects what the server must never send (the validator can fail)', () => {
  assert.notDeepEqual(wsMessageValidator.validate({ type: 'viewer_count_changed', v: 1, ts: 1, stream_id: 'a', seq: 1, viewers: -1, peak: 0 }), []);
  assert.notDeepEqual(wsMessageValidator.validate({ type: 'mystery', v: 1, ts: 1, stream_id: 'a', seq: 1 }), []);
  assert.notDeepEqual(wsMessageValidator.validate({ type: 'pong', v: 2, ts: 1, stream_id: 'a', seq: 1 }), []);
  assert.notDeepEqual(wsMessageValidator.validate({ type: 'stream_ended', v: 1, ts: 1, stream_id: 'a', seq: 1, reason: 'bored' }), []);
});

test('the connections gauge follows sockets', async () => {
  await waitUntil(() => fixture.hub.connectionCount() === 0, 2000, 'earlier sockets to close');
  const v = viewer();
  await v.waitFor((m) => m.type === 'snapshot');
  assert.equal(await metricValue(fixture.registry, 'nova_streaming_websocket_connections'), 1);
  v.close();
  await waitUntil(async () => (await metricValue(fixture.registry, 'nova_streaming_websocket_connections')) === 0, 2000, 'gauge to drop');
});
