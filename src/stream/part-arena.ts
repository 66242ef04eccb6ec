import { threadId } from 'node:worker_threads';
import { canDiscardPages, discardPages } from './discard-pages.js';

/*
 * Layout of the SharedArrayBuffer:
 *   bytes 0..63    Int32 header: capacity, magic and identity (thread id and
 *                  serial of the creating thread; immutable), the released
 *                  position (written by the consumer, read by the producer)
 *   bytes 64..     the data area, `capacity` bytes
 *
 * Positions run over [0, 2 × capacity), as in ByteRing, so "full" and "empty"
 * differ without a counter; a region's byte index is its position modulo
 * capacity. A region never wraps: one that does not fit before the end of the
 * data area starts at index 0, and the skipped tail counts as part of it (it
 * is released with it).
 *
 * Memory ordering: the producer writes a region's bytes before it posts the
 * message naming it (the port orders them); the consumer stores the released
 * position with Atomics.store only once nothing on its thread reads the region
 * any more, and the producer reads it with Atomics.load before reusing bytes.
 */
const HEADER_BYTES = 64;
const CAPACITY = 0;
const MAGIC = 1;
const RELEASED_POS = 2;
const CREATOR_THREAD = 3;
const CREATOR_SERIAL = 4;
const MAGIC_VALUE = 0x4e50_4152; // 'NPAR'
/** a retired arena's released space is handed back once this much has gathered (or all of it, once drained) */
const DISCARD_BATCH_BYTES = 1024 * 1024;
/** positions stay below 2^31 as Int32 values */
const MAX_CAPACITY = 2 ** 30;

interface HeldRegion {
  readonly view: Uint8Array;
  /** position just past the region (and its skipped tail, if any) */
  readonly end: number;
  released: boolean;
}

/** the consumer of each arena, found from any view it took (its own buffer object) */
const consumers = new WeakMap<ArrayBufferLike, PartArena>();
/**
 * The consumer of each arena by identity: a pooled arena posted again reaches
 * this thread as a new SharedArrayBuffer object over the same memory, and its
 * regions must go on being tracked by the one consumer that knows what is held.
 */
const consumersById = new Map<string, WeakRef<PartArena>>();
const forgetConsumer = new FinalizationRegistry<string>((id) => {
  if (consumersById.get(id)?.deref() === undefined) consumersById.delete(id);
});
let serial = 0;

function identityOf(header: Int32Array): string {
  return `${header[CREATOR_THREAD]}:${header[CREATOR_SERIAL]}`;
}

/**
 * Where a packager thread writes the bytes of CMAF parts so that the main
 * thread can serve them without a fresh allocation per part: a ring of
 * regions in shared memory, reused once delivery has dropped them.
 *
 * Why: a part in its own ArrayBuffer, transferred, costs twice on the main
 * thread: V8 counts every transferred buffer as external memory and starts
 * a full mark-compact of the main heap each time ~10 MB more arrive (every
 * ~3 s at four 6 Mb/s publishers), and every page of a fresh buffer is
 * faulted in and zeroed by the kernel. Shared memory is not counted (V8 does
 * not account SharedArrayBuffers per isolate), and a ring's pages are reused.
 *
 * Regions are released in any order (a stream's pending parts go before its
 * older segments); the ring's free space starts where the oldest region still
 * held begins. A region never released (a bug) stops reuse, not correctness:
 * allocate() then returns null and the caller falls back to its own buffer.
 *
 * The producer (allocate) and the consumer (take, release) are one thread
 * each. The consumer must release a region only when nothing reads its bytes
 * any more, including responses still being written: see media-response.ts,
 * which copies a shared body that a slow reader has not taken yet.
 */
