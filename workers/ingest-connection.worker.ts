import { ByteRing } from '../src/stream/byte-ring.js';
import { NovaError } from '../src/errors.js';
import { IngestConnection } from '../src/ingest/ingest-connection.js';
import { HANDSHAKE_PACKET_SIZE } from '../src/ingest/rtmp/handshake.js';
import { workerSocketReader } from '../src/ingest/native-ingress-reader.js';
import {
  IngressControl,
  type IngestCloseReason,
  type IngestTask,
  type MainToWorker,
  type WorkerToMain,
} from '../src/ingest/ingest-messages.js';
import { WorkerOutbox } from '../src/ingest/worker-outbox.js';
import { runWarmUp } from '../src/ingest/warm-start-worker.js';
import { nextLookAt, pushRingRecords, tickSlot } from '../src/ingest/ingest-look.js';

/** Piscina task by name (`pool.run(task, { name: 'warmUp' })`): the start-up warm-up, see src/ingest/warm-start.ts. */
export const warmUp = runWarmUp;

const STATS_INTERVAL_MS = 1000;
const WAIT_SLICE_MS = 250;
/** a connection that saw no bytes for this long goes back to being woken by notify() */
const POLL_WHILE_ACTIVE_MS = 200;

/** C0 + C1 + C2 */
const HANDSHAKE_BYTES = 1 + 2 * HANDSHAKE_PACKET_SIZE;

/**
 * A claimed socket (this thread reads it at its looks) is read by the native reader thread
 * after all once this many bytes wait in it: a publisher sending more than this between two
 * looks (over ~32 Mb/s at the longest batch), or this thread behind. Half the ring at most, so
 * the reader thread still finds room (this thread empties the ring at each look): with the
 * default 512 KiB ring, 256 KiB, a 250 ms batch of up to ~8 Mb/s.
 */
const CLAIMED_LOW_WATER_BYTES = 1024 * 1024;

/** pending wake-ups of this thread, by slot (epoch ms, a multiple of the poll tick) */
const wakeSlots = new Map<number, Promise<void>>();
/**
 * Resolves at the first slot of the poll-tick grid at or after `at`, one timer per slot for
 * all of this thread's connections: however many publishers and wherever their parts fall,
 * the thread wakes at most once a tick. While bytes flow, connections look at their rings on
 * these slots instead of being woken per socket read, and the producer's notify() stays a
 * plain atomic add (a cross-thread wake per read was the main thread's largest cost at ingest).
 */
function wakeAtSlot(at: number, tickMs: number): Promise<void> {
  const slot = tickSlot(at, tickMs);
  let wake = wakeSlots.get(slot);
  if (wake === undefined) {
    wake = new Promise((resolve) =>
      setTimeout(() => {
        wakeSlots.delete(slot);
        resolve();
      }, slot - Date.now()),
    );
    wakeSlots.set(slot, wake);
  }
  return wake;
}

/**
 * Piscina task: runs one RTMP connection for its whole life. A thin adapter
 * (hls.js's transmuxer-worker pattern): bytes from the shared ingress ring
 * into IngestConnection, its messages out through the task's MessagePort.
 * Many connections share a worker (concurrentTasksPerWorker): each waits
 * with Atomics.waitAsync, never blocking the thread.
 */
