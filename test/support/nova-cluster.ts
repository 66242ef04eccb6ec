/**
 * Several nova server processes (as `npm start` runs them: the build in dist/)
 * sharing a real PostgreSQL database made for the test file and the real
 * Redis: what a Kubernetes Deployment with several replicas is. Each instance
 * is its own process, so a test can SIGKILL, SIGTERM or SIGSTOP it.
 */
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { ChildProcess } from 'node:child_process';
import pg from 'pg';
import { npmStartCommand, prepareNpmStart } from '../../loadtest/peers/nova-process.js';
import { TEST_POSTGRES_URL } from '../control/database-fixture.js';
import { SHARED_REDIS_URL, deleteKeys } from '../ws/support/redis-helpers.js';
import { spawnTracked, tempDir } from './tools.js';

export interface ClusterInstance {
  name: string;
  instanceId: string;
  child: ChildProcess;
  http: string;
  rtmpPort: number;
  rtmp: string;
  ws(streamId: string): string;
  /** every log line so far, parsed */
  logs: Array<Record<string, unknown>>;
  exited: Promise<number | null>;
}

export interface Cluster {
  adminToken: string;
  databaseUrl: string;
  start(name: string, env?: Record<string, string>): Promise<ClusterInstance>;
  /** Sends the signal and (except for SIGSTOP/SIGCONT) waits for the process to exit. */
  signal(instance: ClusterInstance, signal: NodeJS.Signals): Promise<void>;
  /** Admin REST call against an instance. */
  api(instance: ClusterInstance, method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  /** Kills the instances still running and drops the database. */
  dispose(): Promise<void>;
}

async function adminQuery(sql: string): Promise<void> {
  const admin = new pg.Client({ connectionString: TEST_POSTGRES_URL, connectionTimeoutMillis: 3000 });
  await admin.connect();
  try {
    await admin.query(sql);
  } finally {
    await admin.end();
  }
}

/** Builds the server (npm start's prestart) and makes the cluster's database. Call in before(). */
export async function createCluster(baseEnv: Record<string, string> = {}): Promise<Cluster> {
  prepareNpmStart();
  const start = npmStartCommand();
  const adminToken = randomBytes(24).toString('hex');
  const databaseName = `nova_cluster_${process.pid}_${randomBytes(4).toString('hex')}`;
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${databaseName}`;
  const databaseUrl = url.toString();
  await adminQuery(`CREATE DATABASE ${databaseName}`);
  const runId = randomBytes(3).toString('hex');
  // the cluster's own event log on the shared Redis: another run's (another database's) is not ours
  const redisKeyPrefix = `nova-test-${databaseName}:`;
  const started: ClusterInstance[] = [];

  return {
    adminToken,
    databaseUrl,
    start(name, env = {}) {
      const instanceId = `${name}-${runId}`;
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
          INSTANCE_ID: instanceId,
          DATABASE_URL: databaseUrl,
          REDIS_URL: SHARED_REDIS_URL,
          REDIS_KEY_PREFIX: redisKeyPrefix,
          ADMIN_TOKEN: adminToken,
          DATA_DIR: tempDir(`nova-${name}-`),
          ...baseEnv,
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      const logs: Array<Record<string, unknown>> = [];
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
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
          logs.push(parsed);
          if (parsed.msg !== 'nova-streaming ready') return;
          const httpPort = parsed.httpPort as number;
          const rtmpPort = parsed.rtmpPort as number;
          const instance: ClusterInstance = {
            name,
            instanceId,
            child,
            http: `http://127.0.0.1:${httpPort}`,
            rtmpPort,
            rtmp: `rtmp://127.0.0.1:${rtmpPort}/live`,
            ws: (streamId) => `ws://127.0.0.1:${httpPort}/api/v1/streams/${streamId}/ws`,
            logs,
            exited,
          };
          started.push(instance);
          resolve(instance);
        });
        void exited.then((code) => reject(new Error(`${name} exited (${code}) before it was ready: ${stderr}`)));
      });
    },
    async signal(instance, signal) {
      instance.child.kill(signal);
      if (signal !== 'SIGSTOP' && signal !== 'SIGCONT') await instance.exited;
    },
    async api(instance, method, path, body) {
      const response = await fetch(instance.http + path, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
    },
    async dispose() {
      // a test that failed half-way leaves its instances running: they would keep the file's process alive
      const running = started.filter((instance) => instance.child.exitCode === null && instance.child.signalCode === null);
      for (const instance of running) instance.child.kill('SIGKILL');
      await Promise.all(running.map((instance) => instance.exited));
      await adminQuery(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`).catch(() => {});
      await deleteKeys(SHARED_REDIS_URL, redisKeyPrefix).catch(() => {});
    },
  };
}
