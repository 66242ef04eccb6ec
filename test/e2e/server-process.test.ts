/**
 * The server as `npm start` runs it (the build in dist/, after its
 * prestart), in its own process: it starts on
 * embedded defaults (PGlite under DATA_DIR, generated admin token kept
 * there), refuses a bad setting with a message naming the variable, exports
 * its metrics, and on SIGTERM drains (an encoder without Enhanced RTMP
 * reconnect support, FFmpeg, is closed after DRAIN_GRACE_MS and its stream
 * ENDED 'disconnected': it is expected back, elsewhere) then exits 0.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { before, describe, it } from 'node:test';
import type { ChildProcess } from 'node:child_process';
import { npmStartCommand, prepareNpmStart } from '../../loadtest/peers/nova-process.js';
import { publishWithFfmpeg } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { haveTool, spawnTracked, tempDir, toolGate, waitFor } from '../support/tools.js';

/** what `npm start` runs (the build it prepares in each file's before()) */
const START = npmStartCommand();

interface RunningServer {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  ready: { rtmpPort: number; httpPort: number };
  exited: Promise<number | null>;
}

function startProcess(env: Record<string, string>): Promise<RunningServer> {
  const child = spawnTracked(process.execPath, START.args, {
    env: { ...process.env, ...START.env, HOST: '127.0.0.1', RTMP_PORT: '0', HTTP_PORT: '0', WORKER_THREADS: '1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        reject(new Error(`a log line that is not JSON: ${line}`));
        return;
      }
      lines.push(parsed);
      if (parsed.msg === 'nova-streaming ready') {
        resolve({ child, lines, exited, ready: { rtmpPort: parsed.rtmpPort as number, httpPort: parsed.httpPort as number } });
      }
    });
    void exited.then((code) => reject(new Error(`server exited (${code}) before it was ready: ${stderr}`)));
  });
}

describe('the server process', () => {
  // npm start's prestart: the native addons and the build (dist/) that npm start runs
  before(() => prepareNpmStart());

  it('a bad setting stops it with exit code 2 and a message naming the variable', async () => {
    const child = spawnTracked(process.execPath, START.args, {
      env: { ...process.env, ...START.env, HTTP_PORT: 'eighty', DATA_DIR: tempDir('nova-proc-') },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    assert.equal(code, 2);
    assert.match(stderr, /invalid HTTP_PORT="eighty": expected an integer between 0 and 65535/);
  });

  it(
    'embedded defaults: admin token generated once and kept; metrics; SIGTERM drains a live stream and exits 0',
    toolGate('ffmpeg', haveTool('ffmpeg')),
    async () => {
      const dataDir = tempDir('nova-proc-');
      const server = await startProcess({ DATA_DIR: dataDir, LOG_LEVEL: 'info', DRAIN_GRACE_MS: '1000' });
      const http = `http://127.0.0.1:${server.ready.httpPort}`;
      const token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();
      const announced = server.lines.find((l) => typeof l.adminToken === 'string');
      assert.equal(announced?.adminToken, token, 'the generated token is printed once and kept in DATA_DIR');
      assert.equal((await fetch(`${http}/ready`)).status, 200);

      const created = await fetch(`${http}/api/v1/streams`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title: 'process test' }),
      });
      assert.equal(created.status, 201);
      const stream = (await created.json()) as { id: string; stream_key: string; publish_url: string };
      assert.ok(!server.lines.some((l) => JSON.stringify(l).includes(stream.stream_key)), 'the stream key is never logged');

      const publisher = publishWithFfmpeg({ url: stream.publish_url, width: 320, height: 240, fps: 15 });
      const getStream = async (): Promise<{ status: string; end_reason: string | null }> =>
        (await (await fetch(`${http}/api/v1/streams/${stream.id}`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
          status: string;
          end_reason: string | null;
        };
      await waitFor('the stream to be ACTIVE', 15_000, async () => (await getStream()).status === 'ACTIVE');
      // A segment is out: the packager is running.
      await waitFor('a media segment', 15_000, async () => /#EXTINF/.test(await (await fetch(`${http}/hls/${stream.id}/source/video.m3u8`)).text()));

      const metrics = await (await fetch(`${http}/metrics`)).text();
      for (const name of [
        'nova_streaming_active_streams 1',
        'nova_streaming_rtmp_ingestion_latency_seconds_bucket',
        'nova_streaming_rtmp_ingested_bytes_total',
        'nova_streaming_rtmp_ingested_frames_total',
        'nova_streaming_hls_segment_generation_seconds_bucket',
        'process_cpu_seconds_total',
      ]) {
        assert.ok(metrics.includes(name), `/metrics lacks ${name}`);
      }

      server.child.kill('SIGTERM');
      assert.equal(await server.exited, 0, 'clean exit on SIGTERM');
      // FFmpeg sees its connection end: the server disconnected the publisher.
      await Promise.race([publisher.exited, new Promise((r) => setTimeout(r, 5000))]);
      const publisherGone = publisher.process.exitCode !== null || publisher.process.signalCode !== null;
      await publisher.kill();
      assert.ok(publisherGone, 'the publisher was disconnected by the drain');
      assert.ok(server.lines.some((l) => l.msg === 'drain complete' && l.closed === 1 && l.reconnectRequests === 0), 'FFmpeg was closed at the end of the drain, not asked');
      assert.ok(server.lines.some((l) => l.msg === 'stream ended' && l.reason === 'disconnected'), 'the stream ended dropped (its publisher is expected back)');
      assert.ok(server.lines.some((l) => l.msg === 'shutdown complete'));

      // Reopened on the same DATA_DIR: the same token, and the stream is ENDED (the database persisted).
      const again = await startProcess({ DATA_DIR: dataDir, LOG_LEVEL: 'info' });
      try {
        assert.ok(!again.lines.some((l) => typeof l.adminToken === 'string'), 'no new token on a second start');
        const response = await fetch(`http://127.0.0.1:${again.ready.httpPort}/api/v1/streams/${stream.id}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(response.status, 200);
        const body = (await response.json()) as { status: string; end_reason: string };
        assert.deepEqual([body.status, body.end_reason], ['ENDED', 'disconnected']);
      } finally {
        again.child.kill('SIGTERM');
        await again.exited;
      }
    },
  );
});
