import type { PackagedMedia, PackagedTrack } from '../../package/packaged-media.js';
import type { RenditionInfo } from '../../package/rendition-info.js';
import type { StreamAccess } from '../../package/media-sink.js';
import { PartArena } from '../../stream/part-arena.js';
import { copyBytes } from '../../stream/shared-copy.js';
import { feedMessageOf } from '../edge/feed-apply.js';
import { beginMessage, writeSnapshot } from '../edge/feed-snapshot.js';
import {
  SegmentStore,
  type SegmentStoreOptions,
  type StreamContinuity,
  type StreamStore,
  type TrackRunningState,
} from '../store/segment-store.js';
import type { StoreChange, StoreChangeEntry } from './store-changes.js';

/** Where a batch of changes goes: one delivery thread's port. */
export type PostChanges = (seq: number, entries: StoreChangeEntry[]) => void;

interface Follower {
  post: PostChanges;
  /** the newest batch the thread has applied */
  applied: number;
}

interface HeldRelease {
  /** released once every follower has applied this batch */
  seq: number;
  bytes: Uint8Array;
}

/** Bytes in their own (unshared) buffer copied once into shared memory, so that posting them shares instead of copying per thread. */
function shared(bytes: Uint8Array): Uint8Array {
  if (bytes.buffer instanceof SharedArrayBuffer || bytes.byteLength === 0) return bytes;
  const copy = new Uint8Array(new SharedArrayBuffer(bytes.byteLength));
  copyBytes(copy, 0, bytes);
  return copy;
}

/**
 * The main thread's segment store when delivery threads serve it: every
 * change is also posted, in order and batched once per event-loop turn, to
 * each thread's copy (a SegmentStore built by the same calls, see
 * store-changes.ts), and the bytes go as views of shared memory, never copied
 * per thread.
 *
 * Why the releases wait: a part's bytes live in a PartArena that the packager
 * reuses once the store releases them. A thread's copy drops the part when it
 * applies the change that made the main store drop it, a little later; so a
 * release is held until every thread has applied the batch that carries that
 * change (threads acknowledge each batch). A response still being written then
 * holds its own copy (media-response.ts copies a shared body it could not write
 * at once).
 */
export class MirroredSegmentStore extends SegmentStore {
  private readonly followers = new Map<number, Follower>();
  private batch: StoreChangeEntry[] = [];
  private seq = 0;
  private flushScheduled = false;
  private readonly held: HeldRelease[] = [];
  /** streams changed by the batch being gathered */
  private changed = new Set<string>();
  /** what goes after a batch's changes: texts rendered for the streams they changed (SharedPlaylists) */
  private afterChanges: ((changed: ReadonlySet<string>) => StoreChangeEntry[]) | null = null;
  private readonly flushNow = (): void => this.flush();

  constructor(options: Partial<SegmentStoreOptions> = {}) {
    // the constructor runs before `this` exists: the hook finds the store through this box
    const box: { store: MirroredSegmentStore | null } = { store: null };
    super({ ...options, releaseBytes: (bytes) => box.store!.release(bytes) });
    box.store = this;
  }

  /** Entries to send after each batch's changes, given the streams the batch changed. */
  appendToBatches(append: (changed: ReadonlySet<string>) => StoreChangeEntry[]): void {
    this.afterChanges = append;
  }

  /** Delivery threads following the store now. */
  get followerCount(): number {
    return this.followers.size;
  }

  /** Parts whose release waits for a thread. */
  get heldReleases(): number {
    return this.held.length;
  }

  /**
   * A delivery thread follows the store from now on: it gets what the store
   * holds (as one batch, numbered like the others), then every change.
   */
  follow(id: number, post: PostChanges): void {
    this.flush(); // changes made before the snapshot must not reach the new thread twice
    const entries: StoreChangeEntry[] = [];
    for (const streamId of this.streamIds()) {
      const stream = this.getStream(streamId)!;
      writeSnapshot(stream, (message, body) => entries.push([streamId, message, body === undefined ? null : shared(body)]), { thumbnails: true });
      if (!stream.ended && stream.reconnectTimer !== null) entries.push([streamId, { t: 'end', how: 'dropped' }, null]);
      if (stream.unavailable) entries.push([streamId, { t: 'interrupt' }, null]);
    }
    const seq = ++this.seq;
    this.followers.set(id, { post, applied: seq });
    post(seq, entries);
  }

  /** The thread applied every batch up to seq. */
  applied(id: number, seq: number): void {
    const follower = this.followers.get(id);
    if (!follower || seq <= follower.applied) return;
    follower.applied = seq;
    this.releaseApplied();
  }

