import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_HUB_CONFIG, metricValue, startHub, type HubFixture } from './support/hub-fixture.js';
import { TestViewer, stuckViewer, waitUntil } from './support/ws-viewer.js';

let fixture: HubFixture;
let bystander: TestViewer;

async function rejected(reason: string): Promise<number> {
  return metricValue(fixture.registry, 'nova_streaming_ws_rejected_total', { reason });
}

before(async () => {
  fixture = await startHub({ config: { maxConnectionsPerIp: 20, maxMessagesPerSecond: 10, maxBackpressureBytes: 16 * 1024 } });
  // A well-behaved viewer on another address: every test checks it is unaffected.
  bystander = new TestViewer(fixture.url('live1'), { localAddress: '127.0.0.2' });
  await bystander.waitFor((m) => m.type === 'snapshot');
});

after(async () => {
  bystander.close();
  await fixture.close();
});

async function assertBystanderFine(): Promise<void> {
  const before = bystander.messages.length;
  bystander.ws.send(JSON.stringify({ type: 'ping' }));
  await bystander.waitFor((m, i = bystander.messages.indexOf(m)) => m.type === 'pong' && i >= before);
  assert.equal(bystander.ws.readyState, bystander.ws.OPEN);
}

test('oversized message: closed with 1009 and a reason; a giant frame is cut off unread by uWS (1006); both counted as oversize', async () => {
  const v = new TestViewer(fixture.url('live1'));
  await v.opened;
  const count = await rejected('oversize');
  v.ws.send(JSON.stringify({ type: 'ping', pad: 'x'.repeat(10_000) }));
  const { code, reason } = await v.closed;
  assert.equal(code, 1009);
  assert.match(reason, /too big/);
  assert.equal(await rejected('oversize'), count + 1);

  // Past the hard ceiling (16 × maxPayloadBytes) uWS never buffers the frame: it drops the connection.
  const giant = new TestViewer(fixture.url('live1'));
  await giant.opened;
  giant.ws.send('x'.repeat(DEFAULT_HUB_CONFIG.maxPayloadBytes * 16 + 1));
  assert.equal((await giant.closed).code, 1006);
  await waitUntil(async () => (await rejected('oversize')) === count + 2, 2000, 'oversize counter');
  await assertBystanderFine();
});

test('binary garbage: 1003; invalid JSON: 1007; unsupported type: 1008', async () => {
  const cases: Array<[string, (v: TestViewer) => void, number, string]> = [
    ['binary', (v) => v.ws.send(Buffer.from([0xde, 0xad, 0xbe, 0xef]), { binary: true }), 1003, 'binary'],
    ['invalid_json', (v) => v.ws.send('{"type": "ping"'), 1007, 'not valid JSON'],
    ['unsupported_message', (v) => v.ws.send('{"type":"subscribe","stream":"*"}'), 1008, 'unsupported'],
  ];
  for (const [reason, misbehave, expectedCode, reasonText] of cases) {
    const v = new TestViewer(fixture.url('live1'));
    await v.opened;
    const count = await rejected(reason);
    misbehave(v);
    const { code, reason: closeReason } = await v.closed;
    assert.equal(code, expectedCode, reason);
    assert.match(closeReason, new RegExp(reasonText));
    assert.equal(await rejected(reason), count + 1);
  }
  await assertBystanderFine();
});

test('message flood beyond the per-second limit: 1008', async () => {
  const v = new TestViewer(fixture.url('live1'));
  await v.opened;
  for (let i = 0; i < 50; i++) v.ws.send('{"type":"ping"}');
  const { code, reason } = await v.closed;
  assert.equal(code, 1008);
  assert.match(reason, /rate/);
  assert.equal(await rejected('flood'), 1);
  assert.ok(v.ofType('pong').length <= 10, 'no more than the limit was answered');
  await assertBystanderFine();
});

test('tokens: private stream without/with bad/expired/revoked/foreign token is closed 4401/4403; its own is admitted; a public one asks none', async () => {
  const cases: Array<[string, string | undefined, string[] | undefined, number, RegExp]> = [
    ['none', undefined, undefined, 4401, /required/],
    ['garbage', 'token=not.a.jwt', undefined, 4401, /invalid/],
    ['expired', 'token=expired', undefined, 4401, /expired/],
    ['revoked', undefined, ['nova.v1', 'bearer.revoked'], 4401, /revoked/],
    ['foreign', `token=${encodeURIComponent('viewer.live1')}`, undefined, 4403, /another stream/],
  ];
  for (const [name, query, protocols, expectedCode, reasonPattern] of cases) {
    const v = new TestViewer(fixture.url('secret1', query), { protocols });
    const { code, reason } = await v.closed;
    assert.equal(code, expectedCode, name);
    assert.match(reason, reasonPattern, name);
    assert.equal(v.ofType('snapshot').length, 0, `${name}: no state leaked`);
  }
  assert.equal(await rejected('unauthorized'), 4);
  assert.equal(await rejected('forbidden'), 1);

  // the protocol-header way (browsers) and the query way both admit the stream's own token
  const good = new TestViewer(fixture.url('secret1'), { protocols: ['nova.v1', 'bearer.viewer.secret1'] });
  await good.waitFor((m) => m.type === 'snapshot');
  assert.equal(good.ws.protocol, 'nova.v1');
  const viaQuery = new TestViewer(fixture.url('secret1', `token=${encodeURIComponent('viewer.secret1')}`));
  await viaQuery.waitFor((m) => m.type === 'snapshot');
  // a public stream's viewers need no token, and one for another stream changes nothing
  const publicWithForeign = new TestViewer(fixture.url('live1', `token=${encodeURIComponent('viewer.secret1')}`));
  await publicWithForeign.waitFor((m) => m.type === 'snapshot');
  good.close();
  viaQuery.close();
  publicWithForeign.close();
  assert.equal(await rejected('unauthorized'), 4);
  await assertBystanderFine();
});

