import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { blockingMsnOutOfRange, parseBlockingReload } from '../../src/deliver/hls/blocking-reload.js';
import { parseByteRange } from '../../src/deliver/http/byte-range.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { T0, feed } from './synthetic-media.js';

describe('Range header', () => {
  it('table', () => {
    const table: [string | undefined, ReturnType<typeof parseByteRange>][] = [
      [undefined, { kind: 'full' }],
      ['bytes=0-0', { kind: 'partial', start: 0, end: 0 }],
      ['bytes=10-', { kind: 'partial', start: 10, end: 99 }],
      ['bytes=-10', { kind: 'partial', start: 90, end: 99 }],
      ['bytes=-1000', { kind: 'partial', start: 0, end: 99 }],
      ['bytes=50-1000', { kind: 'partial', start: 50, end: 99 }],
      ['bytes=0-1,5-6', { kind: 'full' }],
      ['bytes=100-', { kind: 'unsatisfiable' }],
      ['bytes=-', { kind: 'unsatisfiable' }],
      ['bytes=9-3', { kind: 'unsatisfiable' }],
      ['items=0-1', { kind: 'unsatisfiable' }],
    ];
    for (const [header, expected] of table) assert.deepEqual(parseByteRange(header, 100), expected, String(header));
  });

  it('property: any header yields full, unsatisfiable or a range inside the body', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.tuple(fc.nat(), fc.nat()).map(([a, b]) => `bytes=${a}-${b}`)), fc.integer({ min: 0, max: 5000 }), (header, size) => {
        const result = parseByteRange(header, size);
        if (result.kind === 'partial') {
          assert.ok(result.start >= 0 && result.start <= result.end && result.end < size);
        }
      }),
    );
  });
});

describe('blocking reload query', () => {
  it('parses _HLS_msn/_HLS_part', () => {
    assert.deepEqual(parseBlockingReload(new URLSearchParams('')), { kind: 'none' });
    assert.deepEqual(parseBlockingReload(new URLSearchParams('_HLS_msn=5')), { kind: 'wait', msn: 5, part: -1 });
    assert.deepEqual(parseBlockingReload(new URLSearchParams('_HLS_msn=5&_HLS_part=2&_HLS_skip=YES')), { kind: 'wait', msn: 5, part: 2 });
    assert.equal(parseBlockingReload(new URLSearchParams('_HLS_part=2')).kind, 'bad');
    assert.equal(parseBlockingReload(new URLSearchParams('_HLS_msn=-1')).kind, 'bad');
    assert.equal(parseBlockingReload(new URLSearchParams('_HLS_msn=1&_HLS_part=x')).kind, 'bad');
  });

  it('msn beyond last segment + 2 is out of range', () => {
    const store = new SegmentStore({ now: () => T0 });
    feed(store, 's', 0, 3); // last msn 2
    const video = store.getStream('s')!.renditions.get('source')!.tracks.get('video')!;
    assert.equal(blockingMsnOutOfRange(video, 4), false);
    assert.equal(blockingMsnOutOfRange(video, 5), true);
    store.clear();
  });
});
