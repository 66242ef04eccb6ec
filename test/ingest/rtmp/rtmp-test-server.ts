/**
 * A tiny RTMP ingest server for tests and fixture capture: one
 * RtmpServerSession per socket, publish always accepted, events recorded.
 */
import net from 'node:net';
import { isNovaError } from '../../../src/errors.js';
import { RtmpServerSession } from '../../../src/ingest/rtmp/rtmp-server-session.js';
import type { ReconnectRequest } from '../../../src/ingest/rtmp/reconnect-request.js';

export interface RecordedMedia {
  timestamp: number;
  /** first bytes of the body (codec header), copied */
  head: Uint8Array;
  size: number;
}

export interface RecordedConnection {
  publish: { app: string; streamName: string; tcUrl: string } | null;
  metadata: Record<string, string | number | boolean | null>[];
  video: RecordedMedia[];
  audio: RecordedMedia[];
  unpublished: boolean;
  error: { code: string; message: string } | null;
  /** raw inbound bytes, when recording */
  inbound: Buffer[];
  inboundBytes: number;
  closed: Promise<void>;
  /** the capsEx the client's connect announced */
  capsEx(): number;
  /** sends the client an Enhanced RTMP v2 Reconnect Request; false before connect */
  requestReconnect(request: ReconnectRequest): boolean;
}

export interface TestRtmpServer {
  port: number;
  connections: RecordedConnection[];
  close(): Promise<void>;
}

export async function startTestRtmpServer(
  options: { recordInboundBytes?: number; maxMessageBytes?: number; rejectPublish?: boolean } = {},
): Promise<TestRtmpServer> {
  const connections: RecordedConnection[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let markClosed!: () => void;
    const record: RecordedConnection = {
      publish: null,
      metadata: [],
      video: [],
      audio: [],
      unpublished: false,
      error: null,
      inbound: [],
      inboundBytes: 0,
      closed: new Promise<void>((resolve) => (markClosed = resolve)),
      capsEx: () => session.peerCapsEx,
      requestReconnect: (request) => session.requestReconnect(request),
    };
    connections.push(record);
    const session: RtmpServerSession = new RtmpServerSession(
      {
        send: (bytes) => {
          if (!socket.destroyed) socket.write(bytes);
        },
        onPublishRequest: (app, streamName, tcUrl) => {
          record.publish = { app, streamName, tcUrl };
          // Answer asynchronously, as the real key check does.
          setImmediate(() => {
            if (options.rejectPublish) session.rejectPublish('NetStream.Publish.Denied', 'denied by test');
            else session.acceptPublish();
          });
        },
        onUnpublish: () => {
          record.unpublished = true;
        },
        onMetadata: (meta) => record.metadata.push(meta),
        onVideo: (timestamp, body) => record.video.push({ timestamp, head: body.slice(0, 5), size: body.length }),
        onAudio: (timestamp, body) => record.audio.push({ timestamp, head: body.slice(0, 2), size: body.length }),
      },
      { maxMessageBytes: options.maxMessageBytes ?? 8 << 20, maxChunkSize: 1 << 20 },
    );
    socket.on('data', (bytes: Buffer) => {
      const limit = options.recordInboundBytes ?? 0;
      if (record.inboundBytes < limit) {
        const take = bytes.subarray(0, Math.min(bytes.length, limit - record.inboundBytes));
        record.inbound.push(Buffer.from(take));
        record.inboundBytes += take.length;
      }
      try {
        session.push(bytes);
      } catch (err) {
        record.error = isNovaError(err) ? { code: err.code, message: err.message } : { code: 'NON_NOVA', message: String(err) };
        socket.destroy();
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      markClosed();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as net.AddressInfo;
  return {
    port: address.port,
    connections,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
