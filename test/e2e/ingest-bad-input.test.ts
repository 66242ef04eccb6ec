/**
 * Bad RTMP input against the whole server, one case per test, while a good
 * publisher keeps ingesting into the same server. Each bad connection must be
 * closed on its own with a logged reason (a warn line carrying a
 * NOVA_ERR_* code, naming that connection) and counted in
 * nova_streaming_rtmp_connection_errors_total; the good stream keeps
 * receiving frames and producing HLS segments, never leaves ACTIVE; and
 * memory stays bounded after hundreds of bad connections.
 *
 * (Session-level versions of these cases, and the fast-check fuzz of the
 * demuxer, are in test/ingest/rtmp/; this file is about the server around it:
 * the main thread, the pool, the shared rings, logs and metrics.)
 */
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { publishSynthetic, type SyntheticPublishResult } from '../../loadtest/publisher/synthetic-publisher.js';
import { encodeAmf0 } from '../../src/ingest/rtmp/amf0.js';
import { ChunkWriter } from '../../src/ingest/rtmp/chunk-writer.js';
import { HANDSHAKE_PACKET_SIZE } from '../../src/ingest/rtmp/handshake.js';
import { MessageType, u32Payload } from '../../src/ingest/rtmp/message-types.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { ClientBytes } from '../ingest/rtmp/session-harness.js';
import { LifecycleWatch, metricValue } from '../support/ingest-observer.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

const MAX_MESSAGE_BYTES = 1 << 20;
const IDLE_TIMEOUT_MS = 1500;
const HANDSHAKE_TIMEOUT_MS = 1500;

/** A deterministic byte generator so a failing case is reproducible. */
function seededBytes(length: number, seed: number): Uint8Array {
  const out = new Uint8Array(length);
  let state = seed >>> 0;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = state >>> 24;
  }
  return out;
}

/** A type-0 chunk header on chunk stream 4 declaring a video message of `length` bytes; no payload. */
function videoMessageHeader(length: number): Uint8Array {
  return Uint8Array.from([0x04, 0, 0, 0, (length >> 16) & 0xff, (length >> 8) & 0xff, length & 0xff, MessageType.video, 1, 0, 0, 0]);
}

interface RawPeer {
  /** "127.0.0.1:port" as the server logs the remote end */
  remote: string;
  /** resolves when the server closed the connection, with the ms it took after the last write */
  closedByServer: Promise<number>;
}

/** A raw TCP peer that writes `bytes` and then stays silent (or closes its side when `thenClose`). */
async function rawPeer(nova: NovaFixture, bytes: Uint8Array, thenClose = false): Promise<RawPeer> {
  const socket = net.connect({ host: '127.0.0.1', port: nova.server.rtmpPort });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.on('error', () => undefined); // a reset after the server gives up is expected
  socket.resume(); // discard S0S1S2 and replies
  const remote = `127.0.0.1:${socket.localPort}`;
  const writtenAt = Date.now();
  const closedByServer = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now() - writtenAt)));
  socket.write(bytes);
  if (thenClose) socket.end();
  return { remote, closedByServer };
}

