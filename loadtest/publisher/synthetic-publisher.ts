/**
 * "A test publisher of our own": publishes real H.264/AAC (a 2 s 720p30
 * x264 + AAC fixture with B-frames) over RTMP in real time, looping it with
 * rewritten timestamps and padding each picture with filler-data NAL units
 * (type 12) so the stream runs at the chosen bitrate. Downstream parsers,
 * packagers and decoders see a valid stream; filler NALs are discarded by
 * decoders. It honours Enhanced RTMP v2 Reconnect Requests (handoff-client.ts): a draining
 * server's publisher moves to another instance at its next keyframe, timestamps continuing.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { decodeAmf0 } from '../../src/ingest/rtmp/amf0.js';
import { flattenMetadata } from '../../src/ingest/rtmp/rtmp-command.js';
import type { RtmpMetadata } from '../../src/ingest/rtmp/rtmp-client-session.js';
import { isAacSequenceHeader, isAvcPicture, isAvcSequenceHeader, isVideoKeyframe, readFlvTags, type FlvTag } from './flv-file.js';
import { HandOffClient, type HandOffEvent } from './handoff-client.js';
import { FILLER_NAL_OVERHEAD, paddedPicture } from '../../src/ingest/warm-start-session.js';

export const DEFAULT_FIXTURE = fileURLToPath(new URL('../../test/fixtures/rtmp/testsrc2-720p30-2s.flv', import.meta.url));

export interface SyntheticPublishOptions {
  /** rtmp://host:port/app/streamKey */
  url: string;
  /** total stream bitrate to reach, bits/s (video is padded; it is never cut below the encoded size) */
  bitrateBps: number;
  /** video frame rate; default the fixture's (30) */
  fps?: number;
  durationMs: number;
  signal?: AbortSignal;
  /** FLV file with H.264 + AAC to loop; default the committed 720p30 fixture */
  fixturePath?: string;
  /** our RTMP chunk size; default 4096 */
  chunkSize?: number;
  /** Reconnect Requests and hand-offs, as they happen */
  onEvent?: (event: HandOffEvent) => void;
}

export interface SyntheticPublishResult {
  /** video pictures sent */
  framesSent: number;
  audioFramesSent: number;
  /** bytes written to the socket (handshake and chunk headers included) */
  bytesSent: number;
  /** media timeline reached, ms */
  durationMs: number;
  /** times the publisher moved to another server on a Reconnect Request */
  handOffs: number;
  /** from the call to NetStream.Publish.Start (TCP connect, handshake, connect and publish commands), ms */
  connectMs: number;
  /** time spent waiting for the socket to drain (the server not reading as fast as we send), ms */
  drainMs: number;
}

const AAC_SAMPLE_RATES = [96000, 88200, 64000, 48000, 44100, 32000, 24000, 22050, 16000, 12000, 11025, 8000, 7350];

interface LoopSource {
  videoConfig: Uint8Array;
  audioConfig: Uint8Array;
  pictures: FlvTag[];
  /** per picture, whether it is a keyframe (where a hand-off may happen) */
  keyframes: boolean[];
  audioFrames: FlvTag[];
  frameDurationMs: number;
  sampleRate: number;
  metadata: RtmpMetadata;
}

/** Parsed fixtures by path: a process publishing many streams parses each file once (nothing in a LoopSource is written to). */
const sources = new Map<string, LoopSource>();

function loadSource(path: string): LoopSource {
  let source = sources.get(path);
  if (source === undefined) {
    source = parseSource(path);
    sources.set(path, source);
  }
  return source;
}

