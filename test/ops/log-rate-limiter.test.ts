import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import { LogRateLimiter } from '../../src/ops/log-rate-limiter.js';

function capture(): { lines: Record<string, unknown>[]; log: ReturnType<typeof createLogger> } {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger('info', {}, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  return { lines, log };
}

async function suppressedCount(registry: Registry, kind: string): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === 'nova_streaming_log_lines_suppressed_total');
  assert.ok(metric, 'the counter is exported');
  const values = (metric as unknown as { values: { labels: { kind?: string }; value: number }[] }).values;
  return values.find((v) => v.labels.kind === kind)?.value ?? 0;
}

test('each kind gets its lines per window; the rest are counted and reported when the next window starts', async () => {
  const { lines, log } = capture();
  const registry = new Registry();
  let now = 1_000;
  const limiter = new LogRateLimiter(log, registry, { linesPerWindow: 3, windowMs: 10_000, now: () => now });
  const allowed = Array.from({ length: 8 }, () => limiter.allow('closed: NOVA_ERR_RTMP_HANDSHAKE'));
  assert.deepEqual(allowed, [true, true, true, false, false, false, false, false]);
  assert.equal(limiter.allow('publish refused: unknown_key'), true, 'another kind has its own budget');
  assert.equal(await suppressedCount(registry, 'closed: NOVA_ERR_RTMP_HANDSHAKE'), 5);
  assert.equal(lines.length, 0, 'nothing reported inside the window');

  now += 10_000;
  assert.equal(limiter.allow('closed: NOVA_ERR_RTMP_HANDSHAKE'), true, 'a new window');
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.msg, 'similar log lines suppressed');
  assert.equal(lines[0]!.kind, 'closed: NOVA_ERR_RTMP_HANDSHAKE');
  assert.equal(lines[0]!.suppressed, 5);
  assert.equal(lines[0]!.level, 'warn');
  limiter.close();
  assert.equal(lines.length, 1, 'nothing left to report');
});

test('a flood that stops is reported when its window ends, without another line of its kind', async () => {
  const { lines, log } = capture();
  const limiter = new LogRateLimiter(log, new Registry(), { linesPerWindow: 2, windowMs: 50 });
  for (let i = 0; i < 10; i++) limiter.allow('flood');
  assert.equal(lines.length, 0);
  await sleep(120);
  assert.deepEqual(
    lines.map((l) => [l.kind, l.suppressed]),
    [['flood', 8]],
  );
  assert.equal(limiter.allow('flood'), true, 'the kind starts afresh');
  limiter.close();
});

test('close() reports what is pending at shutdown', () => {
  const { lines, log } = capture();
  const limiter = new LogRateLimiter(log, new Registry(), { linesPerWindow: 1, windowMs: 60_000 });
  limiter.allow('a');
  limiter.allow('a');
  limiter.allow('a');
  limiter.close();
  assert.deepEqual(
    lines.map((l) => [l.kind, l.suppressed]),
    [['a', 2]],
  );
});
