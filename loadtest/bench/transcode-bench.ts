/**
 * Transcode ladder bench (npm run bench:transcode).
 *
 * One synthetic 1080p30 H.264 stream (testsrc2 + temporal noise: expensive
 * like camera footage) through the default ladder with the probed encoder:
 *   A. one FFmpeg per stream (split + scale per rendition: one decode)
 *   B. one FFmpeg per rendition (the naive shape: a decode per rendition)
 * fed as fast as they take it, side by side in the same run; then N
 * ladders in parallel fed in real time to find how many this machine
 * sustains (no drops, backlog under 1 s).
 *
 * CPU and RSS come from /proc/<pid> sampled every 50 ms (the last sample
 * before exit is what is reported: at most ~50 ms of CPU is missed).
 * Node's own CPU (writing FFmpeg's stdin, parsing its FLV outputs) is
 * measured with process.cpuUsage() over the same interval and shown apart.
 * Env: BENCH_SECONDS (10), BENCH_MAX_PARALLEL (4), TRANSCODE_PRESET (the
 * server's default, veryfast), TRANSCODE_LADDER (the server's default).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import ffmpeg from 'fluent-ffmpeg';
import { FlvDemuxer } from '../../src/demux/flv/flv-demuxer.js';
import type { FrameSink, MediaFrame, VideoTrackConfig } from '../../src/stream/media-frame.js';
import { probeEncoders } from '../../src/transcode/encoder-probe.js';
import type { EncoderName } from '../../src/transcode/encoder-flags.js';
import { FLV_TAG_VIDEO } from '../../src/transcode/flv-writer.js';
import { FlvReader } from '../../src/transcode/flv-reader.js';
import type { LadderRung } from '../../src/transcode/ladder.js';
import { TranscodeSupervisor } from '../../src/transcode/transcode-supervisor.js';
import { loadConfig } from '../../src/config.js';
import { cpuSeconds, rssBytes } from './lib/measure.js';

const execFileAsync = promisify(execFile);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const MAX_PARALLEL = Number(process.env.BENCH_MAX_PARALLEL ?? 4);
/** the server's transcode settings from the same environment variables it reads */
const SETTINGS = loadConfig(process.env, cpus().length).transcode;

interface Source {
  config: VideoTrackConfig;
  frames: MediaFrame[];
  mediaSeconds: number;
}

async function makeSource(path: string): Promise<Source> {
  await execFileAsync('ffmpeg', [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-y',
    '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30', '-vf', 'noise=alls=10:allf=t', '-t', String(SECONDS),
    '-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-b:v', '6000k', '-maxrate', '6000k', '-bufsize', '12000k', '-f', 'flv', path,
  ]);
  let config: VideoTrackConfig | null = null;
  const frames: MediaFrame[] = [];
  const sink: FrameSink = {
    videoConfig: (c) => (config = { ...c, avcC: c.avcC.slice() }),
    audioConfig: () => undefined,
    metadata: () => undefined,
    frame: (f) => frames.push({ ...f, data: f.data.slice() }),
  };
  const demuxer = new FlvDemuxer(sink);
  new FlvReader({ tag: (type, ts, body) => type === FLV_TAG_VIDEO && demuxer.video(ts, body) }).push(readFileSync(path));
  if (config === null) throw new Error('no video config in the source clip');
  return { config, frames, mediaSeconds: frames.length / 30 };
}

/** Latest CPU seconds and peak RSS of a PID, sampled until it exits. */
class ProcSampler {
  cpuSeconds = 0;
  peakRssKb = 0;
  private timer: NodeJS.Timeout;
  constructor(private readonly pidOf: () => number | undefined) {
    this.timer = setInterval(() => this.sample(), 50);
  }
  private pid: number | undefined;
  sample(): void {
    const pid = this.pidOf() ?? this.pid;
    if (pid === undefined) return;
    this.pid = pid;
    try {
      this.cpuSeconds = cpuSeconds(pid);
      this.peakRssKb = Math.max(this.peakRssKb, rssBytes(pid) / 1024);
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      const hwm = /VmHWM:\s+(\d+)/.exec(status);
      if (hwm !== null) this.peakRssKb = Math.max(this.peakRssKb, Number(hwm[1]));
    } catch {
      // exited between samples
    }
  }
  stop(): void {
    clearInterval(this.timer);
  }
}

