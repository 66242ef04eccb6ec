/**
 * The publisher side of the start-up warm-up (see warm-start.ts): one real RTMP publish
 * session, made in memory from an FLV file of H.264 + AAC, as the socket reads a publishing
 * connection receives. The session is made once by a real RtmpClientSession talking to a real
 * IngestConnection (so it has what FFmpeg and OBS send: handshake, connect, createStream,
 * publish, metadata, then media), and replayed by the warm-up into fresh connections.
 */
import { FlvReader } from '../transcode/flv-reader.js';
import { RtmpClientSession, type RtmpMetadata } from './rtmp/rtmp-client-session.js';
import { decodeAmf0 } from './rtmp/amf0.js';
import { flattenMetadata } from './rtmp/rtmp-command.js';
import { IngestConnection } from './ingest-connection.js';
import { PartArenaReader } from '../package/media-message.js';
import { NovaError } from '../errors.js';
import type { IngestLimits, WorkerToMain } from './ingest-messages.js';

/** 4-byte length + NAL header + rbsp trailing byte */
export const FILLER_NAL_OVERHEAD = 6;

/**
 * Copies an FLV AVC picture into `out`, rescaling its composition time by `ctsScale` and
 * appending one filler-data NAL unit (type 12, discarded by decoders) of about `pad` bytes,
 * so a short fixture stands for a stream of any bitrate. Returns the size written.
 */
export function paddedPicture(out: Uint8Array, picture: Uint8Array, ctsScale: number, pad: number): number {
  out.set(picture, 0);
  const rawCts = (picture[2]! << 16) | (picture[3]! << 8) | picture[4]!;
  const cts = Math.round(((rawCts << 8) >> 8) * ctsScale); // sign-extend 24 bits
  out[2] = (cts >> 16) & 0xff;
  out[3] = (cts >> 8) & 0xff;
  out[4] = cts & 0xff;
  let size = picture.length;
  if (pad < FILLER_NAL_OVERHEAD) return size;
  const nalSize = pad - 4;
  out[size] = nalSize >>> 24;
  out[size + 1] = (nalSize >>> 16) & 0xff;
  out[size + 2] = (nalSize >>> 8) & 0xff;
  out[size + 3] = nalSize & 0xff;
  out[size + 4] = 0x0c; // nal_unit_type 12: filler data
  out.fill(0xff, size + 5, size + pad - 1);
  out[size + pad - 1] = 0x80; // rbsp_trailing_bits
  size += pad;
  return size;
}

interface FixtureTags {
  metadata: RtmpMetadata;
  videoConfig: Uint8Array;
  audioConfig: Uint8Array;
  pictures: { timestamp: number; body: Uint8Array }[];
  audioFrames: Uint8Array[];
}

function fixtureTags(flv: Uint8Array): FixtureTags {
  const tags: FixtureTags = { metadata: {}, videoConfig: new Uint8Array(0), audioConfig: new Uint8Array(0), pictures: [], audioFrames: [] };
  const reader = new FlvReader({
    tag(type, timestamp, body) {
      const copy = body.slice(); // the reader's view is valid only during the call
      if (type === 18) {
        const values = decodeAmf0(copy);
        for (const [k, v] of Object.entries(flattenMetadata(values[1]))) if (v !== null) tags.metadata[k] = v;
      } else if (type === 9 && (copy[0]! & 0x0f) === 7) {
        if (copy[1] === 0) tags.videoConfig = copy;
        else if (copy[1] === 1) tags.pictures.push({ timestamp, body: copy });
      } else if (type === 8 && copy[0]! >> 4 === 10) {
        if (copy[1] === 0) tags.audioConfig = copy;
        else tags.audioFrames.push(copy);
      }
    },
  });
  reader.push(flv);
  if (tags.videoConfig.length === 0 || tags.audioConfig.length === 0 || tags.pictures.length < 2 || tags.audioFrames.length === 0) {
    throw new NovaError('NOVA_ERR_FLV', 'the warm-up file needs H.264 and AAC sequence headers and frames');
  }
  return tags;
}

export interface WarmUpSessionOptions {
  /** media time the session publishes, ms (the fixture is looped) */
  durationMs: number;
  /** the stream's first timestamp, ms (a publisher's clock need not start at 0) */
  startMs?: number;
  /** what the stream is padded to, bits/s */
  bitrateBps: number;
  /** the publisher's chunk size (FFmpeg and OBS: 4096) */
  chunkSize: number;
}

export interface WarmUpSession {
  /** the handshake and commands up to publish, in order, each a socket read of its own (round trips) */
  commandReads: Uint8Array[];
  /** the bytes after the publish command, in order: metadata, sequence headers, media, the unpublish */
  media: Uint8Array;
  /** per message written after publish: where its bytes end in `media` */
  mediaEnds: Uint32Array;
  /** per message written after publish: when a real-time publisher writes it, ms after publishing (its timestamp) */
  mediaSentAtMs: Float64Array;
  bytes: number;
}

/**
 * Records the session: the client's bytes go to a real IngestConnection (which answers the
 * handshake and commands), deliveries deferred to microtasks so neither side is re-entered.
 */
