import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createClient } from 'redis';
import { RedisEventBus } from '../../../src/control/events/redis-bus.js';
import { RedisViewerStore } from '../../../src/control/viewers/redis-viewer-store.js';
import { silentLog, startHub, type HubFixture } from './hub-fixture.js';

export const SHARED_REDIS_URL = 'redis://127.0.0.1:6379';

export function uniqueNamespace(): { channel: string; prefix: string } {
  const id = `${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
  return { channel: `nova-test:${id}:events`, prefix: `nova-test:${id}:` };
}

/** Deletes a test run's keys from a shared Redis. */
export async function deleteKeys(url: string, prefix: string): Promise<void> {
  const client = createClient({ url });
  await client.connect();
  try {
    const keys = await client.keys(`${prefix}*`);
    if (keys.length > 0) await client.del(keys);
  } finally {
    client.destroy();
  }
}

export async function redisReachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

/** A private redis-server on `port` (no persistence), for outage tests. */
export class OwnRedis {
  private child: ChildProcess | null = null;
  private readonly dir = mkdtempSync(join(tmpdir(), 'nova-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', this.dir], {
      stdio: 'ignore',
    });
    const deadline = Date.now() + 5000;
    while (!(await redisReachable(this.port))) {
      if (Date.now() > deadline) throw new Error('redis-server did not start');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async kill(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    this.child = null;
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface RedisHub extends HubFixture {
  redisBus: RedisEventBus;
}

export async function startRedisHub(
  redisUrl: string,
  namespace: { channel: string; prefix: string },
  instanceId: string,
  timing: { ttlMs: number; syncIntervalMs: number; heartbeatMs?: number; peerTimeoutMs?: number },
): Promise<RedisHub> {
  const bus = new RedisEventBus({
    url: redisUrl,
    instanceId,
    channel: namespace.channel,
    log: silentLog,
    maxReconnectDelayMs: 200,
    heartbeatMs: timing.heartbeatMs,
    peerTimeoutMs: timing.peerTimeoutMs,
  });
  const store = new RedisViewerStore({ url: redisUrl, instanceId, prefix: namespace.prefix, ttlMs: timing.ttlMs, log: silentLog });
  await bus.waitConnected();
  const fixture = await startHub({ instanceId, bus, store, viewerOptions: { tickMs: 100, syncIntervalMs: timing.syncIntervalMs } });
  return {
    ...fixture,
    redisBus: bus,
    async close() {
      await fixture.close();
      await bus.close();
    },
  };
}

export interface ChildHub {
  port: number;
  child: ChildProcess;
  url(streamId: string): string;
}

export async function spawnChildHub(redisUrl: string, namespace: { channel: string; prefix: string }, instanceId: string, ttlMs: number, syncMs: number): Promise<ChildHub> {
  const script = fileURLToPath(new URL('./hub-child.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, redisUrl, namespace.channel, namespace.prefix, instanceId, String(ttlMs), String(syncMs)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => reject(new Error('child hub did not start')), 15_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const match = /PORT (\d+)/.exec(buffered);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    child.once('exit', (code) => reject(new Error(`child hub exited with ${code}`)));
  });
  return { port, child, url: (streamId) => `ws://127.0.0.1:${port}/api/v1/streams/${streamId}/ws` };
}
