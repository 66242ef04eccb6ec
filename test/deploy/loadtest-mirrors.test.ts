import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadSummary } from '../../loadtest/http/lib/load-stats.js';
import { publishSynthetic } from '../../loadtest/publisher/synthetic-publisher.js';
import { openMemoryDatabase, type TestDatabase } from '../control/database-fixture.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
/** The mirrors run against the real server with a live stream from our publisher. */
let nova: NovaFixture;
/** the server's database, to read the sessions the CMCD mirror's viewers left */
let database: TestDatabase;
let streamId: string;
const publishing = new AbortController();
let published: Promise<unknown>;

before(async () => {
  database = await openMemoryDatabase();
  nova = await startNova({ database: database.database });
  const stream = await nova.createStream();
  streamId = stream.id;
  published = publishSynthetic({ url: stream.publish_url, bitrateBps: 1_500_000, durationMs: 120_000, signal: publishing.signal }).catch(() => null);
  // Viewers join with the newest three segments: wait until the window has them.
  await waitFor('three segments', 30_000, async () => {
    const playlist = await (await fetch(`${nova.http}/hls/${streamId}/source/video.m3u8`)).text();
    return (playlist.match(/#EXTINF/g) ?? []).length >= 3;
  }, 200);
});
after(async () => {
  publishing.abort();
  await published;
  await nova.stop();
  await database.dispose();
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
  const [hls, ll, dash, api, cmcd] = await Promise.all([
    runMirror('hls-viewers.ts', ['--url', `${nova.http}/hls/${streamId}/master.m3u8`, '--vus', '3', '--ramp', '0', '--duration', '3s']),
    runMirror('ll-hls-viewers.ts', ['--url', `${nova.http}/hls/${streamId}/master.m3u8`, '--vus', '3', '--ramp', '0', '--duration', '3s', '--rendition', 'lowest']),
    runMirror('dash-viewers.ts', ['--url', `${nova.http}/dash/${streamId}/manifest.mpd`, '--vus', '2', '--ramp', '0', '--duration', '3s']),
    runMirror('api-smoke.ts', ['--url', nova.http, '--rate', '40', '--duration', '2s'], { ADMIN_TOKEN: nova.server.adminToken }),
    runMirror('hls-viewers-cmcd.ts', ['--url', `${nova.http}/hls/${streamId}/master.m3u8`, '--vus', '3', '--ramp', '0', '--duration', '3s', '--stall-rate', '0.5']),
  ]);
  for (const run of [hls, ll, dash, api, cmcd]) {
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
  // DASH: one video and one audio init per viewer, then segments of both.
  assert.equal(kind(dash.summary, 'init'), 4);
  assert.ok(kind(dash.summary, 'segment') >= 4, `dash segments: ${kind(dash.summary, 'segment')}`);
  // API: about rate × duration requests, plus the seeded streams' create and delete.
  assert.ok(kind(api.summary, 'read') + kind(api.summary, 'write') >= 70);
  // CMCD HLS: the same viewer loop, and the server made one session per viewer from its sid, with what it reported.
  assert.ok(kind(cmcd.summary, 'segment') >= 9, `cmcd segments: ${kind(cmcd.summary, 'segment')}`);
  assert.equal(kind(cmcd.summary, 'init'), 3);
  await nova.server.sessions!.flush();
  const rows = await database.database.db.selectFrom('viewer_sessions').selectAll().where('cmcd_sid', 'like', 'node-%').execute();
  assert.equal(rows.length, 3);
  for (const row of rows) {
    assert.equal(row.stream_format, 'h');
    assert.ok(row.avg_bitrate_kbps !== null && row.avg_bitrate_kbps > 0 && row.avg_throughput_kbps !== null && row.buffer_length_ms !== null);
    assert.deepEqual(row.renditions, ['source']);
  }
  // half their segment requests said bs: stalls were counted
  assert.ok(rows.some((row) => row.rebuffer_count > 0), 'no session counted a stall');
});

test('a mirror exits 1 and counts errors when the origin fails', async () => {
  const run = await runMirror('hls-viewers.ts', ['--url', `${nova.http}/hls/missing/master.m3u8`, '--vus', '1', '--ramp', '0', '--duration', '1s']);
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