export class PartArena {
  /** the shared memory; post it to the consumer and PartArena.attach() it there */
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly data: Uint8Array;
  /** producer: position of the next region */
  private head = 0;
  /** producer: the region allocate() returned last, and its position */
  private lastView: Uint8Array | null = null;
  private lastPosition = -1;
  /** consumer: regions taken and not yet freed for reuse (some released, behind an older one still held), oldest first */
  private readonly held: HeldRegion[] = [];
  private unreleased = 0;
  /** consumer: the producer moved on from this arena (see retire) */
  private retired = false;
  /** consumer, retired: where released space not yet handed back starts (discards are batched) */
  private discardFrom = 0;
  /** consumer: data bytes any region taken so far reached (pages touched, unless discarded since) */
  private touched = 0;

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.capacity = this.header[CAPACITY]!;
    this.data = new Uint8Array(buffer, HEADER_BYTES, this.capacity);
  }

  static create(capacity: number): PartArena {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
      throw new RangeError(`part arena capacity must be an integer in [1, ${MAX_CAPACITY}], got ${capacity}`);
    }
    const buffer = new SharedArrayBuffer(HEADER_BYTES + capacity);
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    header[CAPACITY] = capacity;
    header[MAGIC] = MAGIC_VALUE;
    header[CREATOR_THREAD] = threadId;
    header[CREATOR_SERIAL] = ++serial;
    return new PartArena(buffer);
  }

  /**
   * The consumer's side of an arena created on another thread; release() finds
   * it from any view it took. The same arena attached again (a pooled arena
   * reused by the producer's next connection) returns the same consumer.
   */
  static attach(buffer: SharedArrayBuffer): PartArena {
    if (buffer.byteLength < HEADER_BYTES) throw new RangeError('not a part arena: too small');
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (header[MAGIC] !== MAGIC_VALUE || header[CAPACITY]! + HEADER_BYTES !== buffer.byteLength) {
      throw new RangeError('not a part arena: bad header');
    }
    const id = identityOf(header);
    const known = consumersById.get(id)?.deref();
    if (known !== undefined) return known;
    const arena = new PartArena(buffer);
    consumers.set(buffer, arena);
    consumersById.set(id, new WeakRef(arena));
    forgetConsumer.register(arena, id);
    return arena;
  }

  /**
   * Frees the region `bytes` was taken as, if it came from an arena; any other
   * bytes (an ordinary buffer, a view already released) are ignored.
   */
  static release(bytes: Uint8Array): void {
    consumers.get(bytes.buffer)?.releaseView(bytes);
  }

  // producer ---------------------------------------------------------------

  /**
   * A region of `size` bytes to write a part into, or null when the ring has
   * no room for it now. An empty arena always fits half its capacity (a
   * larger region fits only if the head is placed right).
   */
  allocate(size: number): Uint8Array | null {
    const capacity = this.capacity;
    if (size <= 0 || size > capacity) return null;
    const released = Atomics.load(this.header, RELEASED_POS);
    const used = (this.head - released + 2 * capacity) % (2 * capacity);
    let start = this.head;
    let index = start % capacity;
    let needed = size;
    if (index + size > capacity) {
      needed += capacity - index; // skip the tail: regions never wrap
      start = (start + capacity - index) % (2 * capacity);
      index = 0;
    }
    if (used + needed > capacity) return null;
    this.head = (start + size) % (2 * capacity);
    this.lastPosition = start;
    this.lastView = this.data.subarray(index, index + size);
    return this.lastView;
  }

  /** Every region allocated so far has been released: a producer may hand the arena to another connection. */
  get drained(): boolean {
    return Atomics.load(this.header, RELEASED_POS) === this.head;
  }

  /**
   * The position of a region, for the consumer's take(): only of the one
   * allocate() returned last (a part is posted as soon as it is written),
   * which is what keeps regions taken in allocation order.
   */
  positionOf(view: Uint8Array): number {
    if (view !== this.lastView) throw new RangeError('positionOf: not the region allocated last');
    return this.lastPosition;
  }

  // consumer ---------------------------------------------------------------

  /**
   * The view of a region the producer allocated at `position` (its
   * positionOf) and filled; regions must be taken in the order
   * they were allocated. Release it with PartArena.release(view).
   */
  take(position: number, length: number): Uint8Array {
    const capacity = this.capacity;
    if (!Number.isInteger(position) || position < 0 || position >= 2 * capacity) {
      throw new RangeError(`part arena position ${position} out of range`);
    }
    const index = position % capacity;
    if (!Number.isInteger(length) || length <= 0 || index + length > capacity) {
      throw new RangeError(`part arena region [${index}, +${length}) out of range`);
    }
    const view = new Uint8Array(this.buffer, HEADER_BYTES + index, length);
    if (index + length > this.touched) this.touched = index + length;
    this.retired = false; // a region taken: the producer writes here again (a pooled arena reused)
    this.held.push({ view, end: (position + length) % (2 * capacity), released: false });
    this.unreleased++;
    return view;
  }

  /** Regions taken and not released yet. */
  get heldRegions(): number {
    return this.unreleased;
  }

  /**
   * Consumer: the producer moved on (a larger or smaller arena replaced this one, or its
   * output ended), so from now on the bytes of each region released are handed back to
   * the kernel (discardPages) before the producer may reuse them, and the last release
   * returns the whole arena: memory follows what the store still holds, not the largest
   * the stream ever needed. Undone by attaching the arena again (a pooled arena reused).
   */
  retire(): void {
    // Nothing is discarded here: a drained arena may already be written again by the producer's next
    // output (its announcement comes on another port); only a release, which precedes that, may discard.
    if (!this.retired) this.discardFrom = Atomics.load(this.header, RELEASED_POS);
    this.retired = true;
  }

  /**
   * Bytes of this arena's data area resident in memory, as far as the consumer knows: what
   * its regions reached while in use, and once retired only what is still held (with the
   * native addon; without it, retired memory stays until the buffer is collected).
   */
  get residentBytes(): number {
    if (!this.retired || !canDiscardPages) return this.touched;
    if (this.held.length === 0) return this.touched; // 0 once drained (discarded whole)
    return (this.held[this.held.length - 1]!.end - this.discardFrom + 2 * this.capacity) % (2 * this.capacity);
  }

  /** Every arena attached on this thread and still reachable: their resident bytes together. */
  static residentBytesOnThread(): number {
    let total = 0;
    for (const ref of consumersById.values()) total += ref.deref()?.residentBytes ?? 0;
    return total;
  }

  private releaseView(view: Uint8Array): void {
    const held = this.held;
    let i = 0;
    while (i < held.length && held[i]!.view !== view) i++;
    if (i === held.length || held[i]!.released) return; // released before (or never taken): nothing to do
    held[i]!.released = true;
    this.unreleased--;
    let end = -1;
    while (held.length > 0 && held[0]!.released) end = held.shift()!.end;
    if (end < 0) return;
    // A retired arena is written again only once drained, so released space may be handed back in
    // batches (each madvise flushes the TLBs of every core running this process: not once per part);
    // the whole arena before the store that makes it drained, or the discard would race the producer's reuse.
    if (this.retired && canDiscardPages) {
      if (held.length === 0) this.discardRange(0, this.capacity); // drained: the whole arena, its free tail included
      else if ((end - this.discardFrom + 2 * this.capacity) % (2 * this.capacity) >= DISCARD_BATCH_BYTES) {
        this.discardPositions(this.discardFrom, end);
        this.discardFrom = end;
      }
    }
    Atomics.store(this.header, RELEASED_POS, end);
  }

  /** Discards the data between two positions (from → to, going round the ring). */
  private discardPositions(from: number, to: number): void {
    const capacity = this.capacity;
    const length = (to - from + 2 * capacity) % (2 * capacity);
    const index = from % capacity;
    if (index + length <= capacity) this.discardRange(index, length);
    else {
      this.discardRange(index, capacity - index);
      this.discardRange(0, length - (capacity - index));
    }
  }

  private discardRange(index: number, length: number): void {
    if (length <= 0) return;
    discardPages(this.data.subarray(index, index + length));
    if (index === 0 && length === this.capacity) this.touched = 0;
  }
}

