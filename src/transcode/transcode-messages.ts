import type { MessagePort } from 'node:worker_threads';
import type { RenditionInfo } from '../package/rendition-info.js';
import type { MediaMessage } from '../package/media-message.js';
import type { EncoderName } from './encoder-flags.js';
import type { EncodeOptions, ThumbnailSpec } from './ffmpeg-command.js';
import type { LadderRung } from './ladder.js';

/**
 * The contract between the main thread and one stream's transcode task in
 * the pool. Frames reach the task through the stream's SharedArrayBuffer
 * frame queue (not through messages); these carry packaged media
 * (transferred), the set of live transcoded renditions, once-a-second
 * figures, and log lines.
 */

export interface TranscodeTask {
  streamId: string;
  /** the stream's frame queue (ByteRing buffer), written by its ingest task */
  frameQueue: SharedArrayBuffer;
  port: MessagePort;
  ffmpegPath: string;
  encoder: EncoderName;
  ladder: LadderRung[];
  encode: Partial<EncodeOptions>;
  targetDurationMs: number;
  partTargetMs: number;
  /** no output this long while input flows → restart */
  stallTimeoutMs: number;
  /** encoder backlog beyond which source frames are dropped for the ladder */
  maxLagMs: number;
  /** first restart delay, doubled per consecutive failure */
  restartBackoffMs: number;
  logLevel: string;
  /** a JPEG every so often from the ladder's decode; absent: none */
  thumbnail?: ThumbnailSpec;
}

/** Once a second, and at each process start or exit. */
export interface TranscodeStats {
  /** FFmpeg's PID, null between processes (exit → restart backoff) */
  pid: number | null;
  /** output media seconds per wall second over the last tick */
  speed: number;
  /** source DTS written minus slowest rendition's output DTS, ms */
  lagMs: number;
  /** totals since the task began */
  restarts: number;
  /** restarts that were stalls (no output while fed); the rest were exits */
  stalls: number;
  processStarts: number;
  /** source video frames not given to FFmpeg: encoder behind, stdin queue full, no process up */
  droppedLag: number;
  droppedQueueFull: number;
  droppedRestart: number;
}

export type TranscodeToMain =
  /** the stream's parts are written here from now on (PartArenaReader.attach it); sent before the first media in it */
  | { type: 'part_arena'; buffer: SharedArrayBuffer }
  | ({ type: 'media' } & MediaMessage)
  /** the transcoded renditions viewers can have now (empty while FFmpeg is down or for audio-only streams) */
  | { type: 'renditions'; renditions: RenditionInfo[] }
  | { type: 'stats'; stats: TranscodeStats }
  /** the stream's newest thumbnail, a whole JPEG (transferred) */
  | { type: 'thumbnail'; jpeg: ArrayBuffer }
  /** a pino line from the task, re-logged by the main thread's logger */
  | { type: 'log'; line: string };

export type MainToTranscode = { type: 'stop' };
