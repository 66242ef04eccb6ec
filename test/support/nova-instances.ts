/**
 * Server processes as `npm start` runs them (the build in dist/), sharing a
 * PostgreSQL database and a Redis, for tests that kill or starve instances:
 * each with random ports, read from its "ready" log line.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { npmStartCommand, prepareNpmStart } from '../../loadtest/peers/nova-process.js';
import { TEST_POSTGRES_URL } from '../control/database-fixture.js';
import { spawnTracked, tempDir } from './tools.js';

export interface NovaInstance {
  name: string;
  child: ChildProcess;
  http: string;
  rtmp: string;
  ws(streamId: string): string;
  /** one sample of a metric from /metrics (summed over its label sets), null when absent */
  metric(name: string): Promise<number | null>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** SIGKILL; resolves when it is gone */
  kill(): Promise<void>;
}

/** A throwaway database on the test PostgreSQL server for a group of instances. */
export async function createSharedDatabase(prefix: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
  const admin = async (statement: string): Promise<void> => {
    const client = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
    await client.connect();
    try {
      await client.query(statement);
    } finally {
      await client.end();
    }
  };
  await admin(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return { url: url.toString(), drop: () => admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
}

export function prepareInstances(): void {
  prepareNpmStart();
}

export function startInstance(name: string, env: Record<string, string>, adminToken: string): Promise<NovaInstance> {
  const start = npmStartCommand();
  const child = spawnTracked(process.execPath, start.args, {
    env: {
      ...process.env,
      ...start.env,
      HOST: '127.0.0.1',
      RTMP_PORT: '0',
      HTTP_PORT: '0',
      WORKER_THREADS: '1',
      TRANSCODE: 'off',
      WARM_START: 'off',
      LOG_LEVEL: 'info',
      INSTANCE_ID: `${name}-${process.pid}`,
      ADMIN_TOKEN: adminToken,
      DATA_DIR: tempDir(`nova-${name}-`),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (process.env.NOVA_TEST_LOGS === '1') process.stderr.write(`[${name}] ${line}\n`);
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      if (parsed.msg !== 'nova-streaming ready') return;
      const http = `http://127.0.0.1:${parsed.httpPort as number}`;
      resolve({
        name,
        child,
        http,
        rtmp: `rtmp://127.0.0.1:${parsed.rtmpPort as number}/live`,
        ws: (streamId) => `ws://127.0.0.1:${parsed.httpPort as number}/api/v1/streams/${streamId}/ws`,
        async metric(metric) {
          const text = await (await fetch(`${http}/metrics`)).text();
          let sum: number | null = null;
          for (const sample of text.split('\n')) {
            if (!sample.startsWith(metric) || !/^[a-z_]+(\{[^}]*\})? /.test(sample)) continue;
            if (sample.slice(metric.length, metric.length + 1) !== ' ' && sample[metric.length] !== '{') continue;
            sum = (sum ?? 0) + Number(sample.slice(sample.lastIndexOf(' ') + 1));
          }
          return sum;
        },
        async api(method, path, body) {
          const response = await fetch(http + path, {
            method,
            headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
            body: body === undefined ? undefined : JSON.stringify(body),
          });
          const text = await response.text();
          return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
        },
        async kill() {
          if (child.exitCode !== null || child.signalCode !== null) return;
          const exited = new Promise((done) => child.once('exit', done));
          child.kill('SIGKILL');
          await exited;
        },
      });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited (${code}) before it was ready: ${stderr}`)));
  });
}