export default async function runIngestConnection(task: IngestTask): Promise<IngestCloseReason> {
  const ring = ByteRing.attach(task.ingress);
  const control = new Int32Array(task.control);
  const port = task.port;
  const outbox = new WorkerOutbox(port);
  const emit = (message: WorkerToMain, transfer?: ArrayBuffer[]): void => outbox.send(message, transfer);
  const connection = new IngestConnection(task.limits, emit);
  port.on('message', (message: MainToWorker) => connection.handle(message));
  // While media flows this thread reads the socket itself at its looks, so the native reader
  // thread does not wake for it (see native/ingress-reader); null: the reader thread (or main) reads.
  const handle = task.nativeHandle ?? -1;
  const socketReader = handle < 0 ? null : workerSocketReader();
  const lowWaterBytes = Math.min(CLAIMED_LOW_WATER_BYTES, Math.floor(ring.capacity / 2));
  let claimed = false;

  const startedAt = Date.now();
  let lastDataAt = startedAt;
  let lastStatsAt = startedAt;
  let reason: IngestCloseReason = 'disconnected';
  let error: NovaError | null = null;

  try {
    for (;;) {
      outbox.begin(); // what this look emits leaves as one message
      if (claimed && socketReader?.read(handle) === 'gone') claimed = false; // closed: socketClosed is set, the loop ends below
      if (pushRingRecords(ring, connection) > 0) lastDataAt = Date.now();
      if (Atomics.load(control, IngressControl.producerPaused) === 1) {
        Atomics.store(control, IngressControl.producerPaused, 0);
        emit({ type: 'resume_producer' });
      }
      const now = Date.now();
      if (now - lastStatsAt >= STATS_INTERVAL_MS && connection.isPublishing()) {
        connection.flushStats();
        lastStatsAt = now;
      }
      if (Atomics.load(control, IngressControl.stopRequested) === 1) {
        reason = 'stopped';
        break;
      }
      if (Atomics.load(control, IngressControl.socketClosed) === 1 && ring.bytesUsed === 0) {
        // A peer that sent part of a handshake and left is a broken client, worth a coded line;
        // one that connected and sent nothing is a port check, not worth one.
        const received = connection.bytesReceived;
        if (connection.state === 'handshake' && received > 0) {
          throw new NovaError('NOVA_ERR_RTMP_HANDSHAKE', `connection closed after ${received} of ${HANDSHAKE_BYTES} handshake bytes`);
        }
        reason = connection.wasUnpublished() ? 'unpublished' : 'disconnected';
        break;
      }
      if (connection.state === 'handshake' && now - startedAt > task.limits.handshakeTimeoutMs) {
        throw new NovaError('NOVA_ERR_RTMP_TIMEOUT', `no complete handshake within ${task.limits.handshakeTimeoutMs} ms`);
      }
      if (now - lastDataAt > task.limits.idleTimeoutMs) {
        // Coded, so a silent encoder or a peer stalled mid-message is logged and counted like any protocol fault;
        // the stream still ends as 'idle_timeout'.
        reason = 'idle_timeout';
        error = new NovaError('NOVA_ERR_RTMP_TIMEOUT', `no data for ${task.limits.idleTimeoutMs} ms (state ${connection.state})`);
        break;
      }
      outbox.end(); // the look is over: what it emitted leaves before this thread waits
      // Media flows: poll on the shared ticks. Handshake and commands are round trips the publisher waits on: be woken.
      if (connection.state === 'publishing' && now - lastDataAt < POLL_WHILE_ACTIVE_MS) {
        if (!claimed && socketReader !== null) claimed = socketReader.claim(handle, lowWaterBytes);
        await wakeAtSlot(nextLookAt(connection, now, task.limits), task.limits.pollTickMs);
      } else {
        if (claimed) {
          // no bytes for a while: the reader thread reads (and wakes this thread) as they come
          socketReader?.release(handle);
          claimed = false;
          continue; // bytes that came since the last look are in the ring now, or on their way with a wake
        }
        await ring.waitForData(WAIT_SLICE_MS);
      }
    }
  } catch (err) {
    reason = 'protocol_error';
    error =
      err instanceof NovaError ? err : new NovaError('NOVA_ERR_INTERNAL', err instanceof Error ? err.message : String(err));
  }
  if (claimed) socketReader?.release(handle);
  connection.finishStream(reason);
  emit(error ? { type: 'closed', reason, code: error.code, message: error.message } : { type: 'closed', reason });
  outbox.end();
  port.close();
  return reason;
}
