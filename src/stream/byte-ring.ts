import { NovaError } from '../errors.js';
import { copyBytes } from './shared-copy.js';
import { discardPages } from './discard-pages.js';

/*
 * Layout of the SharedArrayBuffer:
 *   bytes 0..63    Int32 header words written by the producer (write position,
 *                  notify counter, closed flag) plus the immutable capacity and
 *                  magic, the space-wait handshake (writer-waiting flag, space counter)
 *                  the reader-waiting flag that lets notify() skip Atomics.notify,
 *                  and the consumer-attached flag (written once by the consumer)
 *   bytes 64..127  the read position, alone on its cache line (written by the consumer)
 *   bytes 128..    the data area, `capacity` bytes, a multiple of 4
 *
 * Positions run over [0, 2 × capacity) so that "full" (write − read = capacity)
 * and "empty" (write = read) differ without a separate counter; the byte index
 * is the position modulo capacity.
 *
 * A record is a little-endian uint32 length, the payload, and padding to a
 * multiple of 4. Records are 4-aligned, so a length prefix never straddles
 * the end of the data area; the payload may, and is then written in two
 * pieces and copied out in one (split copy rather than a padding marker,
 * so any record up to capacity − 4 bytes always fits an empty ring).
 *
 * Memory ordering: payload bytes are plain stores, and the position that
 * publishes them is an Atomics.store (sequentially consistent); the other side
 * reads the position with Atomics.load before touching the bytes.
 */
const HEADER_BYTES = 128;
const WRITE_POS = 0;
const NOTIFY_SEQ = 1;
const CLOSED = 2;
const CAPACITY = 3;
const MAGIC = 4;
const SPACE_SEQ = 5;
const WRITER_WAITING = 6;
/** set by the consumer while it waits in waitForData(): only then does notify() pay for Atomics.notify */
const READER_WAITING = 7;
/** set once by the consumer when it attaches: lets the producer tell "full, reader behind" from "nobody reads" */
const CONSUMER_ATTACHED = 8;
const READ_POS = 16;
const MAGIC_VALUE = 0x4e52_4247; // 'NRBG'
const LENGTH_PREFIX_BYTES = 4;
/** positions must stay below 2^31 as Int32 values: 2 × capacity ≤ 2^31 */
const MAX_CAPACITY = 2 ** 30;

type WaitAsyncResult = { async: false; value: 'not-equal' | 'timed-out' } | { async: true; value: Promise<'ok' | 'timed-out'> };
type WaitAsync = (array: Int32Array, index: number, value: number, timeout?: number) => WaitAsyncResult;
/** Atomics.waitAsync is in Node 20 (V8 ≥ 8.7) but in TypeScript's ES2024 lib only. */
const waitAsync = (Atomics as unknown as { waitAsync: WaitAsync }).waitAsync;

/**
 * Node does not count a pending Atomics.waitAsync as work keeping the event
 * loop alive (a lone waiter lets the thread exit mid-wait), so a timer of the
 * same length holds it open, and settles the wait itself if it fires first.
 */
function settle(result: WaitAsyncResult, timeoutMs: number): Promise<'ok' | 'timed-out'> {
  if (!result.async) return Promise.resolve(result.value === 'timed-out' ? 'timed-out' : 'ok');
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, timeoutMs, 'timed-out');
    result.value.then((outcome) => {
      clearTimeout(timer);
      resolve(outcome === 'timed-out' ? 'timed-out' : 'ok');
    }, () => resolve('ok'));
  });
}

function align4(value: number): number {
  return (value + 3) & ~3;
}

/**
 * Single-producer single-consumer ring of variable-length byte records over
 * a SharedArrayBuffer, for handing bytes between threads without copies
 * beyond the one into and the one out of the ring (zero when the record is
 * contiguous and the consumer reads the view).
 *
 * Exactly one thread may call the producer methods (tryWrite, waitForSpace, notify, close)
 * and exactly one the consumer methods (read, release, waitForData).
 */
