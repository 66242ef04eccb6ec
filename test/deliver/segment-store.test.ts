import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildMediaPlaylist } from '../../src/deliver/hls/playlist-builder.js';
import { SegmentStore, segmentBody, type StreamStore, type WaitOutcome } from '../../src/deliver/store/segment-store.js';
import { PartArena } from '../../src/stream/part-arena.js';
import { SOURCE, T0, feed, feedParts, fill, inPartArena, initOf, segmentMedia, type FeedOptions } from './synthetic-media.js';

function track(store: SegmentStore, streamId: string, name: 'video' | 'audio' | 'ts' = 'video') {
  return store.getStream(streamId)!.renditions.get('source')!.tracks.get(name)!;
}

/** Bytes the store really references, recomputed from scratch. */
function heldBytes(stream: StreamStore): number {
  let total = 0;
  for (const rendition of stream.renditions.values()) {
    for (const t of rendition.tracks.values()) {
      for (const init of t.inits) total += init.bytes.byteLength;
      for (const s of t.segments) {
        total += s.bytes ? s.bytes.byteLength : 0;
        for (const p of s.parts) total += p.bytes ? p.bytes.byteLength : 0;
      }
      for (const p of t.pendingParts) total += p.bytes ? p.bytes.byteLength : 0;
    }
  }
  return total;
}

