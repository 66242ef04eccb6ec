/**
 * Several server processes (as `npm start` runs them: the build in dist/) behind an
 * imaginary load balancer, sharing a real PostgreSQL and a real Redis:
 * a viewer on instance B learns within 1 s of a stream ingested on A, every
 * instance reports the global viewer count, an instance killed with SIGKILL
 * stops counting within the viewer heartbeat TTL, and when the ingesting
 * instance dies the viewers elsewhere are told the stream ended.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { createCluster, type Cluster, type ClusterInstance } from '../support/nova-cluster.js';
import { TestViewer, type WsMessage } from '../ws/support/ws-viewer.js';
import { SHARED_REDIS_URL, redisReachable } from '../ws/support/redis-helpers.js';
import { waitFor } from '../support/tools.js';

/** The server's viewer heartbeat TTL (RedisViewerStore default) and the bus's peer timeout (RedisEventBus default). */
const VIEWER_TTL_MS = 10_000;
const PEER_TIMEOUT_MS = 10_000;
/** Heartbeats run every 2 s and the counter ticks every 500 ms: the slack on top of a TTL. */
const HEARTBEAT_SLACK_MS = 2000 + 2000 + 500 + 1500;

let cluster: Cluster;

async function kill(instance: ClusterInstance): Promise<number> {
  await cluster.signal(instance, 'SIGKILL');
  return Date.now();
}

function lastCount(viewer: TestViewer): number | undefined {
  return viewer.ofType('viewer_count_changed').at(-1)?.viewers as number | undefined;
}

describe('WebSocket hub across server processes sharing PostgreSQL and Redis', () => {
  const viewers: TestViewer[] = [];
  const publishing = new AbortController();
  let published: Promise<unknown> = Promise.resolve();

  const viewer = (url: string): TestViewer => {
    const v = new TestViewer(url);
    viewers.push(v);
    return v;
  };

  before(async () => {
    if (!(await redisReachable(6379))) throw new Error(`Redis is required at ${SHARED_REDIS_URL}`);
    cluster = await createCluster();
  });

  after(async () => {
    publishing.abort();
    await published.catch(() => {});
    for (const v of viewers) v.close();
    await cluster?.dispose();
  });

  it('stream_started crosses within 1 s, counts are global, SIGKILLed instances stop counting and their streams end elsewhere', async () => {
    // A first: it migrates the fresh database before B connects to it.
    const a = await cluster.start('a');
    const b = await cluster.start('b');
    const created = await fetch(`${a.http}/api/v1/streams`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ title: 'cross-instance' }),
    });
    assert.equal(created.status, 201);
    const stream = (await created.json()) as { id: string; stream_key: string };

    const onA = [viewer(a.ws(stream.id)), viewer(a.ws(stream.id))];
    const onB = [viewer(b.ws(stream.id)), viewer(b.ws(stream.id)), viewer(b.ws(stream.id))];
    await Promise.all([...onA, ...onB].map((v) => v.waitFor((m) => m.type === 'snapshot', 5000)));

    // Ingest on A; B's viewers hear of it through Redis.
    published = publishSynthetic({ url: `${a.rtmp}/${stream.stream_key}`, bitrateBps: 500_000, durationMs: 120_000, signal: publishing.signal });
    published.catch(() => {});
    const startedOnA = await onA[0]!.waitFor((m) => m.type === 'stream_started', 15_000);
    await onB[0]!.waitFor((m) => m.type === 'stream_started', 1000);
    const crossedMs = Date.now() - startedOnA.ts;
    assert.ok(crossedMs < 1000, `stream_started reached B ${crossedMs} ms after A broadcast it`);
    // B's viewers also learn the renditions A found, and follow A's metrics.
    await onB[1]!.waitFor((m) => m.type === 'quality_changed' || (m.type === 'stream_started' && (m.renditions as unknown[]).length > 0), 5000);
    await onB[2]!.waitFor((m) => m.type === 'stream_metrics', 5000);

    // Every instance reports the global count: 2 on A + 3 on B.
    await waitFor('both instances to report 5 viewers', 10_000, () => [...onA, ...onB].every((v) => lastCount(v) === 5));

    // B dies without a goodbye: its 3 viewers stop counting within the heartbeat TTL.
    const killedB = await kill(b);
    await waitFor('A to drop B\'s viewers', VIEWER_TTL_MS + HEARTBEAT_SLACK_MS, () => lastCount(onA[0]!) === 2);
    const droppedAfterMs = Date.now() - killedB;
    assert.ok(droppedAfterMs <= VIEWER_TTL_MS + HEARTBEAT_SLACK_MS, `B's viewers gone after ${droppedAfterMs} ms`);

    // C joins late: its viewer's snapshot already says live (the bus resync re-announced A's stream).
    const c = await cluster.start('c');
    const onC = viewer(c.ws(stream.id));
    await onC.waitFor((m) => m.type === 'snapshot', 5000);
    await onC.waitFor((m) => m.type === 'stream_metrics', 5000);
    await waitFor('C to count A\'s viewers with its own', 10_000, () => lastCount(onC) === 3);

    // A, the ingesting instance, dies: C's viewer is told the stream ended instead of waiting forever.
    const killedA = await kill(a);
    publishing.abort();
    const ended = await onC.waitFor((m) => m.type === 'stream_ended', PEER_TIMEOUT_MS + HEARTBEAT_SLACK_MS);
    assert.equal(ended.reason, 'disconnected');
    const endedAfterMs = Date.now() - killedA;
    assert.ok(endedAfterMs <= PEER_TIMEOUT_MS + HEARTBEAT_SLACK_MS, `stream_ended on C after ${endedAfterMs} ms`);
    await waitFor('C to stop counting A\'s viewers', VIEWER_TTL_MS + HEARTBEAT_SLACK_MS, () => lastCount(onC) === 1);

    for (const v of [...onA, ...onB, onC]) assert.deepEqual(v.schemaErrors, [], v.messages.map((m: WsMessage) => m.type).join(','));
  });
});
