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
  // process.cpuUsage() read just inside and just outside the two readings brackets what they
  // must report; only the readings' own cost lies between the brackets.
  const outerStart = process.cpuUsage();
  const before = cpuReading(process.pid);
  const innerStart = process.cpuUsage();
  burn(120);
  const innerEnd = process.cpuUsage(innerStart);
  const after = cpuReading(process.pid);
  const outerEnd = process.cpuUsage(outerStart);
  const measured = cpuSecondsBetween(before, after);
  const inner = (innerEnd.user + innerEnd.system) / 1e6;
  const outer = (outerEnd.user + outerEnd.system) / 1e6;
  const slack = 0.001; // cpuUsage's microseconds against the threads' nanoseconds, and the calls themselves
  const figures = `measured ${measured.toFixed(4)} s, process.cpuUsage between ${inner.toFixed(4)} and ${outer.toFixed(4)} s`;
  assert.ok(measured >= inner - slack && measured <= outer + slack, figures);
  // the ticks (10 ms) could not have told this apart: the readings cost far less than a tick
  assert.ok(outer - inner < 0.005, figures);
});

test('a thread that started and ended between the readings: the tick figure, which kept its time', async () => {
  const before = cpuReading(process.pid);
  const worker = new Worker('const end = Date.now() + 150; while (Date.now() < end);', { eval: true });
  await new Promise((resolve) => worker.once('exit', resolve));
  const after = cpuReading(process.pid);
  assert.equal(cpuSecondsBetween(before, after), after.ticks - before.ticks);
  assert.ok(after.ticks - before.ticks >= 0.1, `the worker's 150 ms counted: ${(after.ticks - before.ticks).toFixed(2)} s`);
});
