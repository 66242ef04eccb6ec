/**
 * Warm start (WARM_START=on): V8 optimizes a function once it has run enough, and the ingest
 * path runs at frame rate, so a fresh server ran its first publishers in baseline code and
 * compiled meanwhile (docs/operations.md, "A young server"). At start the pool worker replays
 * a recorded publish session of the bundled 720p fixture into many fresh connections of the
 * real classes (warm-start-worker.ts), and this thread takes their media as it takes a
 * publisher's (PartArenaReader, then a SegmentStore of its own). Nothing of it reaches the
 * server's store, database, events or ingest metrics; its part arena stays in the worker's
 * pool, so the first publisher writes into pages already faulted in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import { Gauge, type Registry } from 'prom-client';
import type { Piscina } from 'piscina';
import type { Logger } from './log.js';
import { PartArenaReader } from './package/media-message.js';
import { SegmentStore, type SegmentStoreOptions } from './deliver/store/segment-store.js';
import type { IngestLimits, MainToWorker, WarmUpControl, WarmUpResult, WarmUpTask, WorkerToMain } from './ingest/ingest-messages.js';

/** The committed 720p30 H.264 + AAC fixture (2 s, B-frames), shipped in the image at the same path. */
const FIXTURE = join('test', 'fixtures', 'rtmp', 'testsrc2-720p30-2s.flv');

/**
 * How much is replayed: 4 rounds of 10 connections of 4 s at 4 Mb/s (2 segments each, so
 * segment cuts run too), every third one with MPEG-TS. Measured with --trace-opt: the
 * per-frame functions are optimized within the first round and the per-connection ones
 * (constructors, publish, segment starts) by the third; the collection after each round
 * moves the "weak objects" deoptimizations into the warm-up (see warm-start-worker.ts).
 * One connection of the first round is long (20 s at 1.5 Mb/s, timestamps from 45 s, on the
 * replay's own clock): what a live stream reaches only after a while ran under the first
 * publisher otherwise, each a deoptimization there (the RTMP acknowledgement every 2.5 MB, the
 * part arena's growth after 500 ms and resizing after its retention time of 16 s, segments
 * leaving the window, audio timestamp × sample rate past 2^31 from 44.7 s). 50 s from 0 at
 * 1 Mb/s did the same for 0.7 CPU-s more (per-frame work; the window and retention are the defaults').
 */
export const WARM_UP_PLAN = {
  rounds: 4,
  connectionsPerRound: 10,
  durationMs: 4000,
  bitrateBps: 4_000_000,
  tsEvery: 3,
  longDurationMs: 20_000,
  longBitrateBps: 1_500_000,
  longStartMs: 45_000,
} as const;

/** The checkout's (or image's) root: the folder above this file with package.json. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) return process.cwd();
    dir = parent;
  }
  return dir;
}

export interface WarmStartResult {
  connections: number;
  /** socket bytes replayed */
  bytes: number;
  /** wall time from the start of the warm-up to its end, ms */
  ms: number;
  /** CPU of the whole process over that time (every thread, so other start-up work too), s */
  processCpuSeconds: number;
}

export interface WarmStartOptions {
  limits: IngestLimits;
  /** the server's segment store settings (its own store is never touched) */
  store: Partial<SegmentStoreOptions>;
  /** the FLV file to replay; default the bundled fixture */
  flvPath?: string;
}

/**
 * Runs the warm-up in the pool (its one thread at start: minThreads 1) and resolves when
 * it is over, or null when it could not run (no fixture, a failure: logged, the server
 * starts anyway, just not warm).
 */
export async function warmStart(pool: Piscina, options: WarmStartOptions, registry: Registry, log: Logger): Promise<WarmStartResult | null> {
  const path = options.flvPath ?? join(repoRoot(), FIXTURE);
  let flv: Uint8Array;
  try {
    flv = new Uint8Array(readFileSync(path));
  } catch (err) {
    log.warn({ path, err: err instanceof Error ? err.message : String(err) }, 'warm start skipped: no warm-up file');
    return null;
  }
  const startedAt = performance.now();
  const cpuBefore = process.cpuUsage();
  const { port1, port2 } = new MessageChannel();
  const consumer = new WarmUpConsumer(port1, options);
  const task: WarmUpTask = { flv, limits: options.limits, ...WARM_UP_PLAN, port: port2 };
  try {
    const result = (await pool.run(task, { name: 'warmUp', transferList: [port2] })) as WarmUpResult;
    const cpu = process.cpuUsage(cpuBefore);
    const done: WarmStartResult = {
      connections: result.connections,
      bytes: result.bytes,
      ms: performance.now() - startedAt,
      processCpuSeconds: (cpu.user + cpu.system) / 1e6,
    };
    new Gauge({ name: 'nova_streaming_warm_start_seconds', help: 'Wall time the start-up warm-up of the ingest path took (WARM_START)', registers: [registry] }).set(done.ms / 1000);
    log.info({ connections: done.connections, mb: +(done.bytes / 1e6).toFixed(1), ms: Math.round(done.ms), processCpuSeconds: +done.processCpuSeconds.toFixed(2) }, 'warm start done');
    return done;
  } catch (err) {
    log.warn({ err: err instanceof Error ? err.message : String(err) }, 'warm start failed: the server starts cold');
    return null;
  } finally {
    consumer.close();
  }
}

/**
 * This thread's side: answers each warm-up connection's publish, and takes its media as
 * RtmpIngestServer does (the part's region out of the arena, into a store), into a store
 * of its own that is emptied after each connection (releasing the regions for reuse).
 */
class WarmUpConsumer {
  private readonly store: SegmentStore;
  private parts = new PartArenaReader(() => undefined);
  private streamId = 'warm-up-0';
  private count = 0;

  constructor(
    private readonly port: MessagePort,
    options: WarmStartOptions,
  ) {
    this.store = new SegmentStore({ ...options.store, endedGraceMs: 0, reconnectGraceMs: 0 });
    port.on('message', (messages: WorkerToMain[] | WarmUpControl) => {
      if (Array.isArray(messages)) for (let i = 0; i < messages.length; i++) this.take(messages[i]!);
      else if (messages.type === 'warm_up_connection_done') this.connectionDone();
    });
  }

  private take(message: WorkerToMain): void {
    switch (message.type) {
      case 'publish':
        this.store.beginStream(this.streamId, []);
        this.post({ type: 'publish_accepted', streamId: this.streamId, frameQueue: null, resume: null, tsWanted: false });
        break;
      case 'part_arena':
        this.parts.attach(message.buffer);
        break;
      case 'media': {
        const media = this.parts.received(message, true);
        if (media !== null) this.store.add(this.streamId, media);
        break;
      }
      default:
        break;
    }
  }

  private connectionDone(): void {
    this.store.endStream(this.streamId); // as the lifecycle ends a stream, so its code paths have run
    this.store.removeStream(this.streamId); // releases its parts' regions: the worker's arena drains
    this.parts = new PartArenaReader(() => undefined);
    this.streamId = `warm-up-${++this.count}`;
    this.post({ type: 'warm_up_ack' });
  }

  private post(message: MainToWorker | WarmUpControl): void {
    this.port.postMessage(message);
  }

  close(): void {
    this.store.clear();
    this.port.close();
  }
}