  /** The thread is gone (closed or died): nothing waits for it any more. */
  unfollow(id: number): void {
    if (this.followers.delete(id)) this.releaseApplied();
  }

  override beginStream(streamId: string, renditions: readonly RenditionInfo[], continuity: StreamContinuity & Partial<StreamAccess> = {}): StreamStore {
    const stream = super.beginStream(streamId, renditions, continuity);
    this.push(streamId, beginMessage(stream));
    return stream;
  }

  override renewGeneration(streamId: string): void {
    super.renewGeneration(streamId);
    const stream = this.getStream(streamId);
    if (stream) this.push(streamId, { t: 'generation', g: stream.generation });
  }

  override updateRenditions(streamId: string, renditions: readonly RenditionInfo[]): void {
    super.updateRenditions(streamId, renditions);
    this.push(streamId, { t: 'renditions', renditions: [...renditions] });
  }

  override restoreTrack(streamId: string, rendition: string, track: PackagedTrack, state: TrackRunningState): void {
    super.restoreTrack(streamId, rendition, track, state);
    this.push(streamId, { t: 'track', rendition, track, ...state });
  }

  override removeRendition(streamId: string, name: string): void {
    super.removeRendition(streamId, name);
    this.push(streamId, { t: 'remove', rendition: name });
  }

  override add(streamId: string, media: PackagedMedia): boolean {
    if (this.followers.size === 0) return super.add(streamId, media);
    const kept = media.bytes.buffer instanceof SharedArrayBuffer ? media : ({ ...media, bytes: shared(media.bytes) } as PackagedMedia);
    if (!super.add(streamId, kept)) return false;
    const stream = this.getStream(streamId)!;
    if (kept.kind === 'init') {
      // the store numbered the init: the threads keep its number
      const init = stream.renditions.get(kept.rendition)?.tracks.get(kept.track)?.init;
      if (init) this.push(streamId, feedMessageOf({ ...kept, version: init.version }, init.generation), init.bytes);
      return true;
    }
    this.push(streamId, feedMessageOf(kept, stream.generation), kept.bytes);
    return true;
  }

  override thumbnail(streamId: string, jpeg: Uint8Array): void {
    const bytes = this.followers.size === 0 ? jpeg : shared(jpeg);
    super.thumbnail(streamId, bytes);
    if (this.getStream(streamId)?.thumbnail?.bytes === bytes) this.push(streamId, { t: 'thumbnail' }, bytes);
  }

  override endStream(streamId: string, how: 'ended' | 'dropped' = 'ended'): void {
    super.endStream(streamId, how);
    this.push(streamId, { t: 'end', how });
  }

  override sealPendingParts(streamId: string): void {
    super.sealPendingParts(streamId);
    this.push(streamId, { t: 'seal' });
  }

  override interruptStream(streamId: string): void {
    super.interruptStream(streamId);
    this.push(streamId, { t: 'interrupt' });
  }

  override resumeStream(streamId: string): void {
    super.resumeStream(streamId);
    this.push(streamId, { t: 'resume' });
  }

  override removeStream(streamId: string): void {
    super.removeStream(streamId);
    this.push(streamId, { t: 'removeStream' });
  }

  private push(streamId: string, change: StoreChange, body: Uint8Array | null = null): void {
    if (this.followers.size === 0) return;
    this.batch.push([streamId, change, body]);
    this.changed.add(streamId);
    this.schedule();
  }

  private release(bytes: Uint8Array): void {
    if (this.followers.size === 0) {
      PartArena.release(bytes);
      return;
    }
    // the change that let go of the bytes goes out with the batch being gathered now
    this.held.push({ seq: this.seq + 1, bytes });
    this.schedule();
  }

  private schedule(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushNow);
  }

  /** Posts the changes gathered so far now (an answer that must reach a thread after them goes next). */
  flushChanges(): void {
    this.flush();
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.length === 0 && (this.held.length === 0 || this.held.at(-1)!.seq <= this.seq)) return;
    const seq = ++this.seq;
    const entries = this.batch;
    this.batch = [];
    if (this.afterChanges !== null && this.changed.size > 0) entries.push(...this.afterChanges(this.changed));
    this.changed = new Set();
    for (const follower of this.followers.values()) follower.post(seq, entries);
    if (this.followers.size === 0) this.releaseApplied();
  }

  private releaseApplied(): void {
    let applied = Infinity;
    for (const follower of this.followers.values()) if (follower.applied < applied) applied = follower.applied;
    let released = 0;
    while (released < this.held.length && this.held[released]!.seq <= applied) PartArena.release(this.held[released++]!.bytes);
    if (released > 0) this.held.splice(0, released);
  }
}
