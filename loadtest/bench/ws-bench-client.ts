/**
 * One bench client process: opens its share of viewer connections (spread
 * over loopback source addresses to get past the ephemeral-port limit),
 * then records, per delivered broadcast, latency (receipt − server ts) and
 * sequence gaps. Driven by ws-bench.ts over IPC.
 */
import WebSocket from 'ws';
import { LATENCY_BUCKETS, type ClientCommand, type ClientReply } from './ws-bench-protocol.js';

const histogram = new Uint32Array(LATENCY_BUCKETS);
const sockets: WebSocket[] = [];
let connected = 0;
let failed = 0;
let received = 0;
let lost = 0;
let unexpectedCloses = 0;
let stopping = false;
/** Per socket: seq of its snapshot, then of the last broadcast seen. */
const lastSeq: number[] = [];
const broadcastsSeen: number[] = [];
const baseSeq: number[] = [];

function reply(message: ClientReply): void {
  process.send!(message);
}

const SEQ_PATTERN = /"seq":(\d+)/;
const TS_PATTERN = /"ts":(\d+)/;

function onMessage(index: number, data: WebSocket.RawData): void {
  const text = data.toString();
  // Regexes rather than JSON.parse: the client must not be the bottleneck.
  const seq = Number(SEQ_PATTERN.exec(text)?.[1] ?? -1);
  if (text.startsWith('{"type":"snapshot"')) {
    lastSeq[index] = seq;
    baseSeq[index] = seq;
    return;
  }
  const latency = Date.now() - Number(TS_PATTERN.exec(text)?.[1] ?? 0);
  histogram[Math.min(Math.max(latency, 0), LATENCY_BUCKETS - 1)]!++;
  received++;
  broadcastsSeen[index]!++;
  const previous = lastSeq[index]!;
  if (previous >= 0 && seq > previous + 1) lost += seq - previous - 1;
  lastSeq[index] = seq;
}

async function connectAll(url: string, count: number, localAddresses: string[], concurrency: number): Promise<void> {
  const started = Date.now();
  let next = 0;
  let lastProgress = Date.now();
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const launch = (): void => {
      while (inFlight < concurrency && next < count) {
        const index = next++;
        inFlight++;
        lastSeq[index] = -1;
        broadcastsSeen[index] = 0;
        baseSeq[index] = -1;
        const ws = new WebSocket(url, { localAddress: localAddresses[index % localAddresses.length], perMessageDeflate: false });
        sockets[index] = ws;
        let settled = false;
        const settle = (ok: boolean): void => {
          if (settled) return;
          settled = true;
          inFlight--;
          if (ok) connected++;
          else failed++;
          if (Date.now() - lastProgress > 1000) {
            lastProgress = Date.now();
            reply({ kind: 'progress', connected, failed });
          }
          if (connected + failed === count) resolve();
          else launch();
        };
        ws.on('open', () => settle(true));
        ws.on('message', (data) => onMessage(index, data));
        ws.on('error', () => settle(false));
        ws.on('close', () => {
          if (!settled) settle(false);
          else if (!stopping) unexpectedCloses++;
        });
      }
    };
    if (count === 0) resolve();
    else launch();
  });
  reply({ kind: 'connected', connected, failed, elapsedMs: Date.now() - started });
}

process.on('message', (command: ClientCommand) => {
  if (command.cmd === 'connect') void connectAll(command.url, command.count, command.localAddresses, command.concurrency);
  else if (command.cmd === 'report') {
    // Tail loss: a socket that saw fewer broadcasts than were sent lost the rest.
    let tailLost = 0;
    let open = 0;
    for (let i = 0; i < sockets.length; i++) {
      const ws = sockets[i];
      if (!ws || ws.readyState !== WebSocket.OPEN) continue;
      open++;
      const missing = command.expectedBroadcasts - broadcastsSeen[i]!;
      if (missing > 0) tailLost += missing;
    }
    reply({ kind: 'report', connected, open, received, lost: Math.max(lost, tailLost), unexpectedCloses, latencyHistogram: Array.from(histogram) });
  } else if (command.cmd === 'exit') {
    stopping = true;
    for (const ws of sockets) ws?.terminate();
    setTimeout(() => process.exit(0), 200);
  }
});
