import type { MessagePort } from 'node:worker_threads';
import type { PackagedMedia } from '../package/packaged-media.js';
import type { AudioTrackConfig, VideoTrackConfig } from '../stream/media-frame.js';
import { DEFAULT_PART_ARENA_LIMITS, type PartArenaLimits } from '../stream/part-arena.js';
import type { MediaMessage } from '../package/media-message.js';
import type { ReconnectRequest } from './rtmp/reconnect-request.js';

/**
 * The contract between the main thread (sockets, database, HTTP) and an
 * ingest connection running in the worker pool. Socket bytes travel through
 * a SharedArrayBuffer ring (not through these messages); these carry the
 * rare control events, replies to write, and finished media (parts in a
 * shared PartArena, the rest transferred).
 */

export interface IngestLimits {
  maxMessageBytes: number;
  maxChunkSize: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  targetDurationMs: number;
  partTargetMs: number;
  /** the grid a worker's wake-ups land on while bytes flow, and the reader's pacing (see ingestPollTickMs) */
  pollTickMs: number;
  /** sizes of the arenas a connection writes its parts into */
  partArena: PartArenaLimits;
}

/**
 * The ingest path's wake-up period while bytes flow: the native reader reads sockets on
 * this tick, and a worker's wake-ups land on a grid of it (a connection whose frames nobody
 * wants one by one looks at its ring only when its next part is due, on the grid's next
 * slot: see workers/ingest-connection.worker.ts). Wake-ups, not bytes, were the cost
 * left at ingest (measured at N=4 × 6 Mb/s, ingest-threads.ts: 46 CPU-s/GB at a 10 ms
 * tick, 38 at 20 ms, 34 at 40 ms; at N=1: 117, 95, 71; the reader thread alone at half
 * the tick vs the whole tick, medians of 9 runs: 14.7 vs 9.3 CPU-s/GB at N=1, 4.3 vs 3.3
 * at N=4), and what they add to latency only has to stay small next to an LL-HLS part:
 * the bytes that complete a part wait about two ticks (socket, then ring) before it is
 * out, ~80 ms at most for 200 ms parts; a tick is a fifth of the part target, within 5–50 ms.
 */
export function ingestPollTickMs(partTargetMs: number): number {
  return Math.min(50, Math.max(5, Math.round(partTargetMs / 5)));
}

/** What ingestLimits reads of the server's configuration (config.ts: RTMP_* and the segment targets). */
export interface IngestSettings {
  rtmp: { maxMessageBytes: number; maxChunkSize: number; handshakeTimeoutMs: number; idleTimeoutMs: number };
  delivery: { targetDurationMs: number; partTargetMs: number; playlistWindow: number; keepAfterWindow: number };
}

/** The limits a connection runs under, from the server's configuration. */
export function ingestLimits(config: IngestSettings): IngestLimits {
  return {
    maxMessageBytes: config.rtmp.maxMessageBytes,
    maxChunkSize: config.rtmp.maxChunkSize,
    handshakeTimeoutMs: config.rtmp.handshakeTimeoutMs,
    idleTimeoutMs: config.rtmp.idleTimeoutMs,
    targetDurationMs: config.delivery.targetDurationMs,
    partTargetMs: config.delivery.partTargetMs,
    pollTickMs: ingestPollTickMs(config.delivery.partTargetMs),
    // an arena holds what the store keeps of the stream: the window, the segments after it and the one in progress
    partArena: { ...DEFAULT_PART_ARENA_LIMITS, retainMs: (config.delivery.playlistWindow + config.delivery.keepAfterWindow + 1) * config.delivery.targetDurationMs },
  };
}

/** The Piscina task argument: one per RTMP connection, for the connection's lifetime. */
export interface IngestTask {
  connectionId: number;
  /** ByteRing of socket bytes, each record = 8-byte receive time (epoch ms, f64) + bytes */
  ingress: SharedArrayBuffer;
  /** Int32 flags shared with the main thread; see IngressControl */
  control: SharedArrayBuffer;
  port: MessagePort;
  limits: IngestLimits;
  /** the native reader's handle when it reads this socket (the worker may claim it: WorkerSocketReader), else null */
  nativeHandle: number | null;
}

/** Indices into the Int32Array over IngestTask.control. */
export const IngressControl = {
  /** 1 while the main thread has paused the socket because the ring was full */
  producerPaused: 0,
  /** set to 1 by the main thread when the socket closed; the worker drains what is left then ends */
  socketClosed: 1,
  /** set to 1 by the main thread to stop the connection (takeover, delete, shutdown) */
  stopRequested: 2,
  length: 3,
} as const;

