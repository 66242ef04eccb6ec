/**
 * What the whole-server ingest tests look at: the frames the server parsed
 * (read back from the stream's shared frame queue), the stream's lifecycle
 * as bus events with their arrival times, the server's log lines and its
 * Prometheus counters. Shared by test/e2e/ingest-*.test.ts.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { ByteRing } from '../../src/stream/byte-ring.js';
import { FrameQueueReader, type FrameQueueSink } from '../../src/stream/frame-queue.js';
import type { StreamEvent } from '../../src/control/events/stream-events.js';
import type { NovaFixture } from './nova-server.js';
import { waitFor } from './tools.js';

/** One access unit as the server queued it (or as ffprobe reads it from a file). */
export interface ObservedFrame {
  track: 'video' | 'audio';
  dts: number;
  /** pts − dts, ms */
  cts: number;
  keyframe: boolean;
  size: number;
  md5: string;
}

export interface FrameRecording {
  frames: ObservedFrame[];
  videoConfigs: number;
  audioConfigs: number;
  /** resolves with the end reason once the End record was read */
  ended: Promise<string>;
}

/**
 * Asks for the stream's frame queue (a stream gets one only when someone reads it: call this
 * before it publishes), attaches to it as the transcoder would and records every frame until
 * the End record. The queue is fed from the first frame, so attaching once the stream is live
 * loses nothing.
 */
export async function recordFrameQueue(nova: NovaFixture, streamId: string, timeoutMs = 10_000): Promise<FrameRecording> {
  nova.server.ingest.watchFrameQueue(streamId);
  const buffer = await waitFor(`frame queue of ${streamId}`, timeoutMs, () => nova.server.ingest.frameQueueOf(streamId) ?? undefined, 5);
  const reader = new FrameQueueReader(ByteRing.attach(buffer));
  const recording: FrameRecording = { frames: [], videoConfigs: 0, audioConfigs: 0, ended: Promise.resolve('') };
  let endReason: string | null = null;
  const sink: FrameQueueSink = {
    videoConfig: () => void recording.videoConfigs++,
    audioConfig: () => void recording.audioConfigs++,
    metadata: () => undefined,
    frame: (frame) => {
      recording.frames.push({
        track: frame.track,
        dts: frame.dts,
        cts: frame.pts - frame.dts,
        keyframe: frame.keyframe,
        size: frame.data.length,
        md5: createHash('md5').update(frame.data).digest('hex'),
      });
    },
    end: (reason) => (endReason = reason),
  };
  recording.ended = (async () => {
    while (endReason === null) {
      reader.read(sink);
      if (endReason === null) await reader.waitForData(100);
    }
    return endReason;
  })();
  return recording;
}

/** The packets of a media file, by ffprobe, in file order (what a publisher of that file sends). */
export function probePackets(file: string): ObservedFrame[] {
  const result = spawnSync(
    'ffprobe',
    ['-v', 'error', '-show_packets', '-show_data_hash', 'MD5', '-show_entries', 'packet=codec_type,dts,pts,size,flags,data_hash', '-of', 'json', file],
    { encoding: 'utf8', maxBuffer: 64 << 20 },
  );
  if (result.status !== 0) throw new Error(`ffprobe ${file}: ${result.stderr}`);
  const parsed = JSON.parse(result.stdout) as {
    packets: Array<{ codec_type: string; dts: number; pts: number; size: string; flags: string; data_hash: string }>;
  };
  return parsed.packets
    .filter((p) => p.codec_type === 'video' || p.codec_type === 'audio')
    .map((p) => ({
      track: p.codec_type as 'video' | 'audio',
      dts: p.dts,
      cts: p.pts - p.dts,
      keyframe: p.flags.startsWith('K'),
      size: Number(p.size),
      md5: p.data_hash.replace(/^MD5:/, ''),
    }));
}

/** Checks what every parsed stream must satisfy: per-track DTS strictly increasing, pts ≥ dts. */
export function timelineProblems(frames: ObservedFrame[]): string[] {
  const problems: string[] = [];
  const last = { video: -Infinity, audio: -Infinity };
  frames.forEach((frame, index) => {
    if (frame.dts <= last[frame.track]) problems.push(`${frame.track} dts ${frame.dts} after ${last[frame.track]} at #${index}`);
    if (frame.cts < 0) problems.push(`${frame.track} negative composition offset ${frame.cts} at #${index}`);
    last[frame.track] = frame.dts;
  });
  return problems;
}

export const ofTrack = (frames: ObservedFrame[], track: 'video' | 'audio'): ObservedFrame[] => frames.filter((f) => f.track === track);

/** Bus events of the server with the local time each arrived (the bus publishes after the database write). */
export class LifecycleWatch {
  readonly events: Array<{ event: StreamEvent; receivedAt: number }> = [];
  private readonly unsubscribe: () => void;

  constructor(nova: NovaFixture) {
    this.unsubscribe = nova.server.bus.subscribe((event) => {
      if (event.type === 'stream_started' || event.type === 'stream_ended') this.events.push({ event, receivedAt: Date.now() });
    });
  }

  of(streamId: string): Array<{ event: StreamEvent; receivedAt: number }> {
    return this.events.filter((e) => e.event.streamId === streamId);
  }

  started(streamId: string, timeoutMs = 10_000): Promise<number> {
    return waitFor(`stream_started of ${streamId}`, timeoutMs, () => this.of(streamId).find((e) => e.event.type === 'stream_started')?.receivedAt, 5);
  }

  ended(streamId: string, timeoutMs = 10_000): Promise<{ at: number; reason: string }> {
    return waitFor(`stream_ended of ${streamId}`, timeoutMs, () => {
      const found = this.of(streamId).find((e) => e.event.type === 'stream_ended');
      return found && found.event.type === 'stream_ended' ? { at: found.receivedAt, reason: found.event.reason } : undefined;
    }, 5);
  }

  close(): void {
    this.unsubscribe();
  }
}

/**
 * When the server received the publish command that made `streamId` live:
 * the 'publish requested' line (debug level) of the connection whose
 * 'stream publishing' line names the stream. Epoch ms.
 */
export function publishRequestedAt(nova: NovaFixture, streamId: string): number {
  const logs = nova.logs();
  const publishing = logs.filter((l) => l.msg === 'stream publishing' && l.stream === streamId).at(-1);
  if (publishing === undefined) throw new Error(`no 'stream publishing' line for ${streamId}`);
  const requested = logs.filter((l) => l.msg === 'publish requested' && l.connection === publishing.connection).at(-1);
  if (requested === undefined) throw new Error(`no 'publish requested' line (LOG_LEVEL=debug?) for connection ${String(publishing.connection)}`);
  return Date.parse(String(requested.time));
}

/** One sample of a Prometheus metric, summed over the series whose labels include `labels`. */
export async function metricValue(nova: Pick<NovaFixture, 'http'>, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`${nova.http}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? (\S+)$/.exec(line);
    if (match === null || match[1] !== name) continue;
    const series = Object.fromEntries([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([k, v]) => series[k] === v)) sum += Number(match[3]);
  }
  return sum;
}