test('a bad id is refused before the upgrade (400), an unknown stream after it (4404)', async () => {
  const bad = new TestViewer(`ws://127.0.0.1:${fixture.port}/api/v1/streams/${encodeURIComponent('../etc')}/ws`);
  await bad.closed;
  assert.equal(bad.rejectedStatus, 400);
  const missing = new TestViewer(fixture.url('nope'));
  assert.deepEqual(await missing.closed, { code: 4404, reason: 'no such stream' });
  assert.deepEqual(missing.messages, []);
  assert.equal(await rejected('bad_stream_id'), 1);
  assert.equal(await rejected('not_found'), 1);
});

test('connection storm beyond the per-IP cap: the excess gets 429, admitted ones work, the cap frees up on close', async () => {
  await waitUntil(() => fixture.hub.connectionCount() === 1, 3000, 'only the bystander left');
  const storm = Array.from({ length: 40 }, () => new TestViewer(fixture.url('live1'), { localAddress: '127.0.0.3' }));
  await Promise.all(storm.map((v) => v.opened.catch(() => {})));
  const admitted = storm.filter((v) => v.rejectedStatus === null);
  const refused = storm.filter((v) => v.rejectedStatus === 429);
  assert.equal(admitted.length, 20);
  assert.equal(refused.length, 20);
  assert.equal(await rejected('ip_limit'), 20);
  await Promise.all(admitted.map((v) => v.waitFor((m) => m.type === 'snapshot')));
  await assertBystanderFine();
  admitted[0]!.close();
  await waitUntil(() => fixture.hub.connectionCount() === 20, 3000, 'one closed');
  const late = new TestViewer(fixture.url('live1'), { localAddress: '127.0.0.3' });
  await late.waitFor((m) => m.type === 'snapshot');
  for (const v of [...storm, late]) v.close();
});

test('slow consumer: a socket that never reads is closed at the backpressure limit and counted; others keep receiving', async () => {
  // the storm's sockets, dropped by their clients, are gone (a drop during a broadcast counts as a slow consumer)
  await waitUntil(() => fixture.hub.connectionCount() === 1, 3000, 'only the bystander left');
  const stuck = await stuckViewer(fixture.port, '/api/v1/streams/live1/ws');
  let stuckClosed = false;
  stuck.on('close', () => (stuckClosed = true));
  const fast = new TestViewer(fixture.url('live1'));
  await fast.waitFor((m) => m.type === 'snapshot');

  const big = Array.from({ length: 40 }, (_, i) => ({
    name: `r${i}-${'z'.repeat(100)}`, width: 1920, height: 1080, bandwidth: 6_000_000, codecs: 'avc1.640028', frameRate: 30,
  }));
  let sent = 0;
  const deadline = Date.now() + 15_000;
  // a drop counted before (the storm's sockets closing during a broadcast) is not this one
  const dropsBefore = await metricValue(fixture.registry, 'nova_streaming_ws_slow_consumer_drops_total');
  while ((await metricValue(fixture.registry, 'nova_streaming_ws_slow_consumer_drops_total')) === dropsBefore) {
    assert.ok(Date.now() < deadline, 'slow consumer was never dropped');
    // a few messages a round: a client that reads keeps under the limit even on a busy machine; one that does not fills up
    for (let i = 0; i < 4; i++, sent++) {
      fixture.bus.publish({ type: 'quality_changed', streamId: 'live1', instanceId: 'x', at: Date.now(), renditions: big });
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  // The client was paused, so it learns of the close only once it reads again.
  stuck.resume();
  await waitUntil(() => stuckClosed, 5000, 'stuck socket closed').catch((err: Error) => {
    throw new Error(`${err.message}: hub has ${fixture.hub.connectionCount()} sockets, fast ${fast.ws.readyState}, bystander ${bystander.ws.readyState}, sent ${sent}, stuck read ${stuck.bytesRead}`);
  });
  assert.equal(fixture.hub.connectionCount(), 2, 'bystander and fast viewer remain');
  // The fast viewer got every message, in order.
  await waitUntil(() => fast.ofType('quality_changed').length === sent, 10_000, 'fast viewer to receive everything');
  // seq counts every broadcast (viewer counts too): no gap anywhere after the snapshot.
  const seqs = fast.messages.slice(1).map((m) => m.seq);
  assert.deepEqual(seqs, seqs.map((_, i) => fast.messages[0]!.seq + 1 + i));
  assert.equal(fast.ws.readyState, fast.ws.OPEN);
  fast.close();
  stuck.destroy();
});
