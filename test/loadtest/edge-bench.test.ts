/**
 * npm run bench:edge stops at once on a bad flag, naming it, before it builds,
 * creates a database or starts a process (nothing printed on stdout). A full
 * smoke run (--runs 1 --seconds 1) takes ~45 s here, too long for the suite.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const BENCH = fileURLToPath(new URL('../../loadtest/bench/edge-bench.ts', import.meta.url));

function runBench(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', BENCH, ...args], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('bench:edge flags', () => {
  it('refuses bad numbers and unknown flags before starting anything', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--runs', 'abc'], /--runs takes a whole number above 0, got 'abc'/],
      [['--seconds', '0'], /--seconds takes a number above 0, got '0'/],
      [['--connections', '2.5'], /--connections takes a whole number above 0, got '2.5'/],
      [['--bitrate', ''], /--bitrate takes a number above 0, got ''/],
      [['--sconds', '5'], /Unknown option '--sconds'/],
    ];
    const outcomes = await Promise.all(cases.map(([args]) => runBench(args)));
    outcomes.forEach((outcome, i) => {
      const [args, expected] = cases[i]!;
      assert.notEqual(outcome.code, 0, args.join(' '));
      assert.match(outcome.stderr, expected, args.join(' '));
      assert.equal(outcome.stdout, '', `${args.join(' ')} started: ${outcome.stdout}`);
    });
  });
});
