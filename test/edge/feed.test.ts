import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { SegmentStore, type StreamStore } from '../../src/deliver/store/segment-store.js';
import { buildMasterPlaylist, buildMediaPlaylist, type PlaylistBuildOptions } from '../../src/deliver/hls/playlist-builder.js';
import { buildMpd } from '../../src/deliver/dash/mpd-builder.js';
import { FeedFrameReader, encodeFrameHead, type FeedFrame, type FeedMessage } from '../../src/deliver/edge/feed-frames.js';
import { applyFeedFrame } from '../../src/deliver/edge/feed-apply.js';
import { OriginFeeds, type FeedOutput } from '../../src/deliver/edge/origin-feeds.js';
import { EdgeMetrics } from '../../src/deliver/edge/edge-metrics.js';
import { NovaError } from '../../src/errors.js';
import { SOURCE, T0, initOf, segmentMedia } from '../deliver/synthetic-media.js';

const log = createLogger('silent');
/** two segments kept past the window, origins and edges alike: the moving-on test reads msn 0 after eight segments */
const KEEP_AFTER_WINDOW = 2;
const OPTIONS: PlaylistBuildOptions = { windowSegments: 6, partSegments: 3, partTargetMs: 200, targetDurationMs: 2000, uriSuffix: '', cdnBaseUrl: null };

/** An edge as the wire sees it: every frame written to it is split into random-sized chunks and reassembled. */
class WireEdge implements FeedOutput {
  readonly store = new SegmentStore({ now: () => T0, keepAfterWindow: KEEP_AFTER_WINDOW });
  readonly reader = new FeedFrameReader();
  readonly kinds: string[] = [];
  closed = false;
  constructor(
    readonly streamId: string,
    private readonly chunk = 7,
  ) {}
  write(head: Uint8Array, body: Uint8Array | null): boolean {
    const bytes = Buffer.concat(body === null ? [head] : [head, body]);
    for (let at = 0; at < bytes.byteLength; at += this.chunk) {
      // a copy per chunk, as a socket would deliver (the origin's buffers may be reused after write)
      this.reader.push(Uint8Array.prototype.slice.call(bytes, at, at + this.chunk), (frame) => this.kinds.push(applyFeedFrame(this.store, this.streamId, frame)));
    }
    return true;
  }
  close(): void {
    this.closed = true;
  }
}

function render(stream: StreamStore): string[] {
  const out = [buildMasterPlaylist(stream, OPTIONS) ?? ''];
  for (const rendition of stream.renditions.values()) {
    for (const track of rendition.tracks.keys()) out.push(buildMediaPlaylist(stream, 'S', rendition, track, OPTIONS) ?? '');
  }
  out.push(buildMpd(stream, { windowSegments: 6, targetDurationMs: 2000, uriSuffix: '', baseUrl: null, utcTimings: [], publishTime: T0 + 60_000 }) ?? '');
  return out;
}

function etags(stream: StreamStore): string[] {
  const out: string[] = [];
  for (const rendition of stream.renditions.values()) {
    for (const track of rendition.tracks.values()) {
      for (const init of track.inits) out.push(`${init.generation}/${track.track}/init-${init.version}/${init.bytes.byteLength}`);
      for (const segment of track.segments) {
        out.push(`${segment.generation}/${track.track}/${segment.msn}/${segment.byteLength}`);
        for (const part of segment.parts) out.push(`${part.generation}/${track.track}/${segment.msn}.${part.index}/${part.bytes?.byteLength ?? '-'}`);
      }
      for (const part of track.pendingParts) out.push(`${part.generation}/${track.track}/${track.pendingMsn}.${part.index}/${part.bytes?.byteLength}`);
    }
  }
  return out;
}

function originWith(segments: number, partsOfNext: number): { origin: SegmentStore; feeds: OriginFeeds } {
  const origin = new SegmentStore({ now: () => T0, keepAfterWindow: KEEP_AFTER_WINDOW });
  const feeds = new OriginFeeds(origin, new EdgeMetrics(new Registry()), log);
  feeds.beginStream('S', [SOURCE]);
  for (const track of ['video', 'audio'] as const) feeds.add('S', initOf(track));
  for (let msn = 0; msn < segments; msn++) for (const m of segmentMedia(msn, { segmentBytes: false, discontinuityAt: 4 })) feeds.add('S', m);
  for (const m of segmentMedia(segments, { segmentBytes: false })) if (m.kind === 'part' && m.part.index < partsOfNext) feeds.add('S', m);
  return { origin, feeds };
}

