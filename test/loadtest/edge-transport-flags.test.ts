/** bench:edge-transport's flags: a bad value stops the bench at once, naming the flag, before any process starts. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { parseEdgeTransportFlags } from '../../loadtest/bench/edge-transport-flags.js';
import { TRANSPORTS } from '../../loadtest/bench/edge-transport-protocol.js';

const BENCH = fileURLToPath(new URL('../../loadtest/bench/edge-transport-micro.ts', import.meta.url));

describe('bench:edge-transport flags', () => {
  it('defaults to three runs of every transport at 1 and 20 streams, and takes what it is given', () => {
    const defaults = parseEdgeTransportFlags([]);
    assert.equal(defaults.runs, 3);
    assert.deepEqual(defaults.streams, [1, 20]);
    assert.deepEqual(defaults.transports, [...TRANSPORTS]);
    const given = parseEdgeTransportFlags(['--runs', '5', '--seconds', '2.5', '--warm-up', '0', '--bitrate', '6e6', '--streams', '4', '--transports', 'push,redis']);
    assert.deepEqual(
      { runs: given.runs, seconds: given.seconds, warmUp: given.warmUp, bitrate: given.bitrate, streams: given.streams, transports: given.transports },
      { runs: 5, seconds: 2.5, warmUp: 0, bitrate: 6_000_000, streams: [4], transports: ['push', 'redis'] },
    );
  });

  it('refuses a value out of range or not a number, naming the flag and the value', () => {
    // [flag, value, the item named in the message]
    for (const [flag, value, item] of [
      ['runs', 'abc', 'abc'],
      ['runs', '1.5', '1.5'],
      ['runs', '0', '0'],
      ['seconds', '0', '0'],
      ['seconds', 'NaN', 'NaN'],
      ['warm-up', '-1', '-1'],
      ['bitrate', '128000', '128000'],
      ['streams', '1,,20', ''],
      ['streams', '2.5', '2.5'],
      ['transports', 'push,pigeon', 'pigeon'],
      ['ttl-ms', '0', '0'],
    ] as const) {
      assert.throws(
        () => parseEdgeTransportFlags([`--${flag}=${value}`]),
        (err: Error) => err.message.startsWith(`--${flag} takes`) && err.message.includes(`got '${item}'`),
        `--${flag}=${value}`,
      );
    }
  });

  it('the bench exits at once on a bad flag, with the message and nothing started', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', BENCH, '--seconds', 'ten'], { encoding: 'utf8', timeout: 60_000 });
    assert.notEqual(result.status, 0);
    assert.match(result.stderr, /--seconds takes a number above 0, got 'ten'/);
    assert.doesNotMatch(result.stdout, /edge transport:/);
  });
});