/** Where a republish on the same key continues: numbering and timeline carry over. */
export interface StreamResumeState {
  nextMsn: number;
  /** ms: the timeline position the new session's first frame maps to */
  timelineStartMs: number;
  discontinuity: boolean;
}

export type WorkerToMain =
  | { type: 'send'; bytes: Uint8Array }
  /** capsEx: what the connect command announced of Enhanced RTMP v2 (Reconnect Request support) */
  | { type: 'publish'; app: string; streamName: string; tcUrl: string; capsEx: number }
  | { type: 'unpublish' }
  /**
   * Asked to reconnect elsewhere and able to: `openMsn` is the segment in progress (-1 before the
   * first), the last this instance packages; the other instance numbers on after it.
   */
  | { type: 'handing_off'; openMsn: number }
  | { type: 'tracks'; video: VideoTrackConfig | null; audio: AudioTrackConfig | null }
  /** the connection's parts are written here from now on (PartArena.attach it); sent before the first media in it */
  | { type: 'part_arena'; buffer: SharedArrayBuffer }
  /** with arenaPosition: media.bytes is empty, the bytes are that region of the connection's current part arena */
  | ({ type: 'media' } & MediaMessage)
  | { type: 'long_gop'; observedMs: number }
  | {
      type: 'stats';
      bytes: number;
      videoFrames: number;
      audioFrames: number;
      /** ms, arrival at the socket to frame packaged (see nova_streaming_rtmp_ingestion_latency_seconds), one per frame since the last stats message */
      latencies: Float64Array;
      timestampRepairs: number;
      droppedFrames: number;
      /** parts written to a buffer of their own: the connection's part arena was full at its largest */
      partArenaFallbacks: number;
      lastPtsMs: number;
      nextMsn: number;
    }
  | { type: 'resume_state'; state: StreamResumeState }
  | { type: 'resume_producer' }
  | { type: 'closed'; reason: IngestCloseReason; code?: string; message?: string };

export type IngestCloseReason = 'unpublished' | 'disconnected' | 'idle_timeout' | 'stopped' | 'protocol_error' | 'rejected';

export type MainToWorker =
  | {
      type: 'publish_accepted';
      streamId: string;
      /**
       * Only for a stream a reader is on its way to (the transcoder, a tool): fed from the first
       * frame, however late the reader attaches. Null: no frame queue, frames are only packaged.
       */
      frameQueue: SharedArrayBuffer | null;
      resume: StreamResumeState | null;
      /** a TS client has asked for this stream: mux MPEG-TS from the start (else only after 'ts_wanted') */
      tsWanted: boolean;
    }
  /** a TS client asked for this stream: mux MPEG-TS from the next segment on */
  | { type: 'ts_wanted' }
  | { type: 'publish_rejected'; code: 'NetStream.Publish.BadName' | 'NetStream.Publish.Denied'; description: string }
  /** drain: send the publisher Enhanced RTMP v2's Reconnect Request */
  | { type: 'reconnect_request'; request: ReconnectRequest };

/**
 * The pool's start-up warm-up task (warm-start.ts): the worker replays a recorded publish
 * session into this many fresh IngestConnections, posting what they emit on `port` as a
 * connection's port would; the main thread answers their publish and takes their media.
 */
export interface WarmUpTask {
  /** an FLV file of H.264 + AAC (the session's media, looped) */
  flv: Uint8Array;
  limits: IngestLimits;
  /** rounds of connections; the worker collects its garbage after each (see warm-start-worker.ts) */
  rounds: number;
  connectionsPerRound: number;
  /** media time per connection, ms */
  durationMs: number;
  bitrateBps: number;
  /** every how many connections one muxes MPEG-TS too (0: none) */
  tsEvery: number;
  /** the one long connection (the last of the first round): media time, ms, bitrate, and first timestamp, ms */
  longDurationMs: number;
  longBitrateBps: number;
  longStartMs: number;
  port: MessagePort;
}

export interface WarmUpResult {
  connections: number;
  /** socket bytes replayed */
  bytes: number;
  /** the worker's wall time for it, ms */
  ms: number;
}

/** On a warm-up port, besides the connection's own messages (WorkerToMain[], MainToWorker). */
export type WarmUpControl =
  /** worker → main: the connection finished; the main thread drops what it stored of it, then acks */
  | { type: 'warm_up_connection_done' }
  /** main → worker: the last connection's media is released */
  | { type: 'warm_up_ack' };
