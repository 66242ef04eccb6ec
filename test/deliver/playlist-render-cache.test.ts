import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { PlaylistRenderCache } from '../../src/deliver/http/playlist-render-cache.js';
import { SegmentStore, type StreamStore } from '../../src/deliver/store/segment-store.js';
import { SOURCE } from './synthetic-media.js';

/** A render that says what it rendered and when, and counts its runs. */
function renderer(stream: StreamStore, key: string, length = 40): { render: () => string; runs: () => number } {
  let runs = 0;
  return {
    render: () => {
      runs++;
      return `${key}@${stream.changes}:`.padEnd(length, '#');
    },
    runs: () => runs,
  };
}

function liveStream(store: SegmentStore, id = 'live1'): StreamStore {
  return store.beginStream(id, [SOURCE]);
}

/** What one entry of this key and text length costs in this cache (learned, not assumed). */
function entryCost(stream: StreamStore, key: string, length: number): number {
  const probe = new PlaylistRenderCache(1 << 20);
  probe.get(stream, key, renderer(stream, key, length).render);
  return probe.bytes;
}

describe('playlist render cache', () => {
  it('renders once per change of the stream, for each key', () => {
    const store = new SegmentStore();
    const stream = liveStream(store);
    const lookups: boolean[] = [];
    const cache = new PlaylistRenderCache(1 << 20, (hit) => lookups.push(hit));
    const master = renderer(stream, 'master');
    const video = renderer(stream, 'source/video');
    for (let i = 0; i < 3; i++) {
      assert.equal(cache.get(stream, 'master', master.render), `master@${stream.changes}:`.padEnd(40, '#'));
      cache.get(stream, 'source/video', video.render);
    }
    assert.equal(master.runs(), 1);
    assert.equal(video.runs(), 1);
    store.updateRenditions('live1', [SOURCE]); // a change
    const text = cache.get(stream, 'source/video', video.render);
    assert.equal(video.runs(), 2);
    assert.equal(text, `source/video@${stream.changes}:`.padEnd(40, '#'));
    assert.deepEqual(lookups.slice(0, 2), [false, false]);
    assert.equal(lookups.filter((hit) => hit).length, 4);
  });

  it('keeps at most its byte budget, dropping the entry written longest ago', () => {
    const store = new SegmentStore();
    const stream = liveStream(store);
    const cost = entryCost(stream, 'k1', 100);
    const cache = new PlaylistRenderCache(3 * cost);
    const renders = ['k1', 'k2', 'k3', 'k4'].map((key) => renderer(stream, key, 100));
    for (const [i, r] of renders.entries()) cache.get(stream, `k${i + 1}`, r.render);
    assert.equal(cache.size, 3);
    assert.equal(cache.bytes, 3 * cost);
    cache.get(stream, 'k4', renders[3]!.render);
    cache.get(stream, 'k2', renders[1]!.render);
    assert.equal(renders[3]!.runs(), 1, 'the newest stayed');
    assert.equal(renders[1]!.runs(), 1, 'the second stayed');
    cache.get(stream, 'k1', renders[0]!.render);
    assert.equal(renders[0]!.runs(), 2, 'the oldest went first');
    assert.ok(cache.bytes <= 3 * cost);
  });

  it('a playlist rewritten after a change becomes the youngest: the ones nobody asks for go first', () => {
    const store = new SegmentStore();
    const stream = liveStream(store);
    const cost = entryCost(stream, 'k1', 100);
    const cache = new PlaylistRenderCache(3 * cost);
    const [k1, k2, k3, k4] = ['k1', 'k2', 'k3', 'k4'].map((key) => renderer(stream, key, 100));
    cache.get(stream, 'k1', k1!.render);
    cache.get(stream, 'k2', k2!.render);
    cache.get(stream, 'k3', k3!.render);
    store.updateRenditions('live1', [SOURCE]);
    cache.get(stream, 'k1', k1!.render); // watched: rewritten
    cache.get(stream, 'k4', k4!.render); // pushes the oldest write out: k2
    cache.get(stream, 'k1', k1!.render);
    assert.equal(k1!.runs(), 2, 'k1 kept its new render');
    cache.get(stream, 'k2', k2!.render);
    assert.equal(k2!.runs(), 2, 'k2 was evicted');
  });

  it('an entry larger than the budget is answered but never kept; 0 keeps nothing', () => {
    const store = new SegmentStore();
    const stream = liveStream(store);
    const cost = entryCost(stream, 'big', 1000);
    for (const budget of [cost - 1, 0]) {
      const cache = new PlaylistRenderCache(budget);
      const big = renderer(stream, 'big', 1000);
      assert.equal(cache.get(stream, 'big', big.render)?.length, 1000);
      cache.get(stream, 'big', big.render);
      assert.equal(big.runs(), 2);
      assert.equal(cache.bytes, 0);
      assert.equal(cache.size, 0);
    }
  });

  it('a new life of the same stream id never gets the old one\'s text', () => {
    const store = new SegmentStore();
    const first = liveStream(store);
    const cache = new PlaylistRenderCache(1 << 20);
    cache.get(first, 'master', () => 'first life');
    store.removeStream('live1');
    const second = liveStream(store);
    assert.notEqual(second.generation, first.generation);
    assert.equal(cache.get(second, 'master', () => 'second life'), 'second life');
  });

  it('property: whatever the requests and changes, answers are what a render now gives and the bytes stay in budget', () => {
    const store = new SegmentStore();
    const streams = [liveStream(store, 'a'), liveStream(store, 'b')];
    const op = fc.record({ stream: fc.integer({ min: 0, max: 1 }), key: fc.integer({ min: 0, max: 7 }), change: fc.boolean() });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4000 }), fc.array(op, { maxLength: 60 }), (budget, ops) => {
        const cache = new PlaylistRenderCache(budget);
        for (const { stream: which, key, change } of ops) {
          const stream = streams[which]!;
          if (change) store.updateRenditions(stream.id, [SOURCE]);
          // a key's text depends on its stream's state only, as a real render's does
          const render = (): string => `${stream.id}/${key}@${stream.changes}`.padEnd(key * 60, '#');
          if (cache.get(stream, `k${key}`, render) !== render()) return false;
          if (cache.bytes > budget || cache.bytes < 0) return false;
        }
        return true;
      }),
    );
  });
});