export class ByteRing {
  /** the shared memory; post it to the other thread and ByteRing.attach() it there */
  readonly buffer: SharedArrayBuffer;
  readonly capacity: number;
  private readonly header: Int32Array;
  private readonly data: Uint8Array;
  private readonly words: Uint32Array;
  private readonly positionLimit: number;
  /** consumer: bytes of the record last returned as a view into the ring, freed on the next read()/release() */
  private pendingRelease = 0;
  /** consumer: where split records are joined; grows, never shrinks */
  private scratch = new Uint8Array(0);

  private constructor(buffer: SharedArrayBuffer) {
    this.buffer = buffer;
    this.header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.capacity = this.header[CAPACITY];
    this.data = new Uint8Array(buffer, HEADER_BYTES, this.capacity);
    this.words = new Uint32Array(buffer, HEADER_BYTES, this.capacity / 4);
    this.positionLimit = this.capacity * 2;
  }

  /** A new ring with room for `capacityBytes` (rounded up to a multiple of 4) of records including their 4-byte prefixes. */
  static create(capacityBytes: number): ByteRing {
    if (!Number.isInteger(capacityBytes) || capacityBytes < 8 || capacityBytes > MAX_CAPACITY) {
      throw new NovaError('NOVA_ERR_CONFIG', `ring capacity must be an integer in [8, ${MAX_CAPACITY}], got ${capacityBytes}`);
    }
    const capacity = align4(capacityBytes);
    const buffer = new SharedArrayBuffer(HEADER_BYTES + capacity);
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    header[CAPACITY] = capacity;
    header[MAGIC] = MAGIC_VALUE;
    return new ByteRing(buffer);
  }

