/**
 * The shared periodic timer: tasks whose instants coincide run in one wake-up (the point of
 * it), on the wall-clock grid of their period, with how late they ran; cancel() stops one
 * without the others; a task that throws does not stop the others.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { every } from '../../src/ops/periodic.js';

/** a number that changes between event loop turns, never within one */
let turn = 0;
function bumpTurns(): NodeJS.Immediate {
  return setImmediate(function bump() {
    turn++;
    handle = setImmediate(bump);
  });
}
let handle: NodeJS.Immediate;

test('tasks whose instants coincide run in the same wake-up, on the grid of their period', async () => {
  handle = bumpTurns();
  const fast: Array<{ turn: number; at: number }> = [];
  const slow: Array<{ turn: number; at: number }> = [];
  const a = every(40, () => fast.push({ turn, at: Date.now() }));
  const b = every(80, () => slow.push({ turn, at: Date.now() }));
  try {
    await sleep(500);
  } finally {
    a.cancel();
    b.cancel();
    clearImmediate(handle);
  }
  assert.ok(fast.length >= 8 && slow.length >= 4, `runs: ${fast.length} and ${slow.length}`);
  const fastTurns = new Set(fast.map((run) => run.turn));
  for (const run of slow) assert.ok(fastTurns.has(run.turn), `the 80 ms task ran in a wake-up of its own (turn ${run.turn})`);
  for (const run of slow) {
    const off = Math.min(run.at % 80, 80 - (run.at % 80));
    assert.ok(off <= 20, `on the 80 ms grid: ${off} ms off an instant`);
  }
});

test('lateness is reported; cancel() stops one task only', async () => {
  const late: number[] = [];
  let other = 0;
  const a = every(20, (lateMs) => late.push(lateMs));
  const b = every(20, () => other++);
  await sleep(60);
  const until = Date.now() + 150;
  while (Date.now() < until) {
    // the thread busy: the due run waits
  }
  await sleep(30);
  assert.ok(Math.max(...late) >= 100, `a run ${Math.max(...late)} ms late after a 150 ms stall`);
  a.cancel();
  const runs = late.length;
  const othersBefore = other;
  await sleep(80);
  b.cancel();
  assert.equal(late.length, runs, 'a cancelled task does not run');
  assert.ok(other > othersBefore, 'the other task goes on');
});

test('a task that throws does not stop the others; its error surfaces on its own', async () => {
  let runs = 0;
  const listeners = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  const thrown = once(process, 'uncaughtException');
  const bad = every(20, () => {
    throw new Error('task failed');
  });
  const good = every(20, () => runs++);
  const keepAlive = setTimeout(() => {}, 5000); // periodic tasks are unref'd: something must hold the loop open
  try {
    const [err] = (await thrown) as [Error];
    assert.equal(err.message, 'task failed');
    bad.cancel();
    await sleep(60);
    assert.ok(runs >= 2, `the other task ran ${runs} times`);
  } finally {
    bad.cancel();
    good.cancel();
    clearTimeout(keepAlive);
    for (const listener of listeners) process.on('uncaughtException', listener);
  }
});