/**
 * A producer thread's arenas, kept for its next connections instead of being
 * left to the garbage collector: V8 does not count shared memory, so an
 * arena dropped by both threads may wait a long time for a collection (the
 * main thread allocates little), and every new one is fresh pages for the
 * kernel to fault in. An arena handed back is reused once drained (the
 * segment store let go of every part in it, up to its ended-stream grace);
 * resident part memory is then bounded by the most arenas ever in use at once.
 */
export class PartArenaPool {
  private readonly idle: PartArena[] = [];

  /** @param maxIdle arenas kept beyond this are dropped, oldest first (left to the collector) */
  constructor(private readonly maxIdle: number) {}

  /**
   * A drained idle arena of at least `capacity` bytes and at most a quarter more (the smallest),
   * else a new one of `capacity`: a much larger arena would be cycled through whole, and its
   * pages made resident, by a stream that needs less.
   */
  acquire(capacity: number): PartArena {
    let best = -1;
    for (let i = 0; i < this.idle.length; i++) {
      const arena = this.idle[i]!;
      if (arena.capacity >= capacity && arena.capacity <= capacity * 1.25 && arena.drained && (best < 0 || arena.capacity < this.idle[best]!.capacity)) best = i;
    }
    if (best < 0) return PartArena.create(capacity);
    return this.idle.splice(best, 1)[0]!;
  }

