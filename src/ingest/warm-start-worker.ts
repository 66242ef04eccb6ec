import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { IngestConnection } from './ingest-connection.js';
import { WorkerOutbox } from './worker-outbox.js';
import { ByteRing } from '../stream/byte-ring.js';
import { recordWarmUpSession } from './warm-start-session.js';
import type { MainToWorker, WarmUpControl, WarmUpResult, WarmUpTask, WorkerToMain } from './ingest-messages.js';

const RECEIVED_AT_BYTES = 8;
/** ~ what the native reader hands over per look at 6 Mb/s on a 40 ms tick, rounded up */
const READ_BYTES = 32 * 1024;
const CHUNK_SIZE = 4096;

/**
 * A full collection of this worker's heap, when V8 lets us ask for one. Optimized code that
 * embeds objects of connections now gone is deoptimized at the first major GC after they die
 * ("weak objects"): collecting after each round makes that happen during the warm-up, and the
 * next round compiles the code again without them, instead of a burst under the first publishers.
 */
function collectGarbage(): void {
  v8.setFlagsFromString('--expose-gc');
  try {
    const gc = runInNewContext('gc') as (() => void) | undefined;
    if (typeof gc === 'function') gc();
  } finally {
    v8.setFlagsFromString('--no-expose-gc');
  }
}

/**
 * The worker's side of the warm-up: a recorded publish session replayed into fresh
 * IngestConnections, each read through a ByteRing record and an outbox look as
 * runIngestConnection does, so the per-frame path (RTMP chunks, FLV demux, H.264/AAC
 * parsing, CMAF parts and segments, MPEG-TS for some) runs on real objects of the real
 * classes until V8 has optimized it. Everything is dropped at the end.
 */
export async function runWarmUp(task: WarmUpTask): Promise<WarmUpResult> {
  const started = performance.now();
  const session = await recordWarmUpSession(task.flv, task.limits, {
    durationMs: task.durationMs,
    bitrateBps: task.bitrateBps,
    chunkSize: CHUNK_SIZE,
    readBytes: READ_BYTES,
  });
  const port = task.port;
  const outbox = new WorkerOutbox(port);
  const emit = (message: WorkerToMain, transfer?: ArrayBuffer[]): void => outbox.send(message, transfer);
  const ring = ByteRing.create(4 * ByteRing.recordBytes(READ_BYTES + RECEIVED_AT_BYTES));
  const header = new Uint8Array(RECEIVED_AT_BYTES);
  const headerView = new DataView(header.buffer);
  let connection: IngestConnection | null = null;
  let wake: (() => void) | null = null;
  port.on('message', (message: MainToWorker | WarmUpControl) => {
    if (message.type !== 'warm_up_ack' && message.type !== 'warm_up_connection_done') connection?.handle(message);
    if (message.type === 'warm_up_ack' || message.type === 'publish_accepted' || message.type === 'publish_rejected') {
      const resume = wake;
      wake = null;
      resume?.();
    }
  });
  const answered = (): Promise<void> => new Promise<void>((resolve) => (wake = resolve));

  let connections = 0;
  let bytes = 0;
  try {
    for (let round = 0; round < task.rounds; round++) {
      for (let i = 0; i < task.connectionsPerRound; i++) {
        const current = new IngestConnection(task.limits, emit);
        connection = current;
        for (let r = 0; r < session.reads.length; r++) {
          headerView.setFloat64(0, performance.timeOrigin + performance.now(), true);
          ring.tryWrite(header, session.reads[r]!);
          outbox.begin();
          let record = ring.read();
          while (record !== null) {
            const receivedAt = new DataView(record.buffer, record.byteOffset, RECEIVED_AT_BYTES).getFloat64(0, true);
            current.push(record.subarray(RECEIVED_AT_BYTES), receivedAt);
            record = ring.read();
          }
          if (task.tsEvery > 0 && connections % task.tsEvery === 0 && r === session.publishRead + 1) current.handle({ type: 'ts_wanted' });
          const waitForAnswer = r === session.publishRead ? answered() : null;
          outbox.end();
          if (waitForAnswer !== null) await waitForAnswer;
        }
        outbox.begin();
        current.finishStream('unpublished');
        outbox.end();
        const released = answered();
        port.postMessage({ type: 'warm_up_connection_done' } satisfies WarmUpControl);
        await released;
        connection = null;
        connections++;
        bytes += session.bytes;
      }
      // not after the last round: its code would be dropped with its objects and compiled again under the first publisher
      if (round < task.rounds - 1) collectGarbage();
    }
  } finally {
    port.close();
  }
  return { connections, bytes, ms: performance.now() - started };
}
