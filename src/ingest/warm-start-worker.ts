import { runInNewContext } from 'node:vm';
import v8 from 'node:v8';
import { performance } from 'node:perf_hooks';
import { IngestConnection } from './ingest-connection.js';
import { WorkerOutbox } from './worker-outbox.js';
import { ByteRing } from '../stream/byte-ring.js';
import { recordWarmUpSession, type WarmUpSession } from './warm-start-session.js';
import { RECEIVED_AT_BYTES, nextLookAt, pushRingRecords, tickSlot } from './ingest-look.js';
import type { IngestLimits, MainToWorker, WarmUpControl, WarmUpResult, WarmUpTask, WorkerToMain } from './ingest-messages.js';

/** the ingress ring's size (RTMP_INGRESS_RING_BYTES' default), so records wrap where a live ring's do */
const RING_BYTES = 512 * 1024;
/** the most the worker reads from its claimed socket per recvmsg (native/ingress-reader: kClaimedMaxRead) */
const READ_BYTES = 16 * 1024;
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
 *
 * Once publishing, the replay is paced like a live stream on a clock of its own (no waiting):
 * each look gets what a real-time publisher sent since the last one, in the pieces the worker
 * reads a claimed socket in, stamped as the native reader stamps them, and the next look is
 * when runIngestConnection would make it (nextLookAt on the poll-tick grid), with its stats
 * each second: the branches and types a live stream brings are those V8 has seen, so what it
 * optimized here is not deoptimized and compiled again under the first publisher.
 */
export async function runWarmUp(task: WarmUpTask): Promise<WarmUpResult> {
  const started = performance.now();
  const session = await recordWarmUpSession(task.flv, task.limits, {
    durationMs: task.durationMs,
    bitrateBps: task.bitrateBps,
    chunkSize: CHUNK_SIZE,
  });
  const longSession = await recordWarmUpSession(task.flv, task.limits, {
    durationMs: task.longDurationMs,
    bitrateBps: task.longBitrateBps,
    chunkSize: CHUNK_SIZE,
    startMs: task.longStartMs,
  });
  const port = task.port;
  const ring = ByteRing.create(RING_BYTES);
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
  const write = (bytes: Uint8Array, receivedAt: number): void => {
    headerView.setFloat64(0, receivedAt, true);
    if (ring.tryWrite(header, bytes)) return;
    pushRingRecords(ring, connection!); // full (not at these bitrates: a look brings a fraction of the ring)
    ring.tryWrite(header, bytes);
  };

  let connections = 0;
  let bytes = 0;
  try {
    for (let round = 0; round < task.rounds; round++) {
      for (let i = 0; i < task.connectionsPerRound; i++) {
        // an outbox and emit of its own, as runIngestConnection makes: call sites that only ever saw
        // one emit closure would be specialized to it, and a publisher's is another
        const outbox = new WorkerOutbox(port);
        const emit = (message: WorkerToMain, transfer?: ArrayBuffer[]): void => outbox.send(message, transfer);
        // the long one runs on the replay's clock, so what happens after seconds of a stream happens in it
        const long = round === 0 && i === task.connectionsPerRound - 1;
        const played = long ? longSession : session;
        const clock = { at: Date.now() };
        const current = long ? new IngestConnection(task.limits, emit, () => clock.at) : new IngestConnection(task.limits, emit);
        connection = current;
        const reads = connections % 2 === 0 ? played.commandReads : joinedC2(played.commandReads);
        for (let r = 0; r < reads.length; r++) {
          outbox.begin();
          write(reads[r]!, Date.now());
          pushRingRecords(ring, current);
          const waitForAnswer = r === reads.length - 1 ? answered() : null;
          outbox.end();
          if (waitForAnswer !== null) await waitForAnswer;
        }
        if (task.tsEvery > 0 && connections % task.tsEvery === 0) current.handle({ type: 'ts_wanted' });
        replayPaced(played, current, task.limits, outbox, ring, write, clock);
        outbox.begin();
        current.finishStream('unpublished');
        outbox.end();
        const released = answered();
        port.postMessage({ type: 'warm_up_connection_done' } satisfies WarmUpControl);
        await released;
        connection = null;
        connections++;
        bytes += played.bytes;
      }
      // not after the last round: its code would be dropped with its objects and compiled again under the first publisher
      if (round < task.rounds - 1) collectGarbage();
    }
  } finally {
    port.close();
  }
  return { connections, bytes, ms: performance.now() - started };
}

/**
 * The handshake's last packet (C2) and the client's next message in one read, as a publisher's
 * often arrive (sent back to back): the session's reads with the second and third joined. Half the
 * connections get these, so both ways of reading the handshake's end have run before a publisher comes.
 */
function joinedC2(reads: Uint8Array[]): Uint8Array[] {
  const joined = new Uint8Array(reads[1]!.length + reads[2]!.length);
  joined.set(reads[1]!, 0);
  joined.set(reads[2]!, reads[1]!.length);
  return [reads[0]!, joined, ...reads.slice(3)];
}

/**
 * The session's media into `connection` as a real-time publisher's arrive at a live worker,
 * on a clock of its own that jumps from one look to the next (see runWarmUp); `clock.at` is
 * that clock's time, for a connection that reads it.
 */
function replayPaced(
  session: WarmUpSession,
  connection: IngestConnection,
  limits: IngestLimits,
  outbox: WorkerOutbox,
  ring: ByteRing,
  write: (bytes: Uint8Array, receivedAt: number) => void,
  clock: { at: number },
): void {
  const { media, mediaEnds, mediaSentAtMs } = session;
  const startedAt = clock.at;
  let now = startedAt;
  let lastLookAt = startedAt;
  let lastStatsAt = startedAt;
  let sent = 0; // messages a real-time publisher has written by `now`
  let read = 0; // bytes the worker has read
  while (read < media.length) {
    while (sent < mediaEnds.length && startedAt + mediaSentAtMs[sent]! <= now) sent++;
    const until = sent === 0 ? 0 : mediaEnds[sent - 1]!;
    outbox.begin();
    if (until > read) {
      // the native reader spreads a drain's stamps over the time since the socket was last empty, by bytes
      const newest = startedAt + mediaSentAtMs[sent - 1]!;
      const total = until - read;
      while (read < until) {
        const end = Math.min(read + READ_BYTES, until);
        write(media.subarray(read, end), lastLookAt + (newest - lastLookAt) * (1 - (until - end) / total));
        read = end;
      }
      pushRingRecords(ring, connection);
    }
    if (now - lastStatsAt >= 1000 && connection.isPublishing()) {
      connection.flushStats();
      lastStatsAt = now;
    }
    outbox.end();
    lastLookAt = now;
    const next = tickSlot(nextLookAt(connection, now, limits), limits.pollTickMs);
    now = next > now ? next : tickSlot(now + 1, limits.pollTickMs);
    clock.at = now;
  }
}