describe('whole-server ingest: bad input while a good stream keeps ingesting', () => {
  let db: TestDatabase;
  let nova: NovaFixture;
  let watch: LifecycleWatch;
  let good: { id: string; abort: AbortController; result: Promise<SyntheticPublishResult> };
  let goodSegmentsAtStart = 0;

  /** media sequence + segments listed: the msn the good stream's next segment gets */
  async function goodNextMsn(): Promise<number> {
    const master = await (await fetch(`${nova.http}/hls/${good.id}/master.m3u8`)).text();
    const variant = master.split('\n').find((line) => line !== '' && !line.startsWith('#'));
    assert.ok(variant, `a variant in ${master}`);
    const playlist = await (await fetch(new URL(variant, `${nova.http}/hls/${good.id}/master.m3u8`))).text();
    const sequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(playlist)?.[1] ?? NaN);
    return sequence + (playlist.match(/#EXTINF:/g)?.length ?? 0);
  }

  before(async () => {
    db = await openMemoryDatabase();
    nova = await startNova({
      database: db.database,
      env: {
        RTMP_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES),
        RTMP_IDLE_TIMEOUT_MS: String(IDLE_TIMEOUT_MS),
        RTMP_HANDSHAKE_TIMEOUT_MS: String(HANDSHAKE_TIMEOUT_MS),
        TRANSCODE: 'off',
      },
    });
    watch = new LifecycleWatch(nova);
    const stream = await nova.createStream({ title: 'the good one' });
    const abort = new AbortController();
    good = { id: stream.id, abort, result: publishSynthetic({ url: stream.publish_url, bitrateBps: 2_000_000, durationMs: 600_000, signal: abort.signal }) };
    await watch.started(stream.id);
    goodSegmentsAtStart = await waitFor('the good stream in HLS', 15_000, async () => {
      const response = await fetch(`${nova.http}/hls/${stream.id}/master.m3u8`);
      return response.ok ? await goodNextMsn() : undefined;
    }, 200);
  });

  after(async () => {
    good?.abort.abort();
    await good?.result.catch(() => undefined);
    watch?.close();
    await nova?.stop();
    await db?.dispose();
  });

  const goodFrames = (): Promise<number> => metricValue(nova, 'nova_streaming_rtmp_ingested_frames_total', { track: 'video' });

  /**
   * Runs one bad peer and checks what every case must show: that connection
   * alone closed, a warn line with `code` naming it, the error counter up by
   * one, the good stream still live and still receiving frames.
   */
  async function expectClosedWith(code: string, bytes: Uint8Array, thenClose = false): Promise<Record<string, unknown>> {
    const errorsBefore = await metricValue(nova, 'nova_streaming_rtmp_connection_errors_total', { code });
    const framesBefore = await goodFrames();
    const peer = await rawPeer(nova, bytes, thenClose);
    await peer.closedByServer;
    const line = await waitFor(`a warn line with ${code} for ${peer.remote}`, 5000, () =>
      nova.logs().find((l) => l.remote === peer.remote && l.code !== undefined),
    );
    assert.equal(line.level, 'warn');
    assert.equal(line.code, code, `logged: ${JSON.stringify(line)}`);
    assert.equal(typeof line.reason, 'string');
    assert.equal(await metricValue(nova, 'nova_streaming_rtmp_connection_errors_total', { code }), errorsBefore + 1);
    // The good stream is untouched: still live, still ACTIVE, frames still arriving.
    assert.ok(nova.server.ingest.liveStreamIds.includes(good.id), 'good stream still live');
    await waitFor('good stream frames keep coming', 10_000, async () => (await goodFrames()) >= framesBefore + 15, 200);
    return line;
  }

  it('random bytes instead of a handshake', async () => {
    const bytes = seededBytes(4096, 7);
    bytes[0] = 0x47; // not version 3 (a TS sync byte, say)
    await expectClosedWith('NOVA_ERR_RTMP_HANDSHAKE', bytes);
  });

  it('a truncated handshake, then silence: closed at the handshake timeout', async () => {
    const line = await expectClosedWith('NOVA_ERR_RTMP_TIMEOUT', new ClientBytes().handshake().bytes().subarray(0, 1 + 700));
    assert.match(String(line.reason), /handshake/);
  });

  it('a truncated handshake, then the peer closes', async () => {
    const line = await expectClosedWith('NOVA_ERR_RTMP_HANDSHAKE', new ClientBytes().handshake().bytes().subarray(0, 1 + 700), true);
    assert.match(String(line.reason), /701 of 3073/);
  });

  it('Set Chunk Size 0', async () => {
    await expectClosedWith('NOVA_ERR_RTMP_CHUNK', new ClientBytes().handshake().message(2, MessageType.setChunkSize, 0, 0, u32Payload(0)).bytes());
  });

  it('Set Chunk Size 2^31', async () => {
    await expectClosedWith('NOVA_ERR_RTMP_CHUNK', new ClientBytes().handshake().message(2, MessageType.setChunkSize, 0, 0, u32Payload(2 ** 31)).bytes());
  });

  it('a message longer than RTMP_MAX_MESSAGE_BYTES', async () => {
    const line = await expectClosedWith('NOVA_ERR_RTMP_LIMIT', new ClientBytes().handshake().raw(videoMessageHeader(MAX_MESSAGE_BYTES + 1)).bytes());
    assert.match(String(line.reason), new RegExp(`exceeds ${MAX_MESSAGE_BYTES}`));
  });

  it('malformed AMF in a command', async () => {
    // connect, transaction 1, then an object whose first property value has an undefined type marker
    const commandStart = encodeAmf0(['connect', 1]);
    const payload = Uint8Array.from([...commandStart, 0x03, 0x00, 0x03, 0x61, 0x70, 0x70, 0x99]);
    await expectClosedWith('NOVA_ERR_RTMP_AMF', new ClientBytes().handshake().message(3, MessageType.commandAmf0, 0, 0, payload).bytes());
  });

  it('a chunk header that refers to a chunk stream never opened', async () => {
    // format 3 (continuation) on chunk stream 5 as the very first chunk
    await expectClosedWith('NOVA_ERR_RTMP_CHUNK', new ClientBytes().handshake().raw(Uint8Array.from([0xc5, 1, 2, 3])).bytes());
  });

  it('a publisher that stalls mid-message: closed at the idle timeout, its stream ENDED (idle_timeout)', async () => {
    const stream = await nova.createStream({ title: 'stalls' });
    const key = stream.publish_url.split('/').at(-1)!;
    // A publish, then half of a 20 kB video message, then nothing.
    const bytes = new ClientBytes().handshake().publishCommands(key).raw(videoMessageHeader(20_000)).raw(new Uint8Array(100)).bytes();
    const line = await expectClosedWith('NOVA_ERR_RTMP_TIMEOUT', bytes);
    assert.match(String(line.reason), new RegExp(`no data for ${IDLE_TIMEOUT_MS} ms`));
    const ended = await watch.ended(stream.id);
    assert.equal(ended.reason, 'idle_timeout');
  });

  it('memory stays bounded over 200 bad connections that each make the server buffer up to 1 MiB', async () => {
    // Each peer declares a message just under the limit, sends all but its last bytes and leaves
    // (or declares one over the limit): the ingress ring and the reassembly buffer get touched.
    const writer = new ChunkWriter();
    writer.setChunkSize(65536);
    const setChunkSize = new ClientBytes().handshake().message(2, MessageType.setChunkSize, 0, 0, u32Payload(65536)).bytes();
    const almostWhole = writer.writeMessage(4, MessageType.video, 1, 0, seededBytes(MAX_MESSAGE_BYTES - 64, 3));
    const partialMessage = Uint8Array.from([...setChunkSize, ...almostWhole.subarray(0, almostWhole.length - 1000)]);
    const oversize = new ClientBytes().handshake().raw(videoMessageHeader(MAX_MESSAGE_BYTES + 1)).bytes();

    const connectionsGauge = (): Promise<number> => metricValue(nova, 'nova_streaming_rtmp_connections');
    const baselineConnections = await connectionsGauge();
    const runBatch = async (count: number): Promise<void> => {
      const concurrency = 8;
      for (let i = 0; i < count; i += concurrency) {
        const peers = await Promise.all(
          Array.from({ length: Math.min(concurrency, count - i) }, (_, j) =>
            (i + j) % 2 === 0 ? rawPeer(nova, partialMessage, true) : rawPeer(nova, oversize),
          ),
        );
        await Promise.all(peers.map((p) => p.closedByServer));
      }
      await waitFor('bad connections gone', 10_000, async () => (await connectionsGauge()) === baselineConnections, 100);
    };

    await runBatch(40); // warm-up: pool threads, allocator arenas
    const rssBefore = process.memoryUsage().rss;
    await runBatch(200);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const growthMiB = (process.memoryUsage().rss - rssBefore) / 2 ** 20;
    // Before ingress rings were reused this grew ~1.5 MiB per connection (glibc heap growth under churn);
    // a per-connection leak would be ≥ 1 MiB × 200. The bound leaves room for garbage not yet collected.
    assert.ok(growthMiB < 96, `RSS grew ${growthMiB.toFixed(0)} MiB over 200 bad connections`);
    assert.ok(nova.server.ingest.liveStreamIds.includes(good.id));
  });

  it('through all of it the good stream kept producing HLS segments and never left ACTIVE', async () => {
    const start = goodSegmentsAtStart;
    await waitFor('a new segment of the good stream', 10_000, async () => (await goodNextMsn()) > start, 250);
    assert.deepEqual(watch.of(good.id).map((e) => e.event.type), ['stream_started']);
    assert.equal((await nova.stream(good.id)).status, 'ACTIVE');
  });
});
