/**
 * A publishing connection's look at its ingress ring, shared by the pool task
 * (workers/ingest-connection.worker.ts) and the start-up warm-up (warm-start-worker.ts):
 * the warm-up runs these very functions, so V8 has optimized them, with a live stream's
 * feedback, before the first publisher comes.
 */
import type { ByteRing } from '../stream/byte-ring.js';
import type { IngestConnection } from './ingest-connection.js';
import type { IngestLimits } from './ingest-messages.js';

/** each ring record: the receive time (epoch ms, float64 little-endian), then the socket bytes */
export const RECEIVED_AT_BYTES = 8;

/** the longest a publishing connection's bytes wait in its ring for their part to be due */
export const MAX_BATCH_MS = 250;

/** Pushes every record waiting in the ring into the connection; returns how many there were. */
export function pushRingRecords(ring: ByteRing, connection: IngestConnection): number {
  let records = 0;
  let record = ring.read();
  while (record !== null) {
    const receivedAt = new DataView(record.buffer, record.byteOffset, RECEIVED_AT_BYTES).getFloat64(0, true);
    connection.push(record.subarray(RECEIVED_AT_BYTES), receivedAt);
    records++;
    record = ring.read();
  }
  return records;
}

/**
 * A publishing connection next looks at its ring when its next part is due (each wake costs
 * ~40–100 µs of a thread's CPU on a VM, more than the few frames a tick brings at one
 * publisher), or on the next tick when frames are wanted as they come or a part is overdue.
 */
export function nextLookAt(connection: IngestConnection, now: number, limits: IngestLimits): number {
  const due = connection.nextPartDueAt();
  if (Number.isNaN(due)) return now + limits.pollTickMs;
  return Math.min(Math.max(due, now), now + Math.min(limits.partTargetMs, MAX_BATCH_MS));
}

/** The first slot of the poll-tick grid (epoch ms, a multiple of the tick) at or after `at`. */
export function tickSlot(at: number, tickMs: number): number {
  return Math.ceil(at / tickMs) * tickMs;
}