  /** The same ring seen from another thread. */
  static attach(buffer: SharedArrayBuffer): ByteRing {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength < HEADER_BYTES + 8) {
      throw new NovaError('NOVA_ERR_INTERNAL', 'not a ByteRing buffer');
    }
    const header = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    if (header[MAGIC] !== MAGIC_VALUE || header[CAPACITY] + HEADER_BYTES !== buffer.byteLength) {
      throw new NovaError('NOVA_ERR_INTERNAL', 'not a ByteRing buffer (bad magic or size)');
    }
    return new ByteRing(buffer);
  }

  /** Bytes taken by unread records (prefixes and padding included; the record last read as a view counts until released). */
  get bytesUsed(): number {
    const used = Atomics.load(this.header, WRITE_POS) - Atomics.load(this.header, READ_POS);
    return used >= 0 ? used : used + this.positionLimit;
  }

  /** Consumer: announces that someone reads this ring (see hasConsumer). */
  markConsumerAttached(): void {
    Atomics.store(this.header, CONSUMER_ATTACHED, 1);
  }

  /** Producer: whether a consumer has ever attached; a full ring without one will never drain. */
  get hasConsumer(): boolean {
    return Atomics.load(this.header, CONSUMER_ATTACHED) === 1;
  }

  /** Set by the producer's close(): no record will follow the ones already written. */
  get closed(): boolean {
    return Atomics.load(this.header, CLOSED) === 1;
  }

  /** The space a record of `payloadBytes` takes, for callers sizing rings. */
  static recordBytes(payloadBytes: number): number {
    return LENGTH_PREFIX_BYTES + align4(payloadBytes);
  }

  /**
   * Empties the ring for reuse by a new producer/consumer pair. Only when
   * neither side is using it any more (the old consumer's task has returned):
   * reusing rings instead of allocating one per connection keeps the process
   * from fragmenting its heap with short-lived multi-MiB buffers.
   */
  reset(): void {
    Atomics.store(this.header, WRITE_POS, 0);
    Atomics.store(this.header, READ_POS, 0);
    Atomics.store(this.header, CLOSED, 0);
    Atomics.store(this.header, WRITER_WAITING, 0);
    Atomics.store(this.header, READER_WAITING, 0);
    this.pendingRelease = 0;
  }

  /**
   * Hands the data area's pages back to the kernel (see discardPages): for a ring kept idle
   * for reuse, which neither side reads or writes. Its records are gone (reset() it too).
   */
  discardData(): void {
    discardPages(this.data);
  }

  // --- producer ----------------------------------------------------------

  /**
   * Appends one record made of the concatenation of `parts`. Returns false
   * when the ring lacks room (nothing written: apply backpressure and retry).
   * Throws NovaError when the record could never fit. Readers are not woken:
   * call notify() once per batch.
   */
  tryWrite(...parts: Uint8Array[]): boolean {
    let length = 0;
    for (let i = 0; i < parts.length; i++) length += parts[i].length;
    const needed = LENGTH_PREFIX_BYTES + align4(length);
    if (needed > this.capacity) {
      throw new NovaError(
        'NOVA_ERR_PAYLOAD_TOO_LARGE',
        `record of ${length} bytes exceeds ring capacity ${this.capacity} (including its 4-byte prefix)`,
      );
    }
    const writePos = Atomics.load(this.header, WRITE_POS);
    let used = writePos - Atomics.load(this.header, READ_POS);
    if (used < 0) used += this.positionLimit;
    if (this.capacity - used < needed) return false;

    const capacity = this.capacity;
    let index = writePos >= capacity ? writePos - capacity : writePos;
    this.words[index >>> 2] = length;
    index += LENGTH_PREFIX_BYTES;
    if (index === capacity) index = 0;
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      const room = capacity - index;
      if (part.length <= room) {
        copyBytes(this.data, index, part);
        index += part.length;
        if (index === capacity) index = 0;
      } else {
        copyBytes(this.data, index, part.subarray(0, room));
        copyBytes(this.data, 0, part.subarray(room));
        index = part.length - room;
      }
    }
    let next = writePos + needed;
    if (next >= this.positionLimit) next -= this.positionLimit;
    Atomics.store(this.header, WRITE_POS, next);
    return true;
  }

  /**
   * Wakes a consumer blocked in waitForData(). Cheap when it is not waiting:
   * Atomics.notify on an async waiter posts a task across threads (it was the
   * main thread's largest cost at ingest, once per socket read), so it is only
   * called when the consumer said it waits. The sequence counter always moves,
   * so a consumer about to wait sees the change and does not sleep.
   */
  notify(): void {
    Atomics.add(this.header, NOTIFY_SEQ, 1);
    if (Atomics.load(this.header, READER_WAITING) === 1) {
      Atomics.store(this.header, READER_WAITING, 0);
      Atomics.notify(this.header, NOTIFY_SEQ);
    }
  }

  /**
   * Producer backpressure: resolves 'ok' once a record of `payloadBytes`
   * fits (at once if it already does), 'timed-out' after `timeoutMs`. The
   * consumer wakes it only while it waits, so reads cost one Atomics.load
   * otherwise.
   */
  waitForSpace(payloadBytes: number, timeoutMs: number): Promise<'ok' | 'timed-out'> {
    const needed = LENGTH_PREFIX_BYTES + align4(payloadBytes);
    if (needed > this.capacity) {
      throw new NovaError('NOVA_ERR_PAYLOAD_TOO_LARGE', `record of ${payloadBytes} bytes exceeds ring capacity ${this.capacity}`);
    }
    Atomics.store(this.header, WRITER_WAITING, 1);
    const seq = Atomics.load(this.header, SPACE_SEQ);
    if (this.capacity - this.bytesUsed >= needed) {
      Atomics.store(this.header, WRITER_WAITING, 0);
      return Promise.resolve('ok');
    }
    return settle(waitAsync(this.header, SPACE_SEQ, seq, timeoutMs), timeoutMs);
  }

  /** Marks the end of the stream of records and wakes the consumer. */
  close(): void {
    Atomics.store(this.header, CLOSED, 1);
    this.notify();
  }

  // --- consumer ----------------------------------------------------------

  /**
   * The next record, or null when none is available (check `closed` to tell
   * "not yet" from "never": closed and null ⇒ done).
   *
   * With `target` (large enough, else NovaError): the record is copied into
   * it, its ring space is freed at once, and target.subarray(0, length) is
   * returned.
   * Without: a contiguous record is returned as a view into the shared
   * memory (no copy); its space stays reserved until the next read() or
   * release(), so the view is valid until then. A record that wraps around
   * the end is copied into an internal scratch buffer, likewise valid until
   * the next read().
   */
  read(target?: Uint8Array): Uint8Array | null {
    if (this.pendingRelease !== 0) this.release();
    const readPos = Atomics.load(this.header, READ_POS);
    if (Atomics.load(this.header, WRITE_POS) === readPos) return null;

    const capacity = this.capacity;
    const index = readPos >= capacity ? readPos - capacity : readPos;
    const length = this.words[index >>> 2];
    const needed = LENGTH_PREFIX_BYTES + align4(length);
    let start = index + LENGTH_PREFIX_BYTES;
    if (start === capacity) start = 0;
    const contiguous = start + length <= capacity;

    if (target === undefined && contiguous) {
      this.pendingRelease = needed;
      return this.data.subarray(start, start + length);
    }
    let out: Uint8Array;
    if (target !== undefined) {
      if (target.length < length) {
        throw new NovaError('NOVA_ERR_INTERNAL', `read target of ${target.length} bytes is smaller than the ${length}-byte record`);
      }
      out = target;
    } else {
      if (this.scratch.length < length) this.scratch = new Uint8Array(Math.max(length, this.scratch.length * 2));
      out = this.scratch;
    }
    if (contiguous) {
      copyBytes(out, 0, this.data.subarray(start, start + length));
    } else {
      const firstPiece = capacity - start;
      copyBytes(out, 0, this.data.subarray(start, capacity));
      copyBytes(out, firstPiece, this.data.subarray(0, length - firstPiece));
    }
    this.advanceRead(readPos, needed);
    return out.subarray(0, length);
  }

  /** Frees the record last returned as a view (read() does this itself on its next call). */
  release(): void {
    if (this.pendingRelease === 0) return;
    const needed = this.pendingRelease;
    this.pendingRelease = 0;
    this.advanceRead(Atomics.load(this.header, READ_POS), needed);
  }

  /**
   * Resolves 'ok' as soon as a record is available or the ring is closed
   * (immediately when that is already so), 'timed-out' after `timeoutMs`.
   * Wakes only on the producer's notify()/close(). The wait keeps the event
   * loop alive (Node's waitAsync alone would not).
   */
  waitForData(timeoutMs: number): Promise<'ok' | 'timed-out'> {
    // Flag first, then the counter, then the data (all sequentially consistent): a producer
    // that missed the flag wrote its record and bumped the counter before we look at either.
    Atomics.store(this.header, READER_WAITING, 1);
    const seq = Atomics.load(this.header, NOTIFY_SEQ);
    if (this.hasUnread() || this.closed) {
      Atomics.store(this.header, READER_WAITING, 0);
      return Promise.resolve('ok');
    }
    return settle(waitAsync(this.header, NOTIFY_SEQ, seq, timeoutMs), timeoutMs);
  }

  private hasUnread(): boolean {
    let readPos = Atomics.load(this.header, READ_POS) + this.pendingRelease;
    if (readPos >= this.positionLimit) readPos -= this.positionLimit;
    return Atomics.load(this.header, WRITE_POS) !== readPos;
  }

  private advanceRead(readPos: number, bytes: number): void {
    let next = readPos + bytes;
    if (next >= this.positionLimit) next -= this.positionLimit;
    Atomics.store(this.header, READ_POS, next);
    if (Atomics.load(this.header, WRITER_WAITING) === 1) {
      Atomics.store(this.header, WRITER_WAITING, 0);
      Atomics.add(this.header, SPACE_SEQ, 1);
      Atomics.notify(this.header, SPACE_SEQ);
    }
  }
}