  /** An arena its connection no longer writes to; parts in it may still be held (it is reused once drained). */
  giveBack(arena: PartArena): void {
    this.idle.push(arena);
    if (this.idle.length > this.maxIdle) this.idle.shift();
  }

  get idleCount(): number {
    return this.idle.length;
  }
}

/** This thread's arenas between outputs (module state: each thread has its own). */
const threadPool = new PartArenaPool(64);

export interface PartArenaLimits {
  /** an output's first arena: a few seconds of a typical stream, before its rate is known */
  initialBytes: number;
  /** no arena is made larger than this; past it, parts get buffers of their own */
  maxBytes: number;
  /**
   * Media time the consumer keeps an output's parts for (the segment store's playlist window,
   * the segments kept after it and the one in progress): an arena is sized to hold this much
   * at the output's measured rate.
   */
  retainMs: number;
}

/**
 * 1 MiB to start (~2.8 s of 3 Mb/s, ~1.4 s of 6 Mb/s): the first arena is replaced once full by one
 * sized from the measured rate. At most 64 MiB, what the store keeps of one stream (maxStreamBytes).
 * 16 s: 6 segments listed, 1 kept after them and 1 in progress, of 2 s (the segment store's defaults).
 */
export const DEFAULT_PART_ARENA_LIMITS: PartArenaLimits = { initialBytes: 1024 * 1024, maxBytes: 64 * 1024 * 1024, retainMs: 16_000 };

/** an arena holds this much more than the retained media at the measured rate: rates vary from GOP to GOP */
const SIZE_MARGIN = 1.1;
/** arena sizes are multiples of this (fewer distinct sizes, so pooled arenas fit later outputs) */
const SIZE_STEP = 64 * 1024;
/** the shortest stretch a rate is measured over before it sizes an arena (else the arena doubles) */
const MIN_RATE_MS = 500;

/**
 * The producer's side for one output (an ingest connection, a stream's
 * transcoder): the arena its packagers write parts into, given back to the
 * thread's pool at the end. `allocate` is the Segmenter's allocatePart.
 *
 * Sizing: the first arena is small; when one is full it is replaced by one
 * holding `retainMs` of the output at the rate measured since it started
 * (plus a margin), and every `retainMs` an arena more than twice what the
 * recent rate needs is replaced by a smaller one. A replaced arena is never
 * reallocated or moved: the consumer still serves the parts in it, and
 * returns its memory region by region as they are released (PartArena.retire).
 */