describe('SegmentStore', () => {
  it('keeps window + late segments, then drops the oldest', () => {
    const store = new SegmentStore({ windowSegments: 6, keepAfterWindow: 3, now: () => T0 });
    feed(store, 's', 0, 20);
    const video = track(store, 's');
    assert.deepEqual(
      video.segments.map((s) => s.msn),
      [11, 12, 13, 14, 15, 16, 17, 18, 19],
    );
    assert.equal(video.findSegment(10), undefined);
    assert.ok(video.findSegment(11));
    // parts keep their bytes only for the newest partSegments (3) segments
    assert.equal(video.findPart(19, 0)!.bytes!.byteLength, 100);
    assert.equal(video.findPart(16, 0)!.bytes, null);
    assert.equal(store.memoryBytes, heldBytes(store.getStream('s')!));
  });

  it('a segment sent as its parts is served from them: they keep their bytes for its life, counted once', () => {
    const store = new SegmentStore({ windowSegments: 6, keepAfterWindow: 3, now: () => T0 });
    feed(store, 's', 0, 20, { segmentBytes: false });
    const video = track(store, 's');
    assert.deepEqual(video.segments.map((s) => s.msn), [11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const oldest = video.findSegment(11)!;
    assert.equal(oldest.bytes, null);
    assert.equal(oldest.byteLength, 1000);
    assert.deepEqual(segmentBody(oldest).map((b) => b.byteLength), Array(10).fill(100));
    assert.equal(video.findPart(11, 0)!.bytes!.byteLength, 100, 'past the part horizon the parts still hold the segment');
    assert.equal(track(store, 's', 'ts').findSegment(11)!.byteLength, 1050);
    assert.equal(store.memoryBytes, heldBytes(store.getStream('s')!));
  });

  it('a segment sent as its parts with one part missing is not listed (never served truncated)', () => {
    const store = new SegmentStore({ now: () => T0 });
    feed(store, 's', 0, 2, { segmentBytes: false, tracks: ['video'] });
    for (const media of segmentMedia(2, { segmentBytes: false, tracks: ['video'] })) {
      if (media.kind === 'part' && media.part.index === 4) continue;
      store.add('s', media);
    }
    assert.deepEqual(track(store, 's').segments.map((s) => s.msn), [0, 1]);
    assert.equal(store.memoryBytes, heldBytes(store.getStream('s')!));
  });

  it('evicts by bytes per stream, oldest msn across all tracks together', () => {
    // one segment of all three tracks + parts ≈ 1000+1000+1050 + 2000 of parts
    const store = new SegmentStore({ maxStreamBytes: 20_000, windowSegments: 50, keepAfterWindow: 0, now: () => T0 });
    feed(store, 's', 0, 12);
    const stream = store.getStream('s')!;
    assert.ok(stream.bytes <= 20_000, `stream holds ${stream.bytes}`);
    assert.equal(store.memoryBytes, heldBytes(stream));
    const first = (name: 'video' | 'audio' | 'ts') => track(store, 's', name).segments[0]!.msn;
    assert.equal(first('video'), first('audio'));
    assert.equal(first('video'), first('ts'));
    assert.ok(first('video') > 0);
    assert.equal(track(store, 's').lastSegment()!.msn, 11);
  });

  it('evicts across streams fairly: the biggest stream gives first, ended streams go whole', () => {
    const store = new SegmentStore({ maxBytes: 60_000, maxStreamBytes: 1_000_000, windowSegments: 50, keepAfterWindow: 0, now: () => T0 });
    feed(store, 'small', 0, 3);
    const smallBefore = store.streamMemoryBytes('small');
    feed(store, 'big', 0, 20, { partBytes: 300 });
    assert.ok(store.memoryBytes <= 60_000, `total ${store.memoryBytes}`);
    assert.equal(store.streamMemoryBytes('small'), smallBefore, 'the small stream kept everything');
    assert.ok(track(store, 'big').segments[0]!.msn > 0);

    store.endStream('small');
    feed(store, 'big', 20, 30, { partBytes: 300 });
    assert.equal(store.getStream('small'), undefined, 'the ended stream went first');
    assert.equal(store.memoryBytes, heldBytes(store.getStream('big')!));
  });

  it('property: accounting is exact and the per-stream bound holds for any arrival order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ msn: fc.integer({ min: 0, max: 30 }), partBytes: fc.integer({ min: 1, max: 400 }), partsOnly: fc.boolean() }), {
          maxLength: 40,
        }),
        fc.integer({ min: 2_000, max: 40_000 }),
        (steps, maxStreamBytes) => {
          const store = new SegmentStore({ maxStreamBytes, windowSegments: 4, keepAfterWindow: 1, now: () => T0 });
          feed(store, 's', 0, 0);
          for (const step of steps) {
            for (const media of segmentMedia(step.msn, { partBytes: step.partBytes })) {
              if (step.partsOnly && media.kind === 'segment') continue;
              store.add('s', media);
            }
            const stream = store.getStream('s')!;
            assert.equal(stream.bytes, heldBytes(stream));
            assert.equal(store.memoryBytes, stream.bytes);
            // over the bound only when nothing but the newest segment of each track is left
            if (stream.bytes > maxStreamBytes) {
              for (const t of stream.renditions.get('source')!.tracks.values()) assert.ok(t.segments.length <= 1);
            }
          }
          store.removeStream('s');
          assert.equal(store.memoryBytes, 0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('releases a parked wait when the part arrives; a later part also satisfies', async () => {
    const store = new SegmentStore({ now: () => T0 });
    feed(store, 's', 0, 2);
    feedParts(store, 's', 2, 2);
    const outcomes: string[] = [];
    assert.equal(store.waitFor('s', 'source', 'video', 2, 1, 1000, () => outcomes.push('ready-now')), null, 'part 2.1 exists');
    const wait = store.waitFor('s', 'source', 'video', 2, 2, 1000, (o) => outcomes.push(`2.2:${o}`));
    store.waitFor('s', 'source', 'video', 3, -1, 1000, (o) => outcomes.push(`3:${o}`));
    assert.ok(wait);
    assert.equal(store.parkedCount, 2);
    feedParts(store, 's', 2, 2, { tracks: ['audio'] });
    assert.deepEqual(outcomes, [], 'another track does not release it');
    feedParts(store, 's', 2, 3, { tracks: ['video'] });
    assert.deepEqual(outcomes, ['2.2:ready']);
    feed(store, 's', 2, 4);
    assert.deepEqual(outcomes, ['2.2:ready', '3:ready']);
    assert.equal(store.parkedCount, 0);
  });

  it('a part index past the end of a completed segment waits for the next segment to start', () => {
    const store = new SegmentStore({ now: () => T0 });
    feed(store, 's', 0, 1); // msn 0 has parts 0..9
    const outcomes: WaitOutcome[] = [];
    const wait = store.waitFor('s', 'source', 'video', 0, 10, 1000, (o) => outcomes.push(o));
    assert.ok(wait);
    feedParts(store, 's', 1, 1, { tracks: ['video'] });
    assert.deepEqual(outcomes, ['ready']);
  });

  it('times out, answers ended and gone, and cancel forgets silently', async () => {
    const store = new SegmentStore({ now: () => T0, endedGraceMs: 30 });
    feed(store, 's', 0, 1);
    const outcomes: WaitOutcome[] = [];
    store.waitFor('s', 'source', 'video', 1, 0, 20, (o) => outcomes.push(o));
    await new Promise((resolve) => setTimeout(resolve, 40));
    assert.deepEqual(outcomes, ['timeout']);

    const cancelled = store.waitFor('s', 'source', 'video', 1, 0, 20, () => outcomes.push('gone'));
    cancelled!.cancel();
    assert.equal(store.parkedCount, 0);

    store.waitFor('s', 'source', 'video', 1, 0, 1000, (o) => outcomes.push(o));
    store.endStream('s');
    assert.deepEqual(outcomes, ['timeout', 'ended']);
    assert.equal(store.getStream('s')!.ended, true);
    assert.equal(store.add('s', segmentMedia(5)[0]!), false, 'an ended stream takes nothing');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(store.getStream('s'), undefined, 'dropped after the grace period');
    assert.equal(store.memoryBytes, 0);
  });

  it('a stream that resumes within the grace period keeps its media and numbering', () => {
    const store = new SegmentStore({ now: () => T0, endedGraceMs: 10_000 });
    feed(store, 's', 0, 3);
    const generation = store.getStream('s')!.generation;
    store.endStream('s');
    store.beginStream('s', []);
    feed(store, 's', 3, 4, { discontinuityAt: 3 });
    assert.equal(store.getStream('s')!.generation, generation);
    assert.deepEqual(track(store, 's').segments.map((s) => s.msn), [0, 1, 2, 3]);
    store.clear();
  });

  it('derives the DASH timeline origin from the first segment', () => {
    const store = new SegmentStore({ now: () => T0 + 99_000 });
    feed(store, 's', 5, 6);
    // msn 5 starts 10 s into the timeline at T0 + 10 s: the timeline began at T0
    assert.equal(store.getStream('s')!.timelineOriginMs, T0);
    store.clear();
  });

  it('LL-HLS: parts of a segment after a discontinuity are listed after EXT-X-DISCONTINUITY from the first part on', () => {
    const store = new SegmentStore({ now: () => T0 });
    feed(store, 's', 0, 3, { discontinuityAt: 3 });
    feedParts(store, 's', 3, 2, { discontinuityAt: 3 });
    const stream = store.getStream('s')!;
    const options = { windowSegments: 6, partSegments: 3, partTargetMs: 200, targetDurationMs: 2000, uriSuffix: '', cdnBaseUrl: null };
    const render = (): string => buildMediaPlaylist(stream, 's', stream.renditions.get('source')!, 'video', options)!;
    // players remember each msn's discontinuity sequence: it must not change when the segment completes
    assert.match(render(), /#EXT-X-DISCONTINUITY\n#EXT-X-PART:DURATION=0\.200,URI="video\/part-3-0\.m4s"/);
    for (const media of segmentMedia(3, { discontinuityAt: 3 })) store.add('s', media);
    assert.match(render(), /#EXT-X-DISCONTINUITY\n#EXT-X-PROGRAM-DATE-TIME:[^\n]+\n#EXT-X-PART:DURATION=0\.200,URI="video\/part-3-0\.m4s"/);
    feedParts(store, 's', 4, 1);
    assert.equal(render().match(/#EXT-X-DISCONTINUITY\n/g)?.length, 1, 'the next segment is not flagged');
  });

  it('a dropped publisher keeps its playlists live for reconnectGraceMs: a reconnect continues them, else ENDLIST', async () => {
    const store = new SegmentStore({ reconnectGraceMs: 40, now: () => T0 });
    feed(store, 'back', 0, 2);
    feed(store, 'gone', 0, 2);
    store.endStream('back', 'dropped');
    store.endStream('gone', 'dropped');
    assert.equal(store.getStream('back')!.ended, false, 'no ENDLIST while the publisher may come back');
    store.beginStream('back', []);
    feed(store, 'back', 2, 3, { discontinuityAt: 2 });
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(store.getStream('back')!.ended, false, 'the reconnect cancelled the end');
    assert.equal(store.getStream('gone')!.ended, true, 'ENDLIST once the grace passed');
    store.endStream('back', 'ended');
    assert.equal(store.getStream('back')!.ended, true, 'a clean unpublish ends at once');
  });
});

describe('SegmentStore with parts in a PartArena (live ingest)', () => {
  function arenaFeed(store: SegmentStore, producer: PartArena, consumer: PartArena, streamId: string, from: number, to: number, options: FeedOptions = {}): void {
    for (let msn = from; msn < to; msn++) {
      for (const media of segmentMedia(msn, { segmentBytes: false, ...options })) store.add(streamId, inPartArena(producer, consumer, media));
    }
  }

  /** Every part the store holds still has the bytes it was given (none were overwritten by a reused region). */
  function assertPartsIntact(store: SegmentStore, streamId: string): number {
    let parts = 0;
    for (const rendition of store.getStream(streamId)!.renditions.values()) {
      for (const t of rendition.tracks.values()) {
        if (t.track === 'ts') continue;
        const check = (msn: number, index: number, bytes: Uint8Array | null): void => {
          if (bytes === null) return;
          parts++;
          assert.deepEqual(bytes, fill(bytes.byteLength, t.track, msn, index), `${t.track} part ${msn}.${index} was overwritten`);
        };
        for (const s of t.segments) for (const p of s.parts) check(s.msn, p.index, p.bytes);
        for (const p of t.pendingParts) check(t.pendingMsn, p.index, p.bytes);
      }
    }
    return parts;
  }

  function arenaStore(): { store: SegmentStore; producer: PartArena; consumer: PartArena } {
    const store = new SegmentStore({ windowSegments: 6, keepAfterWindow: 3, now: () => T0 });
    // the window (9 segments × 20 parts × 100 bytes) plus two segments: the arena must be reused to go on
    const producer = PartArena.create(11 * 20 * 100);
    const consumer = PartArena.attach(producer.buffer);
    store.beginStream('s', [SOURCE]);
    store.add('s', initOf('video'));
    store.add('s', initOf('audio'));
    return { store, producer, consumer };
  }

  it('releases parts as segments leave the window: the arena is reused and nothing held is overwritten', () => {
    const { store, producer, consumer } = arenaStore();
    for (let msn = 0; msn < 200; msn += 10) {
      arenaFeed(store, producer, consumer, 's', msn, msn + 10, { tracks: ['video', 'audio'] });
      const held = assertPartsIntact(store, 's');
      assert.equal(held, 9 * 20);
      assert.equal(consumer.heldRegions, held, 'regions held = parts the store holds');
    }
    assert.deepEqual(segmentBody(track(store, 's').findSegment(199)!)[0], fill(100, 'video', 199, 0));
  });

  it('releases on every other way a part leaves: unfinished at the end, late, for no stream, its rendition or stream removed, evicted for bytes', () => {
    const { store, producer, consumer } = arenaStore();
    arenaFeed(store, producer, consumer, 's', 0, 3, { tracks: ['video', 'audio'] });
    assert.equal(consumer.heldRegions, 60);
    // the in-progress segment's parts
    for (const media of segmentMedia(3, { segmentBytes: false, tracks: ['video', 'audio'] })) {
      if (media.kind === 'part' && media.part.index < 4) store.add('s', inPartArena(producer, consumer, media));
    }
    assert.equal(consumer.heldRegions, 68);
    // a late part of a complete segment: not kept
    const late = segmentMedia(1, { segmentBytes: false, tracks: ['video'] }).find((m) => m.kind === 'part')!;
    store.add('s', inPartArena(producer, consumer, late));
    assert.equal(consumer.heldRegions, 68);
    // a part for a stream the store does not know
    store.add('unknown', inPartArena(producer, consumer, late));
    assert.equal(consumer.heldRegions, 68);
    // a segment completed without all its parts cannot be served: its parts go
    const gappy = segmentMedia(3, { segmentBytes: false, tracks: ['video'] }).find((m) => m.kind === 'segment')!;
    store.add('s', gappy);
    assert.equal(consumer.heldRegions, 64, 'the video parts of the gappy segment are released, the audio ones wait');
    // the publisher leaves: the unfinished audio segment's parts go
    store.endStream('s', 'ended');
    assert.equal(consumer.heldRegions, 60);
    assertPartsIntact(store, 's');
    store.removeStream('s');
    assert.equal(consumer.heldRegions, 0);

    // a rendition removed (a transcoder died), and eviction for bytes
    const second = arenaStore();
    arenaFeed(second.store, second.producer, second.consumer, 's', 0, 2, { tracks: ['video', 'audio'], rendition: '720p' });
    assert.equal(second.consumer.heldRegions, 40);
    second.store.removeRendition('s', '720p');
    assert.equal(second.consumer.heldRegions, 0);
    const bounded = new SegmentStore({ windowSegments: 6, keepAfterWindow: 3, maxStreamBytes: 4 * 20 * 100 + 2 * 64, now: () => T0 });
    bounded.beginStream('s', [SOURCE]);
    bounded.add('s', initOf('video'));
    bounded.add('s', initOf('audio'));
    arenaFeed(bounded, second.producer, second.consumer, 's', 0, 30, { tracks: ['video', 'audio'] });
    assert.equal(second.consumer.heldRegions, 4 * 20, 'four segments fit the byte bound; the older ones were released');
    assertPartsIntact(bounded, 's');
  });
});
