/**
 * One bench client process: opens its share of viewer connections (spread
 * over loopback source addresses to get past the ephemeral-port limit),
 * then records, per delivered broadcast, latency (receipt − server ts) and
 * sequence gaps. Driven by ws-bench.ts over IPC.
 *
 * A bare RFC 6455 client on net.Socket rather than the `ws` package: with
 * tens of thousands of sockets in a few client processes on the same two
 * cores as the server, `ws`'s per-message work (event chain, Buffer copies,
 * UTF-8 decoding) made the clients the bottleneck, and their queueing showed
 * up as "delivery latency". Here a broadcast costs one 'data' callback and a
 * scan of a few ASCII bytes per socket. Server frames are unmasked; the
 * client's only frames (pong, close) are masked with a zero key, as allowed.
 *
 * With latencySample K > 1 only every K-th socket is read as messages arrive
 * (its latencies make the histogram); the others stay paused, their messages
 * waiting in kernel buffers (a minute of broadcasts is a few KiB), and are read
 * at report time to count losses. The server does exactly the same work; what
 * is measured is then its fan-out, not the clients' queue of 'data' callbacks.
 */
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { LATENCY_BUCKETS, type ClientCommand, type ClientReply } from './ws-bench-protocol.js';

const histogram = new Uint32Array(LATENCY_BUCKETS);
const viewers: BenchViewer[] = [];
let connected = 0;
let failed = 0;
let received = 0;
let lost = 0;
let unexpectedCloses = 0;
let stopping = false;

function reply(message: ClientReply): void {
  process.send!(message);
}

const OPCODE_TEXT = 0x1;
const OPCODE_CLOSE = 0x8;
const OPCODE_PING = 0x9;
const HEADER_END = Buffer.from('\r\n\r\n');
const SNAPSHOT_PREFIX = Buffer.from('{"type":"snapshot"');
const SEQ_KEY = Buffer.from('"seq":');
const TS_KEY = Buffer.from('"ts":');

/** The decimal integer right after `key` in `payload` (-1 if absent). */
function numberAfter(payload: Buffer, key: Buffer): number {
  const at = payload.indexOf(key);
  if (at < 0) return -1;
  let value = 0;
  for (let i = at + key.length; i < payload.length; i++) {
    const digit = payload[i]! - 48;
    if (digit < 0 || digit > 9) break;
    value = value * 10 + digit;
  }
  return value;
}

/** A client frame: FIN + opcode, masked with a zero key (so the payload goes as is). */
function clientFrame(opcode: number, payload: Buffer): Buffer {
  const header = Buffer.from([0x80 | opcode, 0x80 | payload.length, 0, 0, 0, 0]);
  return Buffer.concat([header, payload]);
}

class BenchViewer {
  /** seq of the snapshot, then of the last broadcast seen (-1 before the snapshot). */
  lastSeq = -1;
  broadcastsSeen = 0;
  /** Read as messages arrive and timed; false: paused until the report. */
  live = true;
  open = false;
  private upgraded = false;
  private pending: Buffer | null = null;

  constructor(
    readonly socket: net.Socket,
    private readonly onSettled: (ok: boolean) => void,
  ) {}

  onData(chunk: Buffer): void {
    let data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    if (!this.upgraded) {
      const end = data.indexOf(HEADER_END);
      if (end < 0) {
        this.pending = data;
        return;
      }
      // "HTTP/1.1 101 …": byte 9 starts the status code.
      if (data.toString('latin1', 9, 12) !== '101') {
        this.socket.destroy();
        return;
      }
      this.upgraded = true;
      this.open = true;
      this.onSettled(true);
      if (!this.live) this.socket.pause();
      data = data.subarray(end + HEADER_END.length);
    }
    let offset = 0;
    while (data.length - offset >= 2) {
      const opcode = data[offset]! & 0x0f;
      let length = data[offset + 1]! & 0x7f;
      let headerLength = 2;
      if (length === 126) {
        if (data.length - offset < 4) break;
        length = data.readUInt16BE(offset + 2);
        headerLength = 4;
      } else if (length === 127) {
        if (data.length - offset < 10) break;
        length = Number(data.readBigUInt64BE(offset + 2));
        headerLength = 10;
      }
      if (data.length - offset < headerLength + length) break;
      const payload = data.subarray(offset + headerLength, offset + headerLength + length);
      offset += headerLength + length;
      if (opcode === OPCODE_TEXT) this.onText(payload);
      else if (opcode === OPCODE_PING) this.socket.write(clientFrame(0xa, Buffer.from(payload)));
      else if (opcode === OPCODE_CLOSE) {
        this.socket.end(clientFrame(OPCODE_CLOSE, Buffer.from(payload.subarray(0, 2))));
        return;
      }
    }
    if (offset < data.length) this.pending = Buffer.from(data.subarray(offset));
  }