export async function recordWarmUpSession(flv: Uint8Array, limits: IngestLimits, options: WarmUpSessionOptions): Promise<WarmUpSession> {
  const tags = fixtureTags(flv);
  const sent: Uint8Array[] = [];
  /** per piece in `sent`: the media time being written when it was */
  const sentAtMs: number[] = [];
  let writingAtMs = 0;
  let publishRead = -1;
  const parts = new PartArenaReader(() => undefined);
  let client: RtmpClientSession | null = null;
  const server: IngestConnection = new IngestConnection(limits, (message: WorkerToMain) => {
    if (message.type === 'send') {
      const bytes = message.bytes;
      queueMicrotask(() => client?.push(bytes));
    } else if (message.type === 'publish') {
      if (publishRead < 0) publishRead = sent.length - 1;
      queueMicrotask(() =>
        server.handle({ type: 'publish_accepted', streamId: 'warm-up', frameQueue: null, resume: null, tsWanted: false }),
      );
    } else if (message.type === 'part_arena') {
      parts.attach(message.buffer);
    } else if (message.type === 'media') {
      parts.received(message, false); // releases the part's region
    }
  });
  client = new RtmpClientSession(
    (bytes) => {
      const copy = bytes.slice();
      sent.push(copy);
      sentAtMs.push(writingAtMs);
      queueMicrotask(() => server.push(copy, Date.now()));
    },
    { chunkSize: options.chunkSize },
  );
  client.start();
  await client.connect('live', 'rtmp://127.0.0.1/live');
  await client.publish('warm-up');
  const first = tags.pictures[0]!.timestamp;
  const frameDurationMs = (tags.pictures[tags.pictures.length - 1]!.timestamp - first) / (tags.pictures.length - 1);
  const audioBytes = tags.audioFrames.reduce((n, f) => n + f.length, 0);
  const asc = tags.audioConfig.subarray(2);
  const sampleRate = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350][((asc[0]! & 0x07) << 1) | (asc[1]! >> 7)] ?? 48000;
  const audioFrameMs = (1024 * 1000) / sampleRate;
  const audioBytesPerSecond = (audioBytes / (tags.audioFrames.length * audioFrameMs)) * 1000;
  const fps = Math.round(1000 / frameDurationMs);
  const videoBytesPerFrame = Math.max(0, options.bitrateBps / 8 - audioBytesPerSecond) / fps;
  client.sendMetadata({ ...tags.metadata, duration: 0, framerate: fps });
  const start = options.startMs ?? 0;
  client.sendVideo(start, tags.videoConfig);
  client.sendAudio(start, tags.audioConfig);
  const largest = tags.pictures.reduce((n, p) => Math.max(n, p.body.length), 0);
  const scratch = new Uint8Array(largest + Math.ceil(videoBytesPerFrame * 4) + FILLER_NAL_OVERHEAD);
  let pictures = 0;
  let audioFrames = 0;
  let budget = 0;
  let videoBytes = 0;
  for (;;) {
    const videoTs = Math.round(pictures * frameDurationMs);
    const audioTs = Math.round(audioFrames * audioFrameMs);
    if (Math.min(videoTs, audioTs) >= options.durationMs) break;
    if (videoTs <= audioTs) {
      const picture = tags.pictures[pictures % tags.pictures.length]!.body;
      budget += videoBytesPerFrame;
      const pad = Math.min(Math.floor(budget - videoBytes - picture.length), Math.ceil(videoBytesPerFrame * 4));
      const size = paddedPicture(scratch, picture, 1, pad);
      writingAtMs = videoTs;
      client.sendVideo(start + videoTs, scratch.subarray(0, size));
      videoBytes += size;
      pictures++;
    } else {
      writingAtMs = audioTs;
      client.sendAudio(start + audioTs, tags.audioFrames[audioFrames % tags.audioFrames.length]!);
      audioFrames++;
    }
  }
  client.unpublish('warm-up');
  await new Promise((resolve) => setImmediate(resolve)); // the last deliveries
  server.finishStream('unpublished');
  if (publishRead < 0) throw new NovaError('NOVA_ERR_INTERNAL', 'the warm-up session never asked to publish');
  // The handshake and commands are round trips: each arrives as a read of its own. What follows
  // the publish command is cut into reads at replay, by when a real-time publisher sends it.
  const commandReads = sent.slice(0, publishRead + 1);
  const after = sent.slice(publishRead + 1);
  const mediaEnds = new Uint32Array(after.length);
  const mediaSentAtMs = new Float64Array(after.length);
  const media = new Uint8Array(after.reduce((n, piece) => n + piece.length, 0));
  let at = 0;
  for (let i = 0; i < after.length; i++) {
    media.set(after[i]!, at);
    at += after[i]!.length;
    mediaEnds[i] = at;
    mediaSentAtMs[i] = sentAtMs[publishRead + 1 + i]!;
  }
  const bytes = commandReads.reduce((n, read) => n + read.length, media.length);
  return { commandReads, media, mediaEnds, mediaSentAtMs, bytes };
}
