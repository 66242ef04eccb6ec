/**
 * The floor under any RTMP server written on Node's net module: a process
 * that completes the RTMP handshake and publish commands (with our own
 * session code, inline) and from then on only reads the socket and
 * discards the bytes. Whatever Node and the kernel spend per GB here, every
 * Node ingest pays before it parses a byte; bench:ingest measures it in the
 * same run as the servers, so their figures can be read against it.
 *
 *   node --import tsx loadtest/peers/node-read-floor.ts   (prints {"port":N} once listening)
 */
import net from 'node:net';
import { IngestConnection } from '../../src/ingest/ingest-connection.js';
import type { IngestLimits } from '../../src/ingest/ingest-messages.js';
import { ByteRing } from '../../src/stream/byte-ring.js';

const LIMITS: IngestLimits = {
  maxMessageBytes: 8 << 20,
  maxChunkSize: 1 << 20,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 30_000,
  targetDurationMs: 2000,
  partTargetMs: 333,
};

const server = net.createServer({ noDelay: true }, (socket) => {
  let discarding = false;
  let discarded = 0;
  const connection: IngestConnection = new IngestConnection(LIMITS, (message) => {
    if (message.type === 'send') socket.write(message.bytes);
    else if (message.type === 'publish') {
      // accepted as the main thread accepts a good key: later, as a message would arrive
      setImmediate(() => {
        connection.handle({ type: 'publish_accepted', streamId: 'floor', frameQueue: ByteRing.create(64 * 1024).buffer, frameQueueReader: false, resume: null });
        discarding = true;
      });
    }
  });
  socket.on('data', (chunk: Buffer) => {
    if (discarding) discarded += chunk.length;
    else connection.push(chunk, Date.now());
  });
  socket.on('error', () => undefined);
  socket.on('close', () => void discarded);
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as net.AddressInfo).port }));
});
process.once('SIGTERM', () => process.exit(0));
