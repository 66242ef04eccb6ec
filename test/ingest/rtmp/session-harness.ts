/**
 * Drives an RtmpServerSession in-process for tests: records every handler
 * call and decodes what the session sends back.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { encodeAmf0, type Amf0EncodableValue } from '../../../src/ingest/rtmp/amf0.js';
import { ChunkReader } from '../../../src/ingest/rtmp/chunk-reader.js';
import { ChunkWriter } from '../../../src/ingest/rtmp/chunk-writer.js';
import { HANDSHAKE_PACKET_SIZE } from '../../../src/ingest/rtmp/handshake.js';
import { decodeCommand, type RtmpCommand } from '../../../src/ingest/rtmp/rtmp-command.js';
import { RtmpServerSession, type RtmpSessionLimits } from '../../../src/ingest/rtmp/rtmp-server-session.js';

export const ffmpegPublishCapture = (): Uint8Array =>
  new Uint8Array(readFileSync(fileURLToPath(new URL('../../fixtures/rtmp/ffmpeg-publish.bin', import.meta.url))));

export interface MediaRecord {
  timestamp: number;
  size: number;
  b0: number;
  b1: number;
}

export interface ReplyMessage {
  typeId: number;
  streamId: number;
  payload: Uint8Array;
}

export class SessionHarness {
  readonly session: RtmpServerSession;
  readonly sent: Uint8Array[] = [];
  readonly publishRequests: Array<{ app: string; streamName: string; tcUrl: string }> = [];
  readonly metadata: Record<string, string | number | boolean | null>[] = [];
  readonly video: MediaRecord[] = [];
  readonly audio: MediaRecord[] = [];
  readonly ignored: string[] = [];
  unpublishCount = 0;
  maxBufferedBytes = 0;

  constructor(
    limits: RtmpSessionLimits = { maxMessageBytes: 1 << 20, maxChunkSize: 65536 },
    private readonly autoAccept = true,
  ) {
    this.session = new RtmpServerSession(
      {
        send: (bytes) => this.sent.push(bytes),
        onPublishRequest: (app, streamName, tcUrl) => {
          this.publishRequests.push({ app, streamName, tcUrl });
          if (this.autoAccept) this.session.acceptPublish();
        },
        onUnpublish: () => this.unpublishCount++,
        onMetadata: (meta) => this.metadata.push(meta),
        onVideo: (timestamp, body) => this.video.push({ timestamp, size: body.length, b0: body[0], b1: body[1] }),
        onAudio: (timestamp, body) => this.audio.push({ timestamp, size: body.length, b0: body[0], b1: body[1] }),
        onIgnoredCommand: (name) => this.ignored.push(name),
      },
      limits,
    );
  }

  push(bytes: Uint8Array): void {
    this.session.push(bytes);
    if (this.session.bufferedBytes > this.maxBufferedBytes) this.maxBufferedBytes = this.session.bufferedBytes;
  }

  /** The chunk size the session's replies ended at (Set Chunk Size is consumed by the reader). */
  replyChunkSize = 0;

  /** Everything the session sent after S0S1S2, decoded into messages. */
  replies(): ReplyMessage[] {
    const all = Buffer.concat(this.sent);
    const out: ReplyMessage[] = [];
    const reader = new ChunkReader((typeId, streamId, _ts, payload) => out.push({ typeId, streamId, payload: payload.slice() }), {
      maxMessageBytes: 1 << 20,
      maxChunkSize: 1 << 20,
    });
    reader.push(all.subarray(1 + 2 * HANDSHAKE_PACKET_SIZE));
    this.replyChunkSize = reader.chunkSize;
    return out;
  }

  replyCommands(): RtmpCommand[] {
    return this.replies()
      .filter((m) => m.typeId === 20)
      .map((m) => decodeCommand(20, m.payload));
  }
}

/** Builds what a client sends: a simple handshake then messages. */
export class ClientBytes {
  private readonly writer = new ChunkWriter();
  private readonly parts: Uint8Array[] = [];

  handshake(): this {
    const c0c1 = new Uint8Array(1 + HANDSHAKE_PACKET_SIZE);
    c0c1[0] = 3;
    this.parts.push(c0c1, new Uint8Array(HANDSHAKE_PACKET_SIZE));
    return this;
  }

  message(chunkStreamId: number, typeId: number, streamId: number, timestamp: number, payload: Uint8Array): this {
    this.parts.push(this.writer.writeMessage(chunkStreamId, typeId, streamId, timestamp, payload));
    return this;
  }

  command(streamId: number, ...values: Amf0EncodableValue[]): this {
    return this.message(3, 20, streamId, 0, encodeAmf0(values));
  }

  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    return this;
  }

  /** handshake + connect + createStream + publish */
  publishPreamble(key = 'key1'): this {
    return this.handshake().publishCommands(key);
  }

  /** connect + createStream + publish */
  publishCommands(key = 'key1'): this {
    return this.command(0, 'connect', 1, { app: 'live', tcUrl: 'rtmp://127.0.0.1/live' })
      .command(0, 'createStream', 2, null)
      .command(1, 'publish', 0, null, key, 'live');
  }

  bytes(): Uint8Array {
    return new Uint8Array(Buffer.concat(this.parts));
  }
}
