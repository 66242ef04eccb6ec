/** The benchmarks' numeric flags: a bad value stops them with the flag's name, never a NaN figure. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { numberFlag, numberListFlag } from '../../loadtest/bench/lib/number-flag.js';

describe('numberFlag', () => {
  it('takes positive numbers by default, whole ones when asked', () => {
    assert.equal(numberFlag('seconds', '10'), 10);
    assert.equal(numberFlag('seconds', '2.5'), 2.5);
    assert.equal(numberFlag('bitrate', '6e6'), 6_000_000);
    assert.equal(numberFlag('runs', '3', { integer: true }), 3);
    assert.equal(numberFlag('warm-up', '0', { min: 0 }), 0);
  });

  it('refuses what is not a number in range, naming the flag', () => {
    for (const [text, rule] of [
      ['abc', {}],
      ['', {}],
      [' ', {}],
      ['0', {}],
      ['-1', {}],
      ['Infinity', {}],
      ['1.5', { integer: true }],
      ['-1', { min: 0 }],
    ] as const) {
      assert.throws(() => numberFlag('runs', text, rule), (err: Error) => err.message.includes('--runs') && err.message.includes(`'${text}'`), `'${text}'`);
    }
  });

  it('checks every item of a list', () => {
    assert.deepEqual(numberListFlag('streams', '1,2,4', { integer: true }), [1, 2, 4]);
    assert.throws(() => numberListFlag('streams', '1,,4', { integer: true }), /--streams takes a whole number above 0, got ''/);
    assert.throws(() => numberListFlag('streams', '1,two', { integer: true }), /got 'two'/);
  });
});
