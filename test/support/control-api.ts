/**
 * The REST API alone (src/control/api/control-api.ts) on a bare uWS app over
 * a given database: no RTMP, no worker pool, so a test file starts one in
 * well under a second. Every response a test reads through `call` is
 * checked against the OpenAPI document (status declared, body valid).
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import uWS from 'uWebSockets.js';
import { loadConfig, type Config } from '../../src/config.js';
import { startControlApi, type ControlApi, type ControlApiDeps } from '../../src/control/api/control-api.js';
import type { LiveStreamInfo } from '../../src/control/api/streams-routes.js';
import { listOperations, openApiDocument } from '../../src/control/api/openapi-document.js';
import { OpenApiValidator } from '../../src/control/api/openapi-validator.js';
import type { Database } from '../../src/control/db/database.js';
import { DEFAULT_OUTBOX_SETTINGS } from '../../src/control/db/outbox-append.js';
import { MemoryEventLog } from '../../src/control/events/memory-event-log.js';
import { WebhookRepository } from '../../src/control/webhooks/webhook-repository.js';
import { createMetricsRegistry } from '../../src/ops/metrics.js';
import type { Logger } from '../../src/log.js';
import { silentLog } from '../control/database-fixture.js';

/** cheap scrypt: tests create dozens of clients */
export const TEST_SCRYPT = { N: 1024, r: 8, p: 1 };

export interface ApiAnswer<T = unknown> {
  status: number;
  headers: Headers;
  body: T;
}

export interface ControlApiFixture {
  api: ControlApi;
  base: string;
  adminToken: string;
  deleted: string[];
  live: Map<string, LiveStreamInfo>;
  /** the in-process event log behind the dead-letter operations (no relay feeds it: tests put entries in) */
  eventLog: MemoryEventLog;
  /** webhook ids whose deletion the API reported (the server drops their breakers) */
  deletedWebhooks: string[];
  /** puts an event of `streamId` in `group`'s dead letters (no relay feeds this log) and returns the dead letter's id */
  deadLetter(group: string, streamId?: string): Promise<string>;
  /** fetch, then check the answer against the document; JSON bodies parsed */
  call<T = unknown>(method: string, path: string, init?: { token?: string | null; body?: unknown; rawBody?: string; headers?: Record<string, string> }): Promise<ApiAnswer<T>>;
  /** an API client with these scopes, and a token for it */
  client(scopes: string[], name?: string): Promise<{ clientId: string; clientSecret: string; accessToken: string; refreshToken: string }>;
  stop(): Promise<void>;
}

export interface ControlApiFixtureOptions {
  database: Database;
  env?: Record<string, string>;
  log?: Logger;
  extra?: Partial<ControlApiDeps>;
  /** the public URL (issuer, and base of the URLs in stream bodies); default the listening address */
  publicUrl?: string;
}

