import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { parse as parseYaml } from 'yaml';
import { openDatabase } from '../../src/control/db/database.js';
import { DEPENDENCY_TIMEOUT_MS } from '../../src/ops/ops-routes.js';
import { TEST_POSTGRES_URL, openTemporaryPostgres, silentLog } from '../control/database-fixture.js';
import { startNova } from '../support/nova-server.js';
import { startStallProxy } from '../support/stall-proxy.js';
import { waitFor } from '../support/tools.js';

// The kubelet's probe timeouts as the chart sets them: a probe answered later counts as failed.
const chartValues = parseYaml(readFileSync(new URL('../../deploy/helm/nova-streaming/values.yaml', import.meta.url), 'utf8')) as {
  probes: { liveness: { timeoutSeconds: number }; readiness: { timeoutSeconds: number } };
};
const livenessTimeoutMs = chartValues.probes.liveness.timeoutSeconds * 1000;
const readinessTimeoutMs = chartValues.probes.readiness.timeoutSeconds * 1000;

interface Health {
  status: string;
  components: Array<{ name: string; ok: boolean; detail?: string }>;
}

test('a hung PostgreSQL fails /ready within the timeout and never holds up /health', async (t) => {
  assert.ok(DEPENDENCY_TIMEOUT_MS < readinessTimeoutMs, 'the server must answer /ready before the kubelet gives up on it');
  const temporary = await openTemporaryPostgres();
  if (temporary === null) return t.skip('PostgreSQL not reachable (required under CI)');
  // The server reaches the real PostgreSQL through a proxy that can stop delivering bytes.
  const { rows } = await sql<{ name: string }>`SELECT current_database() AS name`.execute(temporary.database.db);
  const target = new URL(TEST_POSTGRES_URL);
  const proxy = await startStallProxy(target.hostname, Number(target.port || 5432));
  const url = new URL(TEST_POSTGRES_URL);
  url.host = `127.0.0.1:${proxy.port}`;
  url.pathname = `/${rows[0]!.name}`;
  const database = await openDatabase({ databaseUrl: url.toString(), dataDir: '/nonexistent' }, silentLog, { migrate: false });
  const nova = await startNova({ database });
  const timed = async (path: string, limitMs: number): Promise<{ status: number; body: unknown; ms: number }> => {
    const started = performance.now();
    const response = await fetch(nova.http + path, { signal: AbortSignal.timeout(limitMs) });
    const text = await response.text();
    return { status: response.status, body: path === '/metrics' ? text : JSON.parse(text), ms: performance.now() - started };
  };
  const databaseState = async (): Promise<Health['components'][number]> => {
    const health = await timed('/health', livenessTimeoutMs);
    assert.equal(health.status, 200);
    return (health.body as Health).components.find((c) => c.name === 'database')!;
  };
  const dependencyUp = async (): Promise<string | undefined> =>
    /^nova_streaming_dependency_up\{dependency="database"\} (\d)$/m.exec(String((await timed('/metrics', 5000)).body))?.[1];

  try {
    assert.equal((await timed('/ready', readinessTimeoutMs)).status, 200);
    assert.deepEqual(await databaseState(), { name: 'database', ok: true, detail: 'postgres' });

    proxy.stall();
    // Liveness answers at once, first from the last probe, then saying the probe hangs.
    const hung = await waitFor('/health to report the hung database', DEPENDENCY_TIMEOUT_MS * 3, async () => {
      const state = await databaseState();
      return state.ok ? undefined : state;
    });
    assert.match(hung.detail ?? '', /^no answer for \d+ ms$/);
    const ready = await timed('/ready', readinessTimeoutMs);
    assert.deepEqual([ready.status, ready.body], [503, { ready: false }]);
    assert.ok(ready.ms >= DEPENDENCY_TIMEOUT_MS * 0.9, `/ready answered in ${ready.ms} ms: it did not wait for the database`);
    const health = await timed('/health', livenessTimeoutMs);
    assert.ok(health.ms < DEPENDENCY_TIMEOUT_MS / 2, `/health took ${health.ms} ms with the database hung`);
    assert.equal(await dependencyUp(), '0');

    proxy.resume();
    await waitFor('/ready after the database answers again', 10_000, async () => (await timed('/ready', readinessTimeoutMs)).status === 200);
    assert.deepEqual(await databaseState(), { name: 'database', ok: true, detail: 'postgres' });
    assert.equal(await dependencyUp(), '1');
  } finally {
    proxy.resume();
    await nova.stop();
    await database.close();
    await proxy.close();
    await temporary.dispose();
  }
});