const noopSink: FrameSink = { videoConfig: () => undefined, audioConfig: () => undefined, metadata: () => undefined, frame: () => undefined };

interface RunResult {
  wallSeconds: number;
  cpuSeconds: number;
  peakRssMb: number;
  dropped: number;
  maxLagMs: number;
  outFrames: number;
  /** this Node process: feeding stdin and parsing the outputs */
  nodeCpuSeconds: number;
}

/** Runs one group of supervisors over the same source at `speed` (Infinity = as fast as stdin takes it). */
async function runGroup(encoder: EncoderName, source: Source, ladders: LadderRung[][], speed: number): Promise<RunResult> {
  let outFrames = 0;
  const counting: FrameSink = { ...noopSink, frame: () => void outFrames++ };
  const supervisors = ladders.map(
    (ladder, i) =>
      new TranscodeSupervisor({
        streamId: `bench-${i}`,
        ffmpegPath: 'ffmpeg',
        encoder,
        ladder,
        encode: { preset: SETTINGS.preset },
        sinkFor: () => counting,
        maxLagMs: Number.isFinite(speed) ? 3000 : 3_600_000,
        maxQueuedBytes: 1024 * 1024 * 1024,
        stallTimeoutMs: 60_000,
      }),
  );
  for (const s of supervisors) {
    s.start();
    s.videoConfig(source.config);
  }
  const samplers = supervisors.map((s) => new ProcSampler(() => s.pid));
  let maxLagMs = 0;
  const cpuAtStart = process.cpuUsage();
  const started = performance.now();
  const first = source.frames[0].dts;
  for (const frame of source.frames) {
    if (Number.isFinite(speed)) {
      const wait = (frame.dts - first) / speed - (performance.now() - started);
      if (wait > 2) await sleep(wait);
    }
    for (const s of supervisors) {
      s.frame(frame);
      maxLagMs = Math.max(maxLagMs, s.stats.lagMs);
    }
  }
  for (const sampler of samplers) sampler.sample();
  await Promise.all(
    supervisors.map(async (s, i) => {
      const sampler = samplers[i];
      const poll = setInterval(() => sampler.sample(), 20);
      await s.stop({ drainMs: 120_000 });
      clearInterval(poll);
    }),
  );
  const wallSeconds = (performance.now() - started) / 1000;
  const nodeCpu = process.cpuUsage(cpuAtStart);
  for (const sampler of samplers) sampler.stop();
  return {
    wallSeconds,
    cpuSeconds: samplers.reduce((sum, s) => sum + s.cpuSeconds, 0),
    peakRssMb: samplers.reduce((sum, s) => sum + s.peakRssKb, 0) / 1024,
    dropped: supervisors.reduce((sum, s) => sum + s.stats.droppedLag + s.stats.droppedQueueFull + s.stats.droppedRestart, 0),
    maxLagMs,
    outFrames,
    nodeCpuSeconds: (nodeCpu.user + nodeCpu.system) / 1e6,
  };
}

async function fluentCapabilityCost(): Promise<number> {
  const started = performance.now();
  await new Promise<void>((resolve, reject) => ffmpeg.getAvailableFormats((err) => (err ? reject(err) : resolve())));
  await new Promise<void>((resolve, reject) => ffmpeg.getAvailableEncoders((err) => (err ? reject(err) : resolve())));
  return performance.now() - started;
}

function row(cells: Array<string | number>, widths: number[]): string {
  return cells.map((c, i) => String(c).padEnd(widths[i])).join(' ');
}

