/**
 * REST API under a steady request rate: liveness, readiness, /metrics, the
 * stream list and single-stream reads, plus create/delete of throw-away
 * streams. setup() creates the streams read during the test; teardown() deletes them.
 *
 *   k6 run -e URL=http://host:8080 -e ADMIN_TOKEN=... -e RATE=100 loadtest/k6/api-smoke.ts
 *
 * Env: URL (http://localhost:8080), ADMIN_TOKEN (required), RATE (50 req/s), DURATION (1m), VUS (20).
 * Node mirror: loadtest/http/api-smoke.ts.
 */
import http from 'k6/http';
import { check } from 'k6';
import { apiParamsFrom } from './lib/scenario-params.ts';

const params = apiParamsFrom(__ENV);
const auth = { authorization: `Bearer ${params.token}`, 'content-type': 'application/json' };
const SEEDED_STREAMS = 5;

export const options = {
  scenarios: {
    api: {
      executor: 'constant-arrival-rate',
      rate: params.rate,
      timeUnit: '1s',
      duration: `${params.durationSeconds}s`,
      preAllocatedVUs: params.vus,
      maxVUs: params.vus * 4,
    },
  },
  thresholds: {
    http_req_failed: ['rate<0.01'],
    'http_req_duration{kind:read}': ['p(99)<200'],
    'http_req_duration{kind:write}': ['p(99)<500'],
    checks: ['rate>0.99'],
  },
};

export function setup(): { ids: string[] } {
  const ids: string[] = [];
  for (let i = 0; i < SEEDED_STREAMS; i++) {
    const response = http.post(`${params.url}/api/v1/streams`, JSON.stringify({ title: `k6 api-smoke ${i}` }), { headers: auth, tags: { kind: 'write' } });
    check(response, { 'seed 201': (r) => r.status === 201 });
    const id = response.status === 201 ? (response.json('id') as string | null) : null;
    if (id !== null) ids.push(id);
  }
  return { ids };
}

export default function (data: { ids: string[] }): void {
  const roll = Math.random();
  if (roll < 0.1) {
    check(http.get(`${params.url}/health`, { tags: { kind: 'read' } }), { 'health 200': (r) => r.status === 200 });
  } else if (roll < 0.2) {
    check(http.get(`${params.url}/ready`, { tags: { kind: 'read' } }), { 'ready 200': (r) => r.status === 200 });
  } else if (roll < 0.25) {
    check(http.get(`${params.url}/metrics`, { tags: { kind: 'read' } }), { 'metrics 200': (r) => r.status === 200 });
  } else if (roll < 0.55) {
    check(http.get(`${params.url}/api/v1/streams?limit=20`, { headers: auth, tags: { kind: 'read' } }), { 'list 200': (r) => r.status === 200 });
  } else if (roll < 0.95 || data.ids.length === 0) {
    const id = data.ids[Math.floor(Math.random() * data.ids.length)];
    if (id === undefined) return;
    check(http.get(`${params.url}/api/v1/streams/${id}`, { headers: auth, tags: { kind: 'read' } }), { 'get 200': (r) => r.status === 200 });
  } else {
    const created = http.post(`${params.url}/api/v1/streams`, JSON.stringify({ title: 'k6 api-smoke churn' }), { headers: auth, tags: { kind: 'write' } });
    if (!check(created, { 'create 201': (r) => r.status === 201 })) return;
    const id = created.json('id') as string;
    check(http.del(`${params.url}/api/v1/streams/${id}`, null, { headers: auth, tags: { kind: 'write' } }), {
      'delete 2xx': (r) => r.status >= 200 && r.status < 300,
    });
  }
}

export function teardown(data: { ids: string[] }): void {
  for (const id of data.ids) http.del(`${params.url}/api/v1/streams/${id}`, null, { headers: auth, tags: { kind: 'write' } });
}
