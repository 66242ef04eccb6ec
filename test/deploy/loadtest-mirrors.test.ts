import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startFakeOrigin, type FakeOrigin } from './support/fake-live-origin.js';
import type { LoadSummary } from '../../loadtest/http/lib/load-stats.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
let origin: FakeOrigin;

before(async () => {
  origin = await startFakeOrigin();
});
after(async () => {
  await origin.close();
});

/** Runs a mirror to completion (killed after 30 s) and returns its --json summary and exit code. */
function runMirror(script: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; summary: LoadSummary }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `loadtest/http/${script}`, ...args, '--json'], {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve({ code, summary: JSON.parse(line) as LoadSummary });
      } catch {
        reject(new Error(`${script} printed no JSON summary (code ${code}): ${stdout}\n${stderr}`));
      }
    });
  });
}

const kind = (summary: LoadSummary, name: string): number => summary.byKind.find((k) => k.kind === name)?.requests ?? 0;

test('the Node mirrors drive a live origin and report without errors', async () => {
  const [hls, ll, dash, api] = await Promise.all([
    runMirror('hls-viewers.ts', ['--url', `${origin.baseUrl}/hls/s/master.m3u8`, '--vus', '3', '--ramp', '0', '--duration', '3s']),
    runMirror('ll-hls-viewers.ts', ['--url', `${origin.baseUrl}/hls/s/master.m3u8`, '--vus', '3', '--ramp', '0', '--duration', '3s', '--rendition', 'lowest']),
    runMirror('dash-viewers.ts', ['--url', `${origin.baseUrl}/dash/s/manifest.mpd`, '--vus', '2', '--ramp', '0', '--duration', '3s']),
    runMirror('api-smoke.ts', ['--url', origin.baseUrl, '--rate', '40', '--duration', '2s'], { ADMIN_TOKEN: 'test-token-0123456789' }),
  ]);
  for (const run of [hls, ll, dash, api]) {
    assert.equal(run.code, 0, `${run.summary.scenario} exited ${run.code}`);
    assert.equal(run.summary.total.errors, 0, `${run.summary.scenario} saw errors`);
    assert.ok(run.summary.total.p99Ms >= run.summary.total.p50Ms);
  }
  // HLS: joined with 3 newest segments each, then about one new segment a second each.
  assert.ok(kind(hls.summary, 'segment') >= 9, `hls segments: ${kind(hls.summary, 'segment')}`);
  assert.equal(kind(hls.summary, 'init'), 3);
  // LL-HLS: blocking reloads each wait for a 200 ms part, and every part is fetched.
  assert.ok(kind(ll.summary, 'blocking_reload') >= 15, `blocking reloads: ${kind(ll.summary, 'blocking_reload')}`);
  const reload = ll.summary.byKind.find((k) => k.kind === 'blocking_reload')!;
  assert.ok(reload.p50Ms > 50 && reload.p50Ms < 400, `blocking reload p50 ${reload.p50Ms} ms is not about one part`);
  assert.ok(kind(ll.summary, 'part') >= kind(ll.summary, 'blocking_reload'));
  assert.ok(origin.requests.some((r) => /v360\/index\.m3u8\?_HLS_msn=\d+&_HLS_part=\d+$/.test(r)), 'no blocking reload on the lowest rendition');
  // DASH: one video and one audio init per viewer, then segments of both.
  assert.equal(kind(dash.summary, 'init'), 4);
  assert.ok(origin.requests.some((r) => /\/dash\/s\/a0\/\d+\.m4s$/.test(r)) && origin.requests.some((r) => /\/dash\/s\/v\d+\/\d{5}\.m4s$/.test(r)));
  // API: about rate × duration requests, plus the seeded streams' create and delete.
  assert.ok(kind(api.summary, 'read') + kind(api.summary, 'write') >= 70);
});

test('a mirror exits 1 and counts errors when the origin fails', async () => {
  const run = await runMirror('hls-viewers.ts', ['--url', `${origin.baseUrl}/hls/missing/master.m3u8`, '--vus', '1', '--ramp', '0', '--duration', '1s']);
  assert.equal(run.code, 1);
  assert.ok(run.summary.total.errors >= 1);
});

test('k6 scripts type-check against @types/k6', async () => {
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', 'loadtest/k6', '--noEmit'], { cwd: root, stdio: 'inherit' });
    child.on('error', reject);
    child.on('close', resolve);
  });
  assert.equal(code, 0);
});