  private onText(payload: Buffer): void {
    const seq = numberAfter(payload, SEQ_KEY);
    if (payload.subarray(0, SNAPSHOT_PREFIX.length).equals(SNAPSHOT_PREFIX)) {
      this.lastSeq = seq;
      return;
    }
    if (this.live) {
      const latency = Date.now() - numberAfter(payload, TS_KEY);
      histogram[Math.min(Math.max(latency, 0), LATENCY_BUCKETS - 1)]!++;
    }
    received++;
    this.broadcastsSeen++;
    if (this.lastSeq >= 0 && seq > this.lastSeq + 1) lost += seq - this.lastSeq - 1;
    this.lastSeq = seq;
  }
}

async function connectAll(url: string, count: number, localAddresses: string[], concurrency: number, latencySample: number): Promise<void> {
  const target = new URL(url);
  const port = Number(target.port);
  const request = Buffer.from(
    `GET ${target.pathname}${target.search} HTTP/1.1\r\nHost: ${target.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
  );
  const started = Date.now();
  let next = 0;
  let lastProgress = Date.now();
  await new Promise<void>((resolve) => {
    let inFlight = 0;
    const launch = (): void => {
      while (inFlight < concurrency && next < count) {
        const index = next++;
        inFlight++;
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
        const socket = net.connect({ port, host: target.hostname, localAddress: localAddresses[index % localAddresses.length] });
        socket.setNoDelay(true);
        const viewer = new BenchViewer(socket, settle);
        viewer.live = index % latencySample === 0;
        viewers[index] = viewer;
        socket.once('connect', () => socket.write(request));
        socket.on('data', (chunk: Buffer) => viewer.onData(chunk));
        socket.on('error', () => {});
        socket.once('close', () => {
          if (!settled) settle(false);
          else if (!stopping) unexpectedCloses++;
          viewer.open = false;
        });
      }
    };
    if (count === 0) resolve();
    else launch();
  });
  reply({ kind: 'connected', connected, failed, elapsedMs: Date.now() - started });
}

/** Reads what the paused sockets hold; resolves once every open socket saw `expected` broadcasts, or after timeoutMs. */
async function drainPaused(expected: number, timeoutMs: number): Promise<void> {
  for (const viewer of viewers) if (viewer && !viewer.live) viewer.socket.resume();
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && viewers.some((v) => v?.open && v.broadcastsSeen < expected)) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

process.on('message', async (command: ClientCommand) => {
  if (command.cmd === 'connect') void connectAll(command.url, command.count, command.localAddresses, command.concurrency, Math.max(1, command.latencySample));
  else if (command.cmd === 'report') {
    await drainPaused(command.expectedBroadcasts, 30_000);
    // Tail loss: a socket that saw fewer broadcasts than were sent lost the rest.
    let tailLost = 0;
    let open = 0;
    for (const viewer of viewers) {
      if (!viewer?.open) continue;
      open++;
      const missing = command.expectedBroadcasts - viewer.broadcastsSeen;
      if (missing > 0) tailLost += missing;
    }
    reply({ kind: 'report', connected, open, received, lost: Math.max(lost, tailLost), unexpectedCloses, latencyHistogram: Array.from(histogram) });
  } else if (command.cmd === 'exit') {
    stopping = true;
    for (const viewer of viewers) viewer?.socket.destroy();
    setTimeout(() => process.exit(0), 200);
  }
});