const validator = new OpenApiValidator(openApiDocument());
const operations = listOperations(openApiDocument()).map((entry) => ({
  ...entry,
  pattern: new RegExp(`^${entry.path.replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));

/** Asserts a response is one the document declares, with a body its schema accepts. */
export function checkAgainstDocument(method: string, path: string, status: number, body: unknown): void {
  const pathname = path.split('?')[0]!;
  const entry = operations.find((op) => op.method === method && op.pattern.test(pathname));
  assert.ok(entry, `${method} ${pathname} is not in the OpenAPI document`);
  const validate = validator.response(entry.operation.operationId, status);
  if (validate === null) return;
  assert.ok(validate(body), `${method} ${path} ${status}: body does not match the document: ${JSON.stringify(validate.errors)} ${JSON.stringify(body).slice(0, 500)}`);
}

export async function startControlApiFixture(options: ControlApiFixtureOptions): Promise<ControlApiFixture> {
  const adminToken = randomBytes(24).toString('hex');
  const config: Config = loadConfig({ RATE_LIMIT: 'off', AUTH_KEY_RELOAD_MS: '200', TOKEN_REVOCATION_POLL_MS: '100', ...options.env }, 1);
  const app = uWS.App();
  const deleted: string[] = [];
  const live = new Map<string, LiveStreamInfo>();
  const eventLog = new MemoryEventLog({ partitions: DEFAULT_OUTBOX_SETTINGS.partitions });
  const deletedWebhooks: string[] = [];
  let port = 0;
  const api = await startControlApi({
    app,
    database: options.database,
    config: { ...config, publicHttpUrl: options.publicUrl ?? null },
    adminToken,
    registry: createMetricsRegistry(),
    log: options.log ?? silentLog,
    urls: {
      rtmpBase: 'rtmp://media.example:1935/live/',
      get httpBase() {
        return options.publicUrl ?? `http://127.0.0.1:${port}`;
      },
    },
    onDelete: (id) => deleted.push(id),
    liveInfo: (id) => live.get(id) ?? null,
    webhooks: {
      repo: new WebhookRepository(options.database.db, DEFAULT_OUTBOX_SETTINGS),
      allowInternal: config.webhooks.allowPrivate,
      onDeleted: (id) => deletedWebhooks.push(id),
    },
    eventLog,
    secretHashParams: TEST_SCRYPT,
    ...options.extra,
  });
  // As src/server.ts does: anything no route takes is a JSON 404.
  app.any('/*', (res) => {
    res.cork(() => res.writeStatus('404 Not Found').writeHeader('content-type', 'application/json').end('{"error":{"code":"NOVA_ERR_NOT_FOUND","message":"no route"}}'));
  });
  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) => {
    app.listen('127.0.0.1', 0, (token) => (token ? resolve(token) : reject(new Error('listen failed'))));
  });
  port = uWS.us_socket_local_port(listenSocket);
  const base = `http://127.0.0.1:${port}`;

  const call: ControlApiFixture['call'] = async (method, path, init = {}) => {
    const headers: Record<string, string> = { ...init.headers };
    const token = init.token === undefined ? adminToken : init.token;
    if (token !== null) headers.authorization = `Bearer ${token}`;
    let body: string | undefined = init.rawBody;
    if (init.body !== undefined) {
      body = JSON.stringify(init.body);
      headers['content-type'] ??= 'application/json';
    }
    const response = await fetch(base + path, { method, headers, body });
    const text = await response.text();
    const type = response.headers.get('content-type') ?? '';
    const parsed = type.startsWith('application/json') && text !== '' ? (JSON.parse(text) as unknown) : text;
    // The URL fetch really asked for ("a/../b" is resolved before sending).
    const sent = new URL(response.url);
    checkAgainstDocument(method, sent.pathname + sent.search, response.status, parsed);
    return { status: response.status, headers: response.headers, body: parsed as never };
  };

  const client: ControlApiFixture['client'] = async (scopes, name = 'test client') => {
    const created = await call<{ client_id: string; client_secret: string }>('POST', '/api/v1/clients', { body: { name, scopes } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const tokens = await call<{ access_token: string; refresh_token: string }>('POST', '/api/v1/auth/token', {
      token: null,
      body: { grant_type: 'client_credentials', client_id: created.body.client_id, client_secret: created.body.client_secret },
    });
    assert.equal(tokens.status, 200, JSON.stringify(tokens.body));
    return { clientId: created.body.client_id, clientSecret: created.body.client_secret, accessToken: tokens.body.access_token, refreshToken: tokens.body.refresh_token };
  };

  const deadLetter: ControlApiFixture['deadLetter'] = async (group, streamId = randomUUID()) => {
    const partition = 0;
    const seq = ((await eventLog.tops())[partition] ?? 0) + 1;
    const at = Date.now();
    await eventLog.openGroup(group, 'resume');
    await eventLog.append(partition, [{ id: randomUUID(), partition, seq, streamId, type: 'key_revoked', createdAt: at, event: { type: 'key_revoked', streamId, instanceId: 'test', at } }]);
    const [entry] = await eventLog.read(group, 'test', 1, 0);
    assert.ok(entry, `an entry to dead-letter in ${group}`);
    await eventLog.deadLetter(group, entry, 'failed in a test', 5);
    const letters = await eventLog.deadLetters(group, 10_000);
    return letters[letters.length - 1]!.id;
  };

  return {
    api,
    base,
    adminToken,
    deleted,
    live,
    eventLog,
    deletedWebhooks,
    deadLetter,
    call,
    client,
    stop: async () => {
      uWS.us_listen_socket_close(listenSocket);
      await api.close();
      await eventLog.close();
    },
  };
}