async function main(): Promise<void> {
  const probeStarted = performance.now();
  const probe = await probeEncoders();
  const probeMs = performance.now() - probeStarted;
  if (!probe.available) {
    console.error(`no encoder: ${probe.reason}`);
    process.exitCode = 1;
    return;
  }
  const encoder = probe.encoder;
  const dir = mkdtempSync(join(tmpdir(), 'nova-transcode-bench-'));
  try {
    const source = await makeSource(join(dir, 'source.flv'));
    const ladder = SETTINGS.ladder.filter((r) => r.height < source.config.height);
    console.log(`encoder ${encoder} (probe ${probeMs.toFixed(0)} ms: ${probe.trials.map((t) => `${t.encoder}=${t.ok ? 'ok' : t.listed ? 'fail' : 'absent'}`).join(' ')})`);
    console.log(`source 1920x1080 30 fps, ${source.mediaSeconds.toFixed(1)} s, ladder ${ladder.map((r) => `${r.name}@${r.bitrateKbps}k`).join(' ')}, preset ${SETTINGS.preset}, ${cpus().length} cores`);
    console.log(`fluent-ffmpeg capability checks (first run() per process): ${(await fluentCapabilityCost()).toFixed(0)} ms`);
    console.log('');

    const widths = [34, 8, 12, 13, 12, 10, 8];
    console.log(row(['shape (fed as fast as possible)', 'speed×', 'cpu-s/str-s', 'node cpu-s/s', 'peak RSS MB', 'processes', 'frames'], widths));
    const perStream = await runGroup(encoder, source, [ladder], Number.POSITIVE_INFINITY);
    const perRendition = await runGroup(encoder, source, ladder.map((r) => [r]), Number.POSITIVE_INFINITY);
    for (const [name, r, processes] of [
      ['one FFmpeg per stream (split)', perStream, 1],
      ['one FFmpeg per rendition', perRendition, ladder.length],
    ] as const) {
      console.log(row([
        name,
        (source.mediaSeconds / r.wallSeconds).toFixed(2),
        (r.cpuSeconds / source.mediaSeconds).toFixed(2),
        (r.nodeCpuSeconds / source.mediaSeconds).toFixed(3),
        r.peakRssMb.toFixed(0),
        processes,
        r.outFrames,
      ], widths));
    }
    const cpuPerStreamSecond = perStream.cpuSeconds / source.mediaSeconds;
    const estimate = Math.floor(cpus().length / cpuPerStreamSecond);
    console.log('');
    console.log(`estimate: ${cpus().length} cores / ${cpuPerStreamSecond.toFixed(2)} cpu-s per stream-s = ${(cpus().length / cpuPerStreamSecond).toFixed(2)} ladders`);
    console.log(row(['parallel ladders (real time)', 'dropped', 'max lag ms', 'cpu-s/str-s', 'sustained'], [28, 8, 11, 12, 9]));
    // From the estimate upwards while it holds, downwards until it holds: every verdict printed is measured.
    const verdicts = new Map<number, boolean>();
    const tryParallel = async (n: number): Promise<boolean> => {
      const r = await runGroup(encoder, source, Array.from({ length: n }, () => ladder), 1);
      const ok = r.dropped === 0 && r.maxLagMs < 1500;
      console.log(row([n, r.dropped, r.maxLagMs.toFixed(0), (r.cpuSeconds / source.mediaSeconds).toFixed(2), ok ? 'yes' : 'no'], [28, 8, 11, 12, 9]));
      verdicts.set(n, ok);
      return ok;
    };
    let n = Math.min(MAX_PARALLEL, Math.max(1, estimate));
    if (await tryParallel(n)) {
      while (n < MAX_PARALLEL && (await tryParallel(n + 1))) n++;
    } else {
      while (n > 1 && !(await tryParallel(n - 1))) n--;
      n--;
    }
    const sustained = n;
    console.log(`\nsustained in real time on this machine: ${sustained} ladder(s) of ${ladder.map((r) => r.name).join('+')} (${encoder})`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