test('a snapshot rebuilds the origin: same playlists, MPD and per-object ETags, whatever the chunking', () => {
  const { origin, feeds } = originWith(12, 3);
  for (const chunk of [1, 7, 4096]) {
    const edge = new WireEdge('S', chunk);
    const unsubscribe = feeds.subscribe('S', edge);
    assert.ok(unsubscribe);
    assert.deepEqual(render(edge.store.getStream('S')!), render(origin.getStream('S')!));
    assert.deepEqual(etags(edge.store.getStream('S')!), etags(origin.getStream('S')!));
    assert.equal(edge.store.getStream('S')!.generation, origin.getStream('S')!.generation);
    unsubscribe();
  }
  feeds.close();
});

test('live changes reach the edge in order; a resync on an existing replica adds nothing twice', () => {
  const { origin, feeds } = originWith(8, 2);
  const edge = new WireEdge('S');
  feeds.subscribe('S', edge);
  for (const m of segmentMedia(8, { segmentBytes: false })) if (m.kind !== 'part' || m.part.index >= 2) feeds.add('S', m);
  for (const m of segmentMedia(9, { segmentBytes: false })) if (m.kind === 'part' && m.part.index < 4) feeds.add('S', m);
  assert.deepEqual(render(edge.store.getStream('S')!), render(origin.getStream('S')!));
  const bytesBefore = edge.store.memoryBytes;
  // the same edge subscribes again (its feed broke): the snapshot lands on the replica it has
  const again = new WireEdge('S');
  Object.defineProperty(again, 'store', { value: edge.store });
  feeds.subscribe('S', again);
  assert.equal(edge.store.memoryBytes, bytesBefore);
  assert.deepEqual(etags(edge.store.getStream('S')!), etags(origin.getStream('S')!));
  feeds.endStream('S', 'ended');
  assert.equal(edge.store.getStream('S')!.ended, true);
  assert.match(render(edge.store.getStream('S')!)[1]!, /#EXT-X-ENDLIST/);
  feeds.close();
});

test('a publisher moving on: the replica continues with a new generation, a discontinuity and rising msns', () => {
  const { feeds } = originWith(6, 2);
  const edge = new WireEdge('S');
  feeds.subscribe('S', edge);
  const continuity = feeds.continuity('S');
  assert.deepEqual(continuity && { nextMsn: continuity.nextMsn, discontinuitySequence: continuity.discontinuitySequence }, { nextMsn: 7, discontinuitySequence: 1 });
  // another instance's origin continues the stream (from the shared continuity) and the edge follows it
  const next = new SegmentStore({ now: () => T0 + 20_000, keepAfterWindow: KEEP_AFTER_WINDOW });
  const nextFeeds = new OriginFeeds(next, new EdgeMetrics(new Registry()), log);
  next.beginStream('S', [SOURCE], {
    discontinuitySequence: continuity!.discontinuitySequence,
    timelineOriginMs: continuity!.timelineOriginMs,
    firstInitVersion: continuity!.nextInitVersion,
  });
  for (const track of ['video', 'audio'] as const) nextFeeds.add('S', initOf(track));
  for (const m of segmentMedia(7, { segmentBytes: false, discontinuityAt: 7 })) nextFeeds.add('S', m);
  // the edge seals what the old origin left in progress (EdgeReplicas does so when it follows the stream)
  edge.store.sealPendingParts('S');
  nextFeeds.subscribe('S', edge);
  const stream = edge.store.getStream('S')!;
  const video = stream.renditions.get('source')!.tracks.get('video')!;
  assert.deepEqual(video.segments.map((s) => s.msn), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(video.segments[6]!.parts.map((p) => p.index), [0, 1], 'msn 6 is the two parts the old origin had made');
  assert.ok(Math.abs(video.segments[6]!.programDateTime - (video.segments[5]!.programDateTime + 2000)) < 1);
  // MPEG-TS cannot be sealed from parts: its playlist lists the missing msn as a gap, so positions stay msns
  const ts = buildMediaPlaylist(stream, 'S', stream.renditions.get('source')!, 'ts', OPTIONS)!;
  assert.match(ts, /#EXT-X-VERSION:8\n/);
  assert.match(ts, /ts\/seg-5\.ts\n\n#EXTINF:2\.000,\n#EXT-X-GAP\nts\/seg-6\.ts\n\n#EXT-X-DISCONTINUITY\n/);
  assert.notEqual(video.segments[7]!.generation, video.segments[6]!.generation);
  assert.equal(video.segments[7]!.generation, next.getStream('S')!.generation);
  const playlist = buildMediaPlaylist(stream, 'S', stream.renditions.get('source')!, 'video', OPTIONS)!;
  const lines = playlist.split('\n');
  const lastDiscontinuity = lines.lastIndexOf('#EXT-X-DISCONTINUITY');
  assert.ok(lines.indexOf('video/seg-5.m4s') < lastDiscontinuity && lastDiscontinuity < lines.indexOf('video/seg-7.m4s'), playlist);
  // the new origin's own playlist numbers the discontinuity as the edge does, and its init (the same
  // bytes as the old origin's here) is a version of its own, which the edge keeps: init-v1 is one object everywhere
  const own = buildMediaPlaylist(next.getStream('S')!, 'S', next.getStream('S')!.renditions.get('source')!, 'video', OPTIONS)!;
  assert.match(own, /#EXT-X-DISCONTINUITY-SEQUENCE:1\n/);
  assert.match(own, /#EXT-X-MAP:URI="video\/init-v1\.mp4"/);
  assert.deepEqual(video.inits.map((i) => [i.version, i.generation]), [
    [0, video.segments[0]!.generation],
    [1, video.segments[7]!.generation],
  ]);
  assert.equal(video.segments[7]!.initVersion, 1);
  assert.match(playlist, /#EXT-X-MAP:URI="video\/init-v1\.mp4"/);
  feeds.close();
  nextFeeds.close();
});

test('an edge that falls behind is dropped and told to resync', () => {
  const { feeds } = originWith(3, 0);
  let writes = 0;
  const slow: FeedOutput & { closed: boolean } = {
    closed: false,
    write: () => ++writes < 5,
    close() {
      this.closed = true;
    },
  };
  feeds.subscribe('S', slow);
  assert.equal(slow.closed, true);
  assert.equal(feeds.subscriberCount, 0);
  feeds.close();
});

function frameBytes(message: FeedMessage, body: Uint8Array = new Uint8Array(0)): Buffer {
  return Buffer.concat([encodeFrameHead(message, body.byteLength), body]);
}

test('the frame reader: round trip of every message kind, split anywhere', () => {
  const messages: Array<[FeedMessage, Uint8Array]> = [
    [{ t: 'begin', generation: 'g1', renditions: [SOURCE], timelineOriginMs: T0, discontinuitySequence: 2, firstInitVersion: 0 }, new Uint8Array(0)],
    [{ t: 'begin', generation: 'g2', renditions: [SOURCE], timelineOriginMs: null, discontinuitySequence: 0, firstInitVersion: 1, private: true }, new Uint8Array(0)],
    [{ t: 'init', g: 'g1', rendition: 'source', track: 'video', codecs: 'avc1.64001f', timescale: 90000, version: 1 }, new Uint8Array([1, 2, 3])],
    [{ t: 'part', g: 'g1', rendition: 'source', track: 'audio', msn: 3, index: 1, duration: 0.2, independent: true, discontinuity: false }, new Uint8Array(300).fill(9)],
    [{ t: 'segment', g: 'g1', rendition: 'source', track: 'ts', msn: 3, duration: 2, baseMediaDecodeTime: 0, startPts: 0, programDateTime: T0, discontinuity: true, parts: [] }, new Uint8Array(1000).fill(4)],
    [{ t: 'end', how: 'dropped' }, new Uint8Array(0)],
    [{ t: 'ping' }, new Uint8Array(0)],
  ];
  const wire = Buffer.concat(messages.map(([m, b]) => frameBytes(m, b)));
  fc.assert(
    fc.property(fc.array(fc.integer({ min: 1, max: wire.byteLength }), { maxLength: 8 }), (cuts) => {
      const points = [...new Set(cuts)].sort((a, b) => a - b);
      const reader = new FeedFrameReader();
      const got: FeedFrame[] = [];
      let from = 0;
      for (const at of [...points, wire.byteLength]) {
        reader.push(Uint8Array.prototype.slice.call(wire, from, at), (f) => got.push({ message: f.message, body: Uint8Array.prototype.slice.call(f.body), owned: true }));
        from = at;
      }
      assert.deepEqual(
        got.map((f) => [f.message, [...f.body]]),
        messages.map(([m, b]) => [m, [...b]]),
      );
      assert.equal(reader.buffered, 0);
    }),
  );
});

test('the frame reader: any bytes either decode or raise NOVA_ERR_EDGE_FEED, never anything else', () => {
  const valid = frameBytes({ t: 'part', g: 'g', rendition: 'r', track: 'video', msn: 1, index: 0, duration: 0.2, independent: true, discontinuity: false }, new Uint8Array(16));
  fc.assert(
    fc.property(
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }),
        // valid frames with a few bytes flipped: reaches the JSON and the field checks
        fc.array(fc.tuple(fc.nat(valid.byteLength - 1), fc.integer({ min: 0, max: 255 })), { maxLength: 4 }).map((flips) => {
          const bytes = Buffer.from(valid);
          for (const [at, value] of flips) bytes[at] = value;
          return bytes;
        }),
        fc.jsonValue().map((value) => {
          const json = Buffer.from(JSON.stringify(value) ?? 'null');
          const prefix = Buffer.alloc(8);
          prefix.writeUInt32BE(json.byteLength, 0);
          return Buffer.concat([prefix, json]);
        }),
      ),
      (bytes) => {
        const reader = new FeedFrameReader();
        try {
          reader.push(bytes, () => {});
        } catch (err) {
          assert.ok(err instanceof NovaError, String(err));
          assert.equal(err.code, 'NOVA_ERR_EDGE_FEED');
        }
      },
    ),
    { numRuns: 2000 },
  );
});

test('the frame reader refuses oversized declarations before buffering them', () => {
  const prefix = Buffer.alloc(8);
  prefix.writeUInt32BE(10, 0);
  prefix.writeUInt32BE(0xffffffff, 4);
  assert.throws(() => new FeedFrameReader().push(prefix, () => {}), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_EDGE_FEED');
});

test('a frame that spans reads is joined once into a buffer of its own, which the store may keep as it is', () => {
  const body = new Uint8Array(30_000).fill(7);
  const wire = frameBytes({ t: 'part', g: 'g', rendition: 'r', track: 'video', msn: 1, index: 0, duration: 0.2, independent: true, discontinuity: false }, body);
  const next = frameBytes({ t: 'ping' });
  const reader = new FeedFrameReader();
  const got: FeedFrame[] = [];
  const whole = Buffer.concat([wire, next]);
  for (const [from, to] of [
    [0, 10_000],
    [10_000, 20_000],
    [20_000, whole.byteLength],
  ] as const) {
    reader.push(whole.subarray(from, to), (f) => got.push(f));
  }
  assert.deepEqual(got.map((f) => [f.message.t, f.owned]), [['part', true], ['ping', false]]);
  assert.equal(got[0]!.body.buffer.byteLength, wire.byteLength, 'the buffer holds this frame and nothing else');
  assert.ok(Buffer.from(got[0]!.body).equals(Buffer.from(body)));
});

test('thumbnails: in the snapshot and live for an edge that asks, never for one that does not; gone at the end', () => {
  const { origin, feeds } = originWith(2, 0);
  const first = Uint8Array.from([0xff, 0xd8, 1, 2, 3, 0xff, 0xd9]);
  const second = Uint8Array.from([0xff, 0xd8, 4, 5, 6, 7, 0xff, 0xd9]);
  feeds.thumbnail('S', first);
  const asking = new WireEdge('S', 3);
  const older = new WireEdge('S', 3);
  feeds.subscribe('S', asking, { thumbnails: true });
  feeds.subscribe('S', older);
  assert.deepEqual([...(asking.store.getStream('S')!.thumbnail?.bytes ?? [])], [...first]);
  assert.equal(asking.store.getStream('S')!.thumbnail?.etag, origin.getStream('S')!.thumbnail?.etag);
  feeds.thumbnail('S', second);
  assert.deepEqual([...(asking.store.getStream('S')!.thumbnail?.bytes ?? [])], [...second]);
  assert.notEqual(asking.store.getStream('S')!.thumbnail?.etag, feedsEtagOf(first));
  assert.ok(!older.kinds.includes('thumbnail'), 'an edge that did not ask never gets a frame it may not know');
  assert.equal(older.store.getStream('S')!.thumbnail, null);
  assert.equal(origin.thumbnailBytes, second.byteLength);
  feeds.endStream('S', 'ended');
  assert.equal(origin.getStream('S')!.thumbnail, null);
  assert.equal(asking.store.getStream('S')!.thumbnail, null);
  // one arriving after the end is not kept
  feeds.thumbnail('S', first);
  assert.equal(origin.thumbnailBytes, 0);
  feeds.close();
});

function feedsEtagOf(jpeg: Uint8Array): string {
  const store = new SegmentStore({ now: () => T0 });
  store.beginStream('X', [SOURCE]);
  store.thumbnail('X', jpeg);
  return store.getStream('X')!.thumbnail!.etag;
}
