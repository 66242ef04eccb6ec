/**
 * TCP payload bytes (both directions) of every client socket this process
 * opens from now on: HTTP requests, Redis connections. Servers listening in
 * uWebSockets.js are not Node sockets; count the bytes at the client side.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import type { Socket } from 'node:net';

export function countClientSocketBytes(): () => number {
  const sockets: Socket[] = [];
  diagnosticsChannel.subscribe('net.client.socket', (message) => {
    sockets.push((message as { socket: Socket }).socket);
  });
  return () => {
    let bytes = 0;
    for (const socket of sockets) bytes += socket.bytesRead + socket.bytesWritten;
    return bytes;
  };
}
