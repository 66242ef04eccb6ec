/**
 * What bench:edge-transport's orchestrator and its origin and edge children
 * share: the transports compared, the IPC messages, and how an object is
 * named and timed on both sides.
 */
import type { PackagedMedia } from '../../src/package/packaged-media.js';

/**
 * none: the origin alone (no edge), the floor its CPU figures sit on;
 * push: the origin's feed as nova runs it (OriginFeeds → internal listener → EdgeReplicas);
 * pull: a part-ready notification on Redis pub/sub, then a GET of the object from the origin;
 * redis: the origin writes each object into Redis (with a TTL) and notifies, the edge GETs it from Redis.
 */
export const TRANSPORTS = ['none', 'push', 'pull', 'redis'] as const;
export type Transport = (typeof TRANSPORTS)[number];

export const TRANSPORT_LABEL: Record<Transport, string> = {
  none: 'origin alone',
  push: 'A push feed',
  pull: 'B notify+HTTP GET',
  redis: 'C Redis hot window',
};

/** 200 ms parts, ten to a 2 s segment: nova's LL-HLS defaults. */
export const PART_MS = 200;
export const PARTS_PER_SEGMENT = 10;

export interface OriginSetup {
  cmd: 'setup';
  transport: Transport;
  streams: number;
  bitrate: number;
  /** unique per measurement: Redis channels and keys start with it */
  prefix: string;
  secret: string;
  redisUrl: string;
  /** redis: each object's TTL in the hot window */
  ttlMs: number;
}

export interface EdgeSetup {
  cmd: 'setup';
  transport: Exclude<Transport, 'none'>;
  streams: number;
  /** the origin's internal listener, http://127.0.0.1:port */
  originUrl: string;
  prefix: string;
  secret: string;
  redisUrl: string;
}

export type ChildCommand =
  | OriginSetup
  | EdgeSetup
  /** origin: start the 200 ms clocks */
  | { cmd: 'start' }
  /** origin: stop emitting */
  | { cmd: 'stop' }
  /** TCP payload bytes of this process's client sockets so far */
  | { cmd: 'wire' }
  | { cmd: 'report' }
  | { cmd: 'exit' };

/** An object's name and when a side had it (ms on CLOCK_MONOTONIC, shared by every process of the machine). */
export type Stamp = [key: string, atMs: number, bytes: number];

export type ChildReply =
  | { kind: 'ready'; port: number }
  /** origin: stream i emits part k at atMs + k × PART_MS + i × PART_MS / streams */
  | { kind: 'started'; atMs: number }
  | { kind: 'wire'; bytes: number }
  /** origin: every object it emitted; edge: every object its store took */
  | { kind: 'report'; stamps: Stamp[]; failures: number };

export function streamIdOf(index: number): string {
  return `bench-${index}`;
}

export function channelOf(prefix: string, streamId: string): string {
  return `${prefix}:${streamId}`;
}

/** Redis key of an object of the hot window (pull also names its URL after it). */
export function objectPath(streamId: string, rendition: string, track: string, msn: number, index: number): string {
  return `${streamId}/${rendition}/${track}/${msn}/${index}`;
}

/** The same object's name on the origin and at the edge (a segment's index is -1). */
export function objectKey(streamId: string, media: PackagedMedia): string {
  const index = media.kind === 'part' ? media.part.index : -1;
  const msn = media.kind === 'init' ? -1 : media.msn;
  return `${media.kind} ${objectPath(streamId, media.rendition, media.track, msn, index)}`;
}

/** Milliseconds on CLOCK_MONOTONIC (process.hrtime): one clock for the origin, the edge and the orchestrator. */
export function monotonicMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** The child's IPC: one handler for the orchestrator's commands, and the reply. */
export function onCommand(handler: (command: ChildCommand) => void | Promise<void>): void {
  // the orchestrator is gone (killed, crashed): so is the measurement
  process.on('disconnect', () => process.exit(0));
  process.on('message', (message) => {
    Promise.resolve(handler(message as ChildCommand)).catch((err: unknown) => {
      console.error(err);
      process.exit(1);
    });
  });
}

export function reply(message: ChildReply): void {
  process.send!(message);
}
