import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CoalescedLookup } from '../../src/control/coalesced-lookup.js';

/** A lookup whose calls the test answers itself, recording the keys of each. */
function controlledLookup(): { lookup: CoalescedLookup<string, number>; calls: string[][]; answer(found?: Record<string, number>): void; fail(err: Error): void } {
  const calls: string[][] = [];
  const answers: Array<{ resolve: (found: Map<string, number>) => void; reject: (err: Error) => void }> = [];
  const lookup = new CoalescedLookup<string, number>(
    (keys) =>
      new Promise((resolve, reject) => {
        calls.push(keys);
        answers.push({ resolve, reject });
      }),
    3,
  );
  return {
    lookup,
    calls,
    answer: (found = {}) => answers.shift()!.resolve(new Map(Object.entries(found))),
    fail: (err) => answers.shift()!.reject(err),
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('CoalescedLookup', () => {
  it('looks up a lone key at once, and the keys asked for meanwhile together in the next lookup', async () => {
    const { lookup, calls, answer } = controlledLookup();
    const first = lookup.get('a');
    await turn();
    assert.deepEqual(calls, [['a']]);
    // a burst arriving while the first lookup runs: none of it goes to the database yet
    const rest = ['b', 'c', 'b'].map((key) => lookup.get(key));
    await turn();
    assert.deepEqual(calls, [['a']]);
    answer({ a: 1 });
    assert.equal(await first, 1);
    await turn();
    assert.deepEqual(calls, [['a'], ['b', 'c']]);
    answer({ b: 2 });
    assert.deepEqual(await Promise.all(rest), [2, null, 2]);
    assert.equal(lookup.lookups, 2);
  });

  it('carries at most maxKeys keys per lookup', async () => {
    const { lookup, calls, answer } = controlledLookup();
    const first = lookup.get('a');
    const rest = ['b', 'c', 'd', 'e', 'f'].map((key) => lookup.get(key));
    answer();
    await first;
    await turn();
    answer();
    await turn();
    answer();
    await Promise.all(rest);
    assert.deepEqual(calls, [['a'], ['b', 'c', 'd'], ['e', 'f']]);
  });

  it('fails every caller of a failed lookup and goes on with the next', async () => {
    const { lookup, calls, answer, fail } = controlledLookup();
    const first = lookup.get('a');
    const second = lookup.get('b');
    const third = lookup.get('c');
    fail(new Error('database unreachable'));
    await assert.rejects(first, /database unreachable/);
    await turn();
    assert.deepEqual(calls, [['a'], ['b', 'c']]);
    fail(new Error('still unreachable'));
    await assert.rejects(second, /still unreachable/);
    await assert.rejects(third, /still unreachable/);
    const later = lookup.get('a');
    await turn();
    answer({ a: 7 });
    assert.equal(await later, 7);
  });
});
