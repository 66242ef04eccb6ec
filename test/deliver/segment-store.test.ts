import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { buildMediaPlaylist } from '../../src/deliver/hls/playlist-builder.js';
import { SegmentStore, segmentBody, type StreamStore, type WaitOutcome } from '../../src/deliver/store/segment-store.js';
import { T0, feed, feedParts, segmentMedia } from './synthetic-media.js';

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
