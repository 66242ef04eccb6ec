/**
 * The whole server (src/server.ts) for end-to-end tests: random ports, a
 * generated admin token, logs captured in memory so tests can assert the
 * reasons the server logs, and a small REST client.
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import type { Database } from '../../src/control/db/database.js';
import { createLogger } from '../../src/log.js';
import { startServer, type NovaServer } from '../../src/server.js';
import { tempDir } from './tools.js';

export interface CreatedStream {
  id: string;
  stream_key: string;
  publish_url: string;
  hls_url: string;
  dash_url: string;
  ws_url: string;
  [field: string]: unknown;
}

export interface NovaFixture {
  server: NovaServer;
  /** http://127.0.0.1:port */
  http: string;
  /** rtmp://127.0.0.1:port/live */
  rtmp: string;
  /** every log line so far, parsed */
  logs(): Array<Record<string, unknown>>;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }>;
  createStream(fields?: Record<string, unknown>): Promise<CreatedStream>;
  /** GET /api/v1/streams/:id */
  stream(id: string): Promise<Record<string, unknown>>;
  stop(): Promise<void>;
}

export interface NovaFixtureOptions {
  /** environment variables on top of the test defaults (random ports, memory PGlite, silent) */
  env?: Record<string, string>;
  /** an already-open database shared by the test file (PGlite costs seconds to open) */
  database?: Database;
}

export async function startNova(options: NovaFixtureOptions = {}): Promise<NovaFixture> {
  const adminToken = randomBytes(24).toString('hex');
  const config = loadConfig(
    {
      HOST: '127.0.0.1',
      RTMP_PORT: '0',
      HTTP_PORT: '0',
      DATABASE_URL: 'memory://',
      DATA_DIR: tempDir('nova-data-'),
      ADMIN_TOKEN: adminToken,
      LOG_LEVEL: process.env.NOVA_TEST_LOG_LEVEL ?? 'info',
      WORKER_THREADS: '2',
      // FFmpeg's ladder costs cores the other tests need: tests that check the ladder opt in with TRANSCODE: 'on'.
      TRANSCODE: 'off',
      // the start-up warm-up costs seconds per server; test/e2e/warm-start.test.ts turns it on
      WARM_START: 'off',
      ...options.env,
    },
    2,
  );
  const lines: string[] = [];
  const destination = {
    write(line: string): void {
      lines.push(line);
      if (process.env.NOVA_TEST_LOGS === '1') process.stderr.write(line);
    },
  };
  const log = createLogger(config.logLevel, { instance: config.instanceId }, destination);
  const server = await startServer(config, { log, database: options.database });
  const http = `http://127.0.0.1:${server.httpPort}`;
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> => {
    const response = await fetch(http + path, {
      method,
      headers: { authorization: `Bearer ${adminToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: text === '' ? null : (JSON.parse(text) as unknown) };
  };
  return {
    server,
    http,
    rtmp: `rtmp://127.0.0.1:${server.rtmpPort}/live`,
    logs: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    api,
    async createStream(fields = {}) {
      const { status, body } = await api('POST', '/api/v1/streams', { title: 'test', ...fields });
      if (status !== 201) throw new Error(`POST /api/v1/streams: ${status} ${JSON.stringify(body)}`);
      return body as CreatedStream;
    },
    async stream(id) {
      const { status, body } = await api('GET', `/api/v1/streams/${id}`);
      if (status !== 200) throw new Error(`GET /api/v1/streams/${id}: ${status} ${JSON.stringify(body)}`);
      return body as Record<string, unknown>;
    },
    stop: () => server.stop(),
  };
}