function parseSource(path: string): LoopSource {
  const tags = readFlvTags(new Uint8Array(readFileSync(path)));
  const videoConfig = tags.find((t) => t.type === 9 && isAvcSequenceHeader(t.body));
  const audioConfig = tags.find((t) => t.type === 8 && isAacSequenceHeader(t.body));
  if (videoConfig === undefined || audioConfig === undefined) throw new Error(`${path}: needs an AVC and an AAC sequence header`);
  const pictures = tags.filter((t) => t.type === 9 && isAvcPicture(t.body));
  const audioFrames = tags.filter((t) => t.type === 8 && !isAacSequenceHeader(t.body));
  const script = tags.find((t) => t.type === 18);
  const metadata: RtmpMetadata = {};
  if (script !== undefined) {
    const values = decodeAmf0(script.body);
    for (const [k, v] of Object.entries(flattenMetadata(values[1]))) if (v !== null) metadata[k] = v;
  }
  const asc = audioConfig.body.subarray(2);
  const frequencyIndex = ((asc[0] & 0x07) << 1) | (asc[1] >> 7);
  const span = pictures[pictures.length - 1].timestamp - pictures[0].timestamp;
  return {
    videoConfig: videoConfig.body,
    audioConfig: audioConfig.body,
    pictures,
    keyframes: pictures.map((picture) => isVideoKeyframe(picture.body)),
    audioFrames,
    frameDurationMs: span / (pictures.length - 1),
    sampleRate: AAC_SAMPLE_RATES[frequencyIndex] ?? 48000,
    metadata,
  };
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });

export async function publishSynthetic(options: SyntheticPublishOptions): Promise<SyntheticPublishResult> {
  const source = loadSource(options.fixturePath ?? DEFAULT_FIXTURE);
  const fps = options.fps ?? Math.round(1000 / source.frameDurationMs);
  const frameMs = 1000 / fps;
  const ctsScale = source.frameDurationMs > 0 ? frameMs / source.frameDurationMs : 1;
  const audioFrameMs = (1024 * 1000) / source.sampleRate;
  const audioBytesPerSecond = (source.audioFrames.reduce((n, t) => n + t.body.length, 0) / (source.audioFrames.length * audioFrameMs)) * 1000;
  const videoBytesPerFrame = Math.max(0, options.bitrateBps / 8 - audioBytesPerSecond) / fps;
  const largestPicture = source.pictures.reduce((n, t) => Math.max(n, t.body.length), 0);
  // One scratch buffer for every picture: the chunk writer copies the payload, so it can be reused.
  const scratch = new Uint8Array(largestPicture + Math.ceil(videoBytesPerFrame * 4) + FILLER_NAL_OVERHEAD);

  const called = performance.now();
  const client = await HandOffClient.open(options.url, { chunkSize: options.chunkSize ?? 4096, onEvent: options.onEvent });
  let framesSent = 0;
  let audioFramesSent = 0;
  let timeline = 0;
  let connectMs = 0;
  let drainMs = 0;
  try {
    await client.publish({
      metadata: {
        ...source.metadata,
        duration: 0,
        framerate: fps,
        videodatarate: Math.round(videoBytesPerFrame * fps * 8 / 1000),
      },
      videoConfig: source.videoConfig,
      audioConfig: source.audioConfig,
    });

    const start = performance.now();
    connectMs = start - called;
    let videoBudget = 0;
    let videoBytes = 0;
    for (;;) {
      if (options.signal?.aborted) break;
      const videoTs = Math.round(framesSent * frameMs);
      const audioTs = Math.round(audioFramesSent * audioFrameMs);
      const nextTs = Math.min(videoTs, audioTs);
      if (nextTs >= options.durationMs) break;
      const wait = nextTs - (performance.now() - start);
      if (wait > 2) await sleep(wait, options.signal);
      if (client.congested) {
        const waiting = performance.now();
        await client.drain();
        drainMs += performance.now() - waiting;
      }
      timeline = nextTs;
      if (videoTs <= audioTs) {
        const index = framesSent % source.pictures.length;
        const picture = source.pictures[index].body;
        videoBudget += videoBytesPerFrame;
        const pad = Math.min(Math.floor(videoBudget - videoBytes - picture.length), Math.ceil(videoBytesPerFrame * 4));
        const size = paddedPicture(scratch, picture, ctsScale, pad);
        client.sendVideo(videoTs, scratch.subarray(0, size), source.keyframes[index]);
        videoBytes += size;
        framesSent++;
      } else {
        client.sendAudio(audioTs, source.audioFrames[audioFramesSent % source.audioFrames.length].body);
        audioFramesSent++;
      }
    }
    await client.drain();
  } finally {
    await client.close();
  }
  return { framesSent, audioFramesSent, bytesSent: client.bytesSent, durationMs: timeline, handOffs: client.handOffs, connectMs, drainMs };
}
