import { readFileSync } from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { SchemaValidator } from './schema-validator.js';

const schema = JSON.parse(readFileSync(new URL('../../../docs/schemas/ws-messages.schema.json', import.meta.url), 'utf8')) as Record<string, unknown>;
export const wsMessageValidator = new SchemaValidator(schema);

export interface WsMessage {
  type: string;
  v: number;
  ts: number;
  stream_id: string;
  seq: number;
  [key: string]: unknown;
}

/** A test viewer: records every message (schema-checked) and how the socket ended. */
export class TestViewer {
  readonly ws: WebSocket;
  readonly messages: WsMessage[] = [];
  readonly schemaErrors: string[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** HTTP status when the upgrade was refused. */
  rejectedStatus: number | null = null;
  private waiters: Array<() => void> = [];

  constructor(url: string, options: { protocols?: string[]; localAddress?: string } = {}) {
    this.ws = new WebSocket(url, options.protocols ?? [], { localAddress: options.localAddress });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('unexpected-response', (_req, res) => {
        this.rejectedStatus = res.statusCode ?? null;
        reject(new Error(`upgrade refused with ${res.statusCode}`));
      });
      this.ws.once('error', reject);
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
      this.ws.once('unexpected-response', () => resolve({ code: -1, reason: 'refused' }));
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : data.toString();
      let parsed: WsMessage;
      try {
        parsed = JSON.parse(text) as WsMessage;
      } catch {
        this.schemaErrors.push(`not JSON: ${text.slice(0, 80)}`);
        return;
      }
      const errors = wsMessageValidator.validate(parsed);
      if (errors.length > 0) this.schemaErrors.push(...errors.map((e) => `${parsed.type}: ${e}`));
      this.messages.push(parsed);
      const waiters = this.waiters;
      this.waiters = [];
      for (const wake of waiters) wake();
    });
  }

  /** Waits until a message matching `predicate` has arrived (looking at all received so far). */
  async waitFor(predicate: (message: WsMessage) => boolean, timeoutMs = 3000): Promise<WsMessage> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.find(predicate);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a message; got ${JSON.stringify(this.messages.map((m) => m.type))}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  ofType(type: string): WsMessage[] {
    return this.messages.filter((m) => m.type === type);
  }

  close(): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) this.ws.terminate();
  }
}

export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * A raw client that upgrades, reads until its snapshot (so it has joined the
 * stream's broadcasts) and then stops reading: a slow consumer.
 */
export async function stuckViewer(port: number, path: string): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1');
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  socket.on('error', () => {});
  socket.write(
    `GET ${path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
  );
  await new Promise<void>((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer): void => {
      received += chunk.toString('latin1');
      if (!received.startsWith('HTTP/1.1 101')) return reject(new Error(`not upgraded: ${received.slice(0, 80)}`));
      if (!received.includes('"snapshot"')) return;
      socket.off('data', onData);
      resolve();
    };
    socket.on('data', onData);
  });
  socket.pause();
  return socket;
}
