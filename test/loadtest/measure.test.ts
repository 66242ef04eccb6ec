/**
 * The benchmarks' CPU figure: the threads' own run times (ns) rather than
 * /proc's 10 ms ticks, and the tick figure when a thread ended in between
 * (its run time left with it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import { cpuReading, cpuSecondsBetween } from '../../loadtest/bench/lib/measure.js';

function burn(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end);
}

test('CPU between two readings matches the process\'s own count to well under a tick', () => {
  const before = cpuReading(process.pid);
  const usage = process.cpuUsage();
  burn(120);
  const measured = cpuSecondsBetween(before, cpuReading(process.pid));
  const own = process.cpuUsage(usage);
  const expected = (own.user + own.system) / 1e6;
  assert.ok(Math.abs(measured - expected) < 0.004, `measured ${measured.toFixed(4)} s, process.cpuUsage ${expected.toFixed(4)} s`);
});

test('a thread that started and ended between the readings: the tick figure, which kept its time', async () => {
  const before = cpuReading(process.pid);
  const worker = new Worker('const end = Date.now() + 150; while (Date.now() < end);', { eval: true });
  await new Promise((resolve) => worker.once('exit', resolve));
  const after = cpuReading(process.pid);
  assert.equal(cpuSecondsBetween(before, after), after.ticks - before.ticks);
  assert.ok(after.ticks - before.ticks >= 0.1, `the worker's 150 ms counted: ${(after.ticks - before.ticks).toFixed(2)} s`);
});
