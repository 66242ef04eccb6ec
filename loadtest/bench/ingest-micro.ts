/**
 * Micro-benchmark of one RTMP connection's work in the pool, on one thread
 * and without the machine's noise: socket bytes → IngestConnection (RTMP
 * session, FLV demux, packaging to fMP4 parts/segments and MPEG-TS) → its
 * messages posted on a real MessagePort as the worker posts them, and read
 * back (what the main thread receives).
 *
 * The input is a real session recorded first: our synthetic publisher
 * (6 Mb/s, 720p30 H.264 with B-frames + AAC, 4096-byte chunks) publishing to
 * an inline IngestConnection over TCP, each socket read kept as it came.
 * Each run replays it REPEAT times into fresh connections and prints the
 * thread's CPU seconds per GB (user + system), MB/s and minor page faults
 * per MB (fresh memory touched), medians of RUNS.
 *
 *   node --import tsx loadtest/bench/ingest-micro.ts [--seconds 4] [--runs 5] [--repeat 10] [--consumer]
 *
 * --consumer attaches a reader to each frame queue (as the transcoder does),
 * so the frame queue copy is measured too.
 */
import net from 'node:net';
import { parseArgs } from 'node:util';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';
import { publishSynthetic } from '../publisher/synthetic-publisher.js';
import { inlineIngestConnection } from '../peers/inline-ingest.js';
import type { WorkerToMain } from '../../src/ingest/ingest-messages.js';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { WorkerOutbox } from '../../src/ingest/worker-outbox.js';
import { FrameQueueReader } from '../../src/stream/frame-queue.js';
import { median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';

const { values: flags } = parseArgs({
  options: {
    seconds: { type: 'string', default: '4' },
    runs: { type: 'string', default: '5' },
    repeat: { type: 'string', default: '10' },
    bitrate: { type: 'string', default: '6000000' },
    consumer: { type: 'boolean', default: false },
  },
});

const SECONDS = numberFlag('seconds', flags.seconds);
const RUNS = numberFlag('runs', flags.runs, { integer: true });
const REPEAT = numberFlag('repeat', flags.repeat, { integer: true });
const BITRATE = numberFlag('bitrate', flags.bitrate);
const FRAME_QUEUE_BYTES = 16 << 20;

type Emit = (message: WorkerToMain, transfer?: ArrayBuffer[]) => void;

/** The socket reads of one real publish session, in order. */
async function recordSession(seconds: number): Promise<Uint8Array[]> {
  const reads: Uint8Array[] = [];
  const server = net.createServer((socket) => {
    const connection = inlineIngestConnection({
      emit: (message) => {
        if (message.type === 'send') socket.write(message.bytes);
      },
      defer: queueMicrotask,
      frameQueueBytes: FRAME_QUEUE_BYTES,
    });
    socket.on('data', (chunk) => {
      reads.push(new Uint8Array(chunk));
      connection.push(chunk, Date.now());
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await publishSynthetic({ url: `rtmp://127.0.0.1:${port}/live/bench`, bitrateBps: BITRATE, durationMs: seconds * 1000 });
  await new Promise((resolve) => setTimeout(resolve, 200));
  server.close();
  return reads;
}

const reads = await recordSession(SECONDS);
const sessionBytes = reads.reduce((n, r) => n + r.length, 0);
console.log(
  `session: ${reads.length} socket reads, ${(sessionBytes / 1e6).toFixed(2)} MB (avg read ${Math.round(sessionBytes / reads.length)} B); ` +
    `${REPEAT} replays per run, ${RUNS} runs, frame queue ${flags.consumer ? 'read by a consumer' : 'without consumer'}`,
);

const { port1, port2 } = new MessageChannel();
let messages = 0;
let mediaBytes = 0;
function drain(): void {
  for (let received = receiveMessageOnPort(port2); received !== undefined; received = receiveMessageOnPort(port2)) {
    messages++;
    for (const message of received.message as WorkerToMain[]) {
      // a part in the connection's arena comes as its region, not as bytes
      if (message.type === 'media') mediaBytes += message.arenaLength ?? message.media.bytes.byteLength;
    }
  }
}
// as the worker posts them: what one look (here, one socket read) emits leaves as one message
const outbox = new WorkerOutbox(port1);
const emit: Emit = (message, transfer) => outbox.send(message, transfer);
const consumerSink = { videoConfig() {}, audioConfig() {}, metadata() {}, frame() {}, end() {}, segmentStart() {} };

function replayOnce(): void {
  let reader: FrameQueueReader | null = null;
  let accept: (() => void) | null = null;
  const connection = inlineIngestConnection({
    emit,
    defer: (deferred) => (accept = deferred),
    frameQueueBytes: FRAME_QUEUE_BYTES,
    frameQueueReader: flags.consumer,
    onFrameQueue: flags.consumer ? (queue) => (reader = new FrameQueueReader(ByteRing.attach(queue))) : undefined,
  });
  for (let i = 0; i < reads.length; i++) {
    outbox.begin();
    connection.push(reads[i]!, 0);
    outbox.end();
    drain();
    if (accept !== null) {
      (accept as () => void)();
      accept = null;
    }
    (reader as FrameQueueReader | null)?.read(consumerSink);
  }
  outbox.begin();
  connection.finishStream('unpublished');
  outbox.end();
  drain();
}

replayOnce(); // warm-up
const cpuPerGb: number[] = [];
const mbPerSecond: number[] = [];
const faultsPerMb: number[] = [];
for (let run = 0; run < RUNS; run++) {
  const cpuBefore = process.cpuUsage();
  const faultsBefore = process.resourceUsage().minorPageFault;
  const started = process.hrtime.bigint();
  for (let i = 0; i < REPEAT; i++) replayOnce();
  const wall = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpuBefore);
  const faults = process.resourceUsage().minorPageFault - faultsBefore;
  const bytes = sessionBytes * REPEAT;
  cpuPerGb.push((cpu.user + cpu.system) / 1e6 / (bytes / 1e9));
  mbPerSecond.push(bytes / 1e6 / wall);
  faultsPerMb.push(faults / (bytes / 1e6));
  console.log(
    `  run ${run + 1}: ${cpuPerGb.at(-1)!.toFixed(1)} CPU-s/GB (user ${(cpu.user / 1e6).toFixed(2)} s, sys ${(cpu.system / 1e6).toFixed(2)} s), ` +
      `${mbPerSecond.at(-1)!.toFixed(0)} MB/s, ${faultsPerMb.at(-1)!.toFixed(0)} faults/MB`,
  );
}
console.log(
  `ingest connection (one thread): ${median(cpuPerGb).toFixed(1)} CPU-s/GB, ${median(mbPerSecond).toFixed(0)} MB/s, ` +
    `${median(faultsPerMb).toFixed(0)} page faults/MB; ${(mediaBytes / (sessionBytes * (REPEAT * RUNS + 1))).toFixed(2)} bytes packaged per byte in, ` +
    `${Math.round(messages / (REPEAT * RUNS + 1))} messages per session (medians of ${RUNS})`,
);
port1.close();
