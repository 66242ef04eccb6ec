import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DependencyProbe } from '../../src/ops/dependency-probe.js';

/** Probes the test settles by hand, and a clock it moves. */
function harness(timeoutMs: number) {
  const calls: Array<{ resolve: () => void; reject: (err: Error) => void }> = [];
  let now = 0;
  const probe = new DependencyProbe(
    'db',
    () => new Promise<void>((resolve, reject) => calls.push({ resolve, reject })),
    'postgres',
    timeoutMs,
    () => now,
  );
  return { probe, calls, advance: (ms: number) => (now += ms) };
}

const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

test('one probe at a time while it is within its timeout; its outcome is the state', async () => {
  const { probe, calls } = harness(1000);
  assert.deepEqual(probe.current(), { ok: false, detail: 'first probe running' });
  probe.current();
  void probe.check();
  assert.equal(calls.length, 1);
  calls[0]!.resolve();
  await settle();
  assert.deepEqual(probe.current(), { ok: true, detail: 'postgres' });
  assert.equal(calls.length, 2, 'a settled probe lets the next request start another');
  calls[1]!.reject(new Error('connection refused'));
  await settle();
  assert.deepEqual(probe.state(), { ok: false, detail: 'connection refused' });
});

test('a hung probe: reported after the timeout, a new one allowed, at most three unsettled', async () => {
  const { probe, calls, advance } = harness(1000);
  probe.current();
  calls[0]!.resolve();
  await settle();
  probe.current(); // probe 2 hangs
  advance(999);
  assert.deepEqual(probe.current(), { ok: true, detail: 'postgres' }, 'within the timeout the last answer stands');
  assert.equal(calls.length, 2);
  advance(1);
  // Starting probe 3 does not hide that probe 2 never answered.
  assert.deepEqual(probe.current(), { ok: false, detail: 'no answer for 1000 ms' });
  advance(1000);
  probe.current(); // probe 4
  advance(1000);
  probe.current();
  advance(5000);
  probe.current();
  assert.equal(calls.length, 4, 'no more than three probes may hang at once');
  assert.deepEqual(probe.state(), { ok: false, detail: 'no answer for 8000 ms' }, 'silent since probe 2 started');
  // The newest answers; an older one settling later says nothing new.
  calls[3]!.resolve();
  await settle();
  calls[1]!.reject(new Error('stale'));
  await settle();
  assert.deepEqual(probe.state(), { ok: true, detail: 'postgres' });
});

test('check() answers false after the timeout when the dependency hangs, true when it answers', async () => {
  const hung = new DependencyProbe('db', () => new Promise<void>(() => {}), 'postgres', 50);
  const started = performance.now();
  assert.equal(await hung.check(), false);
  assert.ok(performance.now() - started >= 45);
  const answering = new DependencyProbe('db', () => Promise.resolve(), 'postgres', 50);
  assert.equal(await answering.check(), true);
  const throwing = new DependencyProbe('db', () => { throw new Error('sync throw'); }, 'postgres', 50);
  assert.equal(await throwing.check(), false);
  assert.deepEqual(throwing.state(), { ok: false, detail: 'sync throw' });
});