export class PartArenaWriter {
  /** parts that got a buffer of their own since the last look (the arena was full at its largest) */
  fallbacks = 0;
  readonly allocate = (size: number): Uint8Array => this.allocateBytes(size);
  private arena: PartArena | null = null;
  private closed = false;
  /** bytes allocated since the output's first part, and when that was */
  private totalBytes = 0;
  private startedAt = Number.NaN;
  /** bytes allocated since the last look at whether the arena is too large, and when that was */
  private recentBytes = 0;
  private recentSince = Number.NaN;
  private largestPart = 0;

  /** @param announce posts an arena to the consumer, ahead of every part in it, on the same port */
  constructor(
    private readonly limits: PartArenaLimits,
    private readonly announce: (buffer: SharedArrayBuffer) => void,
    private readonly pool: PartArenaPool = threadPool,
    private readonly now: () => number = Date.now,
  ) {}

  /** The current arena's size, 0 before the first part. */
  get capacity(): number {
    return this.arena?.capacity ?? 0;
  }

  /** Where `bytes` lie in the current arena (for the consumer's take), or -1 when they are a buffer of their own. */
  positionOf(bytes: Uint8Array): number {
    const arena = this.arena;
    return arena !== null && bytes.buffer === arena.buffer ? arena.positionOf(bytes) : -1;
  }

  /** The output wrote its last part: the arena goes back to the pool (reused once the consumer let go of it all). */
  close(): void {
    if (this.arena !== null) this.pool.giveBack(this.arena);
    this.arena = null;
    this.closed = true;
  }

  /**
   * A region for a part that will be sent (every part allocated here must reach the consumer,
   * or its region is never released and the arena stops being reused).
   */
  private allocateBytes(size: number): Uint8Array {
    if (this.closed) return new Uint8Array(size);
    const now = this.now();
    if (Number.isNaN(this.startedAt)) {
      this.startedAt = now;
      this.recentSince = now;
    }
    this.totalBytes += size;
    this.recentBytes += size;
    if (size > this.largestPart) this.largestPart = size;
    let arena = this.arena ?? this.replace(this.limits.initialBytes);
    if (now - this.recentSince >= this.limits.retainMs) {
      // the window moved on at a lower rate than the arena was sized for: a smaller one, the old one returned as it drains
      const wanted = this.sizeFor(this.recentBytes / (now - this.recentSince));
      if (wanted * 2 < arena.capacity && wanted >= this.limits.initialBytes) arena = this.replace(wanted);
      this.recentBytes = 0;
      this.recentSince = now;
    }
    const bytes = arena.allocate(size);
    if (bytes !== null) return bytes;
    const elapsed = now - this.startedAt;
    // the bytes before this part, over the time they took (this one's time has not passed yet)
    const measured = elapsed >= MIN_RATE_MS ? this.sizeFor((this.totalBytes - size) / elapsed) : arena.capacity * 2;
    const wanted = Math.min(this.limits.maxBytes, Math.max(measured, roundUp(arena.capacity * 1.25), roundUp(size * 2)));
    if (wanted > arena.capacity) {
      const grown = this.replace(wanted).allocate(size);
      if (grown !== null) return grown;
    }
    this.fallbacks++;
    return new Uint8Array(size);
  }

  /** The arena size holding retainMs at `bytesPerMs`, with the margin and room for a skipped tail (a region never wraps). */
  private sizeFor(bytesPerMs: number): number {
    return Math.min(this.limits.maxBytes, roundUp(bytesPerMs * this.limits.retainMs * SIZE_MARGIN + 2 * this.largestPart));
  }

  private replace(capacity: number): PartArena {
    if (this.arena !== null) this.pool.giveBack(this.arena);
    const arena = this.pool.acquire(capacity);
    this.arena = arena;
    this.announce(arena.buffer);
    return arena;
  }
}

function roundUp(bytes: number): number {
  return Math.ceil(bytes / SIZE_STEP) * SIZE_STEP;
}
