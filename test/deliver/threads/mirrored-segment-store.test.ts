/**
 * The main thread's store and a delivery thread's copy of it, in one thread:
 * the copy, built only from the posted batches, renders the same playlists
 * and holds the same bytes (views of the same shared memory); an arena
 * region the main store drops is released only once the follower applied
 * the batch that dropped it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { buildMasterPlaylist, buildMediaPlaylist } from '../../../src/deliver/hls/playlist-builder.js';
import { SegmentStore } from '../../../src/deliver/store/segment-store.js';
import { MirroredSegmentStore } from '../../../src/deliver/threads/mirrored-segment-store.js';
import { applyStoreChange, type StoreChangeEntry } from '../../../src/deliver/threads/store-changes.js';
import { PartArena } from '../../../src/stream/part-arena.js';
import { feedParts, inPartArena, segmentMedia } from '../synthetic-media.js';
import { SOURCE } from '../synthetic-media.js';

const OPTIONS = { windowSegments: 3, keepAfterWindow: 0 };
const BUILD = { windowSegments: 3, partSegments: 3, partTargetMs: 200, targetDurationMs: 2000, uriSuffix: '', cdnBaseUrl: null };

function follower(): { copy: SegmentStore; batches: Array<{ seq: number; entries: StoreChangeEntry[] }>; apply: () => number } {
  const copy = new SegmentStore({ ...OPTIONS, endedGraceMs: 2 ** 31 - 1, reconnectGraceMs: 2 ** 31 - 1, releaseBytes: () => {} });
  const batches: Array<{ seq: number; entries: StoreChangeEntry[] }> = [];
  return {
    copy,
    batches,
    apply() {
      let last = 0;
      for (const batch of batches.splice(0)) {
        for (const entry of batch.entries) applyStoreChange(copy, entry);
        last = batch.seq;
      }
      return last;
    },
  };
}

function playlistsOf(store: SegmentStore, streamId: string): string[] {
  const stream = store.getStream(streamId)!;
  const rendition = stream.renditions.get('source')!;
  return [buildMasterPlaylist(stream, BUILD)!, buildMediaPlaylist(stream, streamId, rendition, 'video', BUILD)!, buildMediaPlaylist(stream, streamId, rendition, 'audio', BUILD)!];
}

describe('MirroredSegmentStore', () => {
  it("a follower's copy renders the same playlists, with the same generation and the same bytes", async () => {
    const main = new MirroredSegmentStore(OPTIONS);
    const thread = follower();
    main.follow(1, (seq, entries) => thread.batches.push({ seq, entries }));
    main.beginStream('s', [SOURCE]);
    for (let msn = 0; msn < 6; msn++) for (const media of segmentMedia(msn)) main.add('s', media);
    feedParts(main, 's', 6, 2);
    main.thumbnail('s', new Uint8Array([0xff, 0xd8, 1, 2, 3]));
    await nextTurn();
    main.applied(1, thread.apply());
    assert.deepEqual(playlistsOf(thread.copy, 's'), playlistsOf(main, 's'));
    assert.equal(thread.copy.getStream('s')!.generation, main.getStream('s')!.generation);
    const mainSegment = main.getStream('s')!.renditions.get('source')!.tracks.get('video')!.lastSegment()!;
    const copySegment = thread.copy.getStream('s')!.renditions.get('source')!.tracks.get('video')!.lastSegment()!;
    assert.equal(copySegment.msn, mainSegment.msn);
    assert.ok(Buffer.from(copySegment.bytes!).equals(Buffer.from(mainSegment.bytes!)));
    assert.ok(mainSegment.bytes!.buffer instanceof SharedArrayBuffer, 'segment bytes were moved to shared memory once');
    assert.equal(thread.copy.getStream('s')!.thumbnail?.etag, main.getStream('s')!.thumbnail?.etag);

    // a thread that follows later starts from a snapshot, then the changes
    const late = follower();
    main.follow(2, (seq, entries) => late.batches.push({ seq, entries }));
    feedParts(main, 's', 6, 4);
    main.endStream('s', 'ended');
    await nextTurn();
    main.applied(1, thread.apply());
    main.applied(2, late.apply());
    assert.deepEqual(playlistsOf(late.copy, 's'), playlistsOf(main, 's'));
    assert.deepEqual(playlistsOf(thread.copy, 's'), playlistsOf(main, 's'));
    assert.equal(late.copy.getStream('s')!.ended, true);
  });

  it('an arena region the store drops is released only after every follower applied the batch that dropped it', async () => {
    const producer = PartArena.create(8 << 20);
    const consumer = PartArena.attach(producer.buffer);
    const main = new MirroredSegmentStore(OPTIONS);
    const a = follower();
    const b = follower();
    main.follow(1, (seq, entries) => a.batches.push({ seq, entries }));
    main.follow(2, (seq, entries) => b.batches.push({ seq, entries }));
    main.beginStream('s', [SOURCE]);
    // segments 0..5 with their parts in the arena: the window of 3 drops the oldest ones' parts
    for (let msn = 0; msn < 6; msn++) {
      for (const media of segmentMedia(msn, { segmentBytes: false })) main.add('s', inPartArena(producer, consumer, media));
    }
    await nextTurn();
    const held = main.heldReleases;
    assert.ok(held > 0, 'parts left the window');
    const regionsBefore = consumer.heldRegions;
    main.applied(1, a.apply());
    assert.equal(main.heldReleases, held, 'b has not applied yet: nothing released');
    assert.equal(consumer.heldRegions, regionsBefore);
    main.applied(2, b.apply());
    assert.equal(main.heldReleases, 0);
    assert.equal(consumer.heldRegions, regionsBefore - held, 'released into the arena');
    // a follower that goes away waits for nothing
    for (const media of segmentMedia(6, { segmentBytes: false })) main.add('s', inPartArena(producer, consumer, media));
    await nextTurn();
    assert.ok(main.heldReleases > 0);
    main.applied(1, a.apply());
    main.unfollow(2);
    assert.equal(main.heldReleases, 0);
    main.removeStream('s');
  });

  it('with no follower it is a plain store: nothing held, nothing posted', async () => {
    const main = new MirroredSegmentStore(OPTIONS);
    main.beginStream('s', [SOURCE]);
    for (let msn = 0; msn < 6; msn++) for (const media of segmentMedia(msn)) main.add('s', media);
    await nextTurn();
    assert.equal(main.heldReleases, 0);
    assert.equal(main.followerCount, 0);
  });
});
