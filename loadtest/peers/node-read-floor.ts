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
import { inlineIngestConnection } from './inline-ingest.js';

const server = net.createServer({ noDelay: true }, (socket) => {
  let discarding = false;
  const connection = inlineIngestConnection({
    emit: (message) => {
      if (message.type === 'send') socket.write(message.bytes);
    },
    defer: (accept) =>
      setImmediate(() => {
        accept();
        discarding = true;
      }),
    frameQueueBytes: 64 * 1024,
  });
  socket.on('data', (chunk: Buffer) => {
    if (!discarding) connection.push(chunk, Date.now());
  });
  socket.on('error', () => undefined);
});
server.listen(0, '127.0.0.1', () => {
  console.log(JSON.stringify({ port: (server.address() as net.AddressInfo).port }));
});
process.once('SIGTERM', () => process.exit(0));
