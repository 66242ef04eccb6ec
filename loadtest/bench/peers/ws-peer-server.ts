/**
 * The peer in ws-bench: the same scenario on a plain `ws` WebSocketServer
 * (Node http upgrade, one send per client per broadcast; the message is
 * still serialised once). Speaks the same IPC as ws-bench-server.ts.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { WebSocketServer, type WebSocket } from 'ws';
import { BENCH_STREAM, type ServerCommand, type ServerReply } from '../ws-bench-protocol.js';

const server = http.createServer((_req, res) => {
  res.writeHead(404).end();
});
const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024, perMessageDeflate: false });
const clients = new Set<WebSocket>();
let seq = 0;
const path = `/api/v1/streams/${BENCH_STREAM}/ws`;

server.on('upgrade', (req, socket, head) => {
  if (req.url?.split('?')[0] !== path) {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    clients.add(ws);
    ws.on('close', () => clients.delete(ws));
    ws.on('error', () => {});
    ws.send(`{"type":"snapshot","v":1,"ts":${Date.now()},"stream_id":"${BENCH_STREAM}","seq":${seq},"live":true,"viewers":${clients.size},"peak":${clients.size},"renditions":[],"state":{}}`);
  });
});

function reply(message: ServerReply): void {
  process.send!(message);
}

server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('listen failed');
  reply({ kind: 'listening', port: address.port });
});

process.on('message', (command: ServerCommand) => {
  if (command.cmd === 'stats') reply({ kind: 'stats', rss: process.memoryUsage().rss, connections: clients.size });
  else if (command.cmd === 'exit') process.exit(0);
  else if (command.cmd === 'broadcast') {
    let sent = 0;
    let lateTicks = 0;
    const fanOutMs: number[] = [];
    let expected = Date.now() + command.intervalMs;
    const timer = setInterval(() => {
      if (Date.now() - expected > command.intervalMs / 2) lateTicks++;
      expected += command.intervalMs;
      sent++;
      seq++;
      const begun = performance.now();
      const message = `{"type":"viewer_count_changed","v":1,"ts":${Date.now()},"stream_id":"${BENCH_STREAM}","seq":${seq},"viewers":${clients.size},"peak":${clients.size}}`;
      for (const ws of clients) ws.send(message);
      // ws writes to each socket synchronously (or queues it in the socket): the loop has done its part by setImmediate.
      setImmediate(() => fanOutMs.push(performance.now() - begun));
      if (sent === command.count) {
        clearInterval(timer);
        setTimeout(() => reply({ kind: 'broadcast_done', broadcasts: sent, lateTicks, fanOutMs }), 50);
      }
    }, command.intervalMs);
  }
});
