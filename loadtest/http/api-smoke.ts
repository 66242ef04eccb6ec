/**
 * Node mirror of loadtest/k6/api-smoke.ts: the same request mix at a constant
 * arrival rate (requests start on schedule whether or not earlier ones finished,
 * up to --vus * 4 in flight, like k6's maxVUs).
 *
 *   ADMIN_TOKEN=... node --import tsx loadtest/http/api-smoke.ts [--url http://localhost:8080] [--rate 50] [--duration 1m] [--vus 20] [--json]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { apiParamsFrom } from '../k6/lib/scenario-params.js';
import { flagsToEnvNames } from './lib/cli-flags.js';
import { formatSummary, LoadStats } from './lib/load-stats.js';
import { timedGet } from './lib/timed-fetch.js';

const SEEDED_STREAMS = 5;
const flags = flagsToEnvNames(process.argv.slice(2));
const params = apiParamsFrom({ ADMIN_TOKEN: process.env['ADMIN_TOKEN'], ...flags });
const auth = { authorization: `Bearer ${params.token}`, 'content-type': 'application/json' };
const stats = new LoadStats('api-smoke');

async function createStream(title: string): Promise<string | null> {
  const response = await timedGet(stats, 'write', `${params.url}/api/v1/streams`, { asText: true, method: 'POST', headers: auth, body: JSON.stringify({ title }) });
  if (response.status !== 201 || response.text === null) return null;
  const id: unknown = (JSON.parse(response.text) as { id?: unknown }).id;
  return typeof id === 'string' ? id : null;
}

async function deleteStream(id: string): Promise<void> {
  await timedGet(stats, 'write', `${params.url}/api/v1/streams/${id}`, { asText: false, method: 'DELETE', headers: auth });
}

async function oneRequest(ids: readonly string[]): Promise<void> {
  const roll = Math.random();
  if (roll < 0.1) await timedGet(stats, 'read', `${params.url}/health`, { asText: false });
  else if (roll < 0.2) await timedGet(stats, 'read', `${params.url}/ready`, { asText: false });
  else if (roll < 0.25) await timedGet(stats, 'read', `${params.url}/metrics`, { asText: false });
  else if (roll < 0.55) await timedGet(stats, 'read', `${params.url}/api/v1/streams?limit=20`, { asText: false, headers: auth });
  else if (roll < 0.95 || ids.length === 0) {
    const id = ids[Math.floor(Math.random() * ids.length)];
    if (id !== undefined) await timedGet(stats, 'read', `${params.url}/api/v1/streams/${id}`, { asText: false, headers: auth });
  } else {
    const id = await createStream('node api-smoke churn');
    if (id !== null) await deleteStream(id);
  }
}

const ids: string[] = [];
for (let i = 0; i < SEEDED_STREAMS; i++) {
  const id = await createStream(`node api-smoke ${i}`);
  if (id !== null) ids.push(id);
}

const maxInFlight = params.vus * 4;
const intervalMs = 1000 / params.rate;
const startedAt = performance.now();
const endAt = startedAt + params.durationSeconds * 1000;
const inFlight = new Set<Promise<void>>();
for (let n = 0; ; n++) {
  const due = startedAt + n * intervalMs;
  if (due >= endAt) break;
  const wait = due - performance.now();
  if (wait > 0) await sleep(wait);
  if (inFlight.size >= maxInFlight) {
    stats.count('dropped_iterations');
    continue;
  }
  const request = oneRequest(ids).finally(() => inFlight.delete(request));
  inFlight.add(request);
}
await Promise.all(inFlight);
for (const id of ids) await deleteStream(id);

const summary = stats.summary();
process.stdout.write(`${flags['JSON'] === 'true' ? JSON.stringify(summary) : formatSummary(summary)}\n`);
if (summary.total.errors > 0 || summary.total.requests === 0) process.exitCode = 1;
