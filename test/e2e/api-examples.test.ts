/**
 * The three examples in docs/examples do what docs/api.md says they do,
 * against the whole server: curl.sh (token → stream → status → delete),
 * broadcaster.py (token, stream, FFmpeg, the WebSocket, end) and
 * viewer.html in Chromium with a viewer token for a private stream (hls.js plays, the WebSocket's viewer count
 * shows). The WebSocket messages they receive are checked against the
 * AsyncAPI document the server serves.
 *
 * One server for the file; each example gets its own stream.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import type { AsyncApiDocument } from '../../src/control/api/asyncapi-document.js';
import { asyncApiMessageCheck, type AsyncApiMessageCheck } from '../support/asyncapi-messages.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser } from '../support/browser.js';
import { streamMediaUrls, waitForSegments } from '../support/live-media.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { haveTool, spawnTracked, toolGate, waitFor } from '../support/tools.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const CURL_SH = `${ROOT}docs/examples/curl.sh`;
const BROADCASTER_PY = `${ROOT}docs/examples/broadcaster.py`;

const gate = {
  ...toolGate('curl', haveTool('curl', ['--version'])),
  ...toolGate('python3', haveTool('python3', ['--version'])),
  ...toolGate('ffmpeg', haveTool('ffmpeg')),
  ...toolGate('chromium', chromiumInstalled()),
};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs an example to its end (killed after timeoutMs), calling onLine for each line of its stdout as it comes. */
function runExample(command: string, args: string[], env: Record<string, string>, timeoutMs: number, onLine: (line: string) => void = () => {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout?.on('data', (d: Buffer) => {
      stdout += d.toString();
      partial += d.toString();
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) onLine(line);
    });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

const shown = (run: Run): string => `exit ${run.code}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`;

/** Serves viewer.html and hls.js at their places in the repository, so the page's default hls.js path is the one tested. */
async function startRepositoryServer(): Promise<{ origin: string; server: Server }> {
  const files: Record<string, { path: string; type: string }> = {
    '/docs/examples/viewer.html': { path: `${ROOT}docs/examples/viewer.html`, type: 'text/html; charset=utf-8' },
    '/node_modules/hls.js/dist/hls.min.js': { path: `${ROOT}node_modules/hls.js/dist/hls.min.js`, type: 'text/javascript; charset=utf-8' },
  };
  const server = createServer((req, res) => {
    const file = files[(req.url ?? '/').split('?')[0]!];
    if (file === undefined) res.writeHead(404).end();
    else res.writeHead(200, { 'content-type': file.type }).end(readFileSync(file.path));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { origin: `http://127.0.0.1:${address.port}`, server };
}

describe('docs/examples run against a live server', gate, () => {
  let nova: NovaFixture;
  let messages: AsyncApiMessageCheck;
  let browser: PlayerBrowser | undefined;
  let pages: { origin: string; server: Server } | undefined;
  const publishers: FfmpegPublisher[] = [];

  before(async () => {
    nova = await startNova();
    const served = await fetch(`${nova.http}/api/v1/asyncapi.json`);
    assert.equal(served.status, 200);
    messages = asyncApiMessageCheck((await served.json()) as AsyncApiDocument);
  });

  after(async () => {
    for (const publisher of publishers) await publisher.kill();
    await browser?.close();
    if (pages) await new Promise<void>((resolve) => pages!.server.close(() => resolve()));
    await nova?.stop();
  });

  async function newClient(name: string): Promise<{ client_id: string; client_secret: string }> {
    const created = await nova.api('POST', '/api/v1/clients', { name, scopes: ['streams:read', 'streams:write'] });
    assert.equal(created.status, 201);
    return created.body as { client_id: string; client_secret: string };
  }

  async function streamCount(): Promise<number> {
    const list = await nova.api('GET', '/api/v1/streams?limit=100');
    return (list.body as { items: unknown[] }).items.length;
  }

  it('curl.sh: from the admin token, a client and its token create a stream, read it and delete it; a bad secret fails loudly', { timeout: 120_000 }, async () => {
    const run = await runExample('bash', [CURL_SH], { NOVA_URL: nova.http, NOVA_ADMIN_TOKEN: nova.server.adminToken }, 60_000);
    assert.equal(run.code, 0, shown(run));
    const clientId = /^client (\S+) created/m.exec(run.stdout)?.[1];
    const streamId = /^stream (\S+) created$/m.exec(run.stdout)?.[1];
    assert.ok(clientId && streamId, shown(run));
    assert.match(run.stdout, new RegExp(`^stream ${streamId} status: PENDING`, 'm'));
    // the API agrees: the stream exists, belongs to the client curl.sh made (its token, not the admin's, created it), and was deleted
    const stream = await nova.stream(streamId);
    assert.equal(stream.owner_client_id, clientId);
    assert.equal(stream.title, 'curl.sh example');
    assert.equal(stream.status, 'ENDED');
    assert.equal(stream.end_reason, 'deleted');

    // a wrong secret: the token request's 401 stops the script before it creates anything
    const before = await streamCount();
    const refused = await runExample('bash', [CURL_SH], { NOVA_URL: nova.http, NOVA_CLIENT_ID: clientId, NOVA_CLIENT_SECRET: 'ncs_wrong', NOVA_ADMIN_TOKEN: '' }, 60_000);
    assert.notEqual(refused.code, 0, shown(refused));
    assert.match(refused.stderr, /POST \/api\/v1\/auth\/token answered 401/);
    assert.match(refused.stderr, /invalid_client/);
    assert.doesNotMatch(refused.stdout, /stream .* created/);
    assert.equal(await streamCount(), before);
  });

  it('broadcaster.py: its stream goes live over the WebSocket, HLS segments appear while FFmpeg runs, and it ends', { timeout: 180_000 }, async () => {
    const client = await newClient('broadcaster.py test');
    let streamId: string | null = null;
    let segmentsSeen: Promise<number> | null = null;
    const run = await runExample(
      'python3',
      [BROADCASTER_PY, '--server', nova.http, '--duration', '10', '--size', '640x360'],
      { NOVA_CLIENT_ID: client.client_id, NOVA_CLIENT_SECRET: client.client_secret },
      150_000,
      (line) => {
        const created = /^stream (\S+) created$/.exec(line);
        if (created && streamId === null) {
          streamId = created[1]!;
          // watched from the side while the example runs: the time the second segment was listed
          segmentsSeen = waitForSegments(streamMediaUrls(nova.http, streamId).video, 2, 60_000).then(() => Date.now());
          segmentsSeen.catch(() => {});
        }
      },
    );
    const exitedAt = Date.now();
    assert.equal(run.code, 0, shown(run));
    assert.ok(streamId !== null && segmentsSeen !== null, shown(run));
    const id: string = streamId;
    assert.ok((await (segmentsSeen as Promise<number>)) < exitedAt, 'HLS segments were listed while the example ran');

    const received = run.stdout.split('\n').filter((line) => line.startsWith('[ws] {')).map((line) => JSON.parse(line.slice(5)) as { type: string; stream_id: string; [k: string]: unknown });
    for (const message of received) assert.deepEqual(messages.server(message), [], JSON.stringify(message));
    const types = received.map((m) => m.type);
    for (const type of ['snapshot', 'pong', 'stream_started', 'stream_ended']) assert.ok(types.includes(type), `${type} in ${types.join(', ')}`);
    assert.ok(types.indexOf('stream_started') < types.indexOf('stream_ended'));
    assert.ok(received.every((m) => m.stream_id === id));
    assert.equal(received.find((m) => m.type === 'stream_ended')!.reason, 'unpublished');
    assert.match(run.stdout, /^>> live/m);
    assert.match(run.stdout, /^>> renditions: source 640x360/m);

    const stream = await nova.stream(id);
    assert.equal(stream.owner_client_id, client.client_id);
    assert.equal(stream.status, 'ENDED');
    assert.equal(stream.end_reason, 'unpublished', 'FFmpeg unpublished at the end of its run, before the example deleted the stream');
    assert.match(run.stdout, new RegExp(`^stream ${id} deleted: status ENDED`, 'm'));
  });

  it('viewer.html: with a viewer token, hls.js plays a private stream FFmpeg publishes, and the page shows the WebSocket\'s viewer count', { timeout: 120_000 }, async () => {
    const stream = await nova.createStream({ title: 'viewer.html test', private: true });
    const minted = await nova.api('POST', `/api/v1/streams/${stream.id}/playback-tokens`, { expires_in: 600 });
    assert.equal(minted.status, 201);
    const token = (minted.body as { token: string }).token;
    const publisher = publishWithFfmpeg({ url: stream.publish_url, width: 640, height: 360, fps: 30 });
    publishers.push(publisher);
    await waitForSegments(`${streamMediaUrls(nova.http, stream.id).video}?token=${token}`, 1, 30_000);
    assert.equal((await fetch(stream.hls_url)).status, 401, 'the private stream needs its token');

    pages = await startRepositoryServer();
    browser = await launchPlayerBrowser();
    const page: Page = await browser.context.newPage();
    const frames: string[] = [];
    page.on('websocket', (ws) => ws.on('framereceived', (frame) => void (typeof frame.payload === 'string' && frames.push(frame.payload))));
    await page.goto(`${pages.origin}/docs/examples/viewer.html?src=${encodeURIComponent(stream.hls_url)}&token=${encodeURIComponent(token)}`);

    interface ViewerPage {
      currentTime: number;
      paused: boolean;
      mediaSource: boolean;
      hlsLoaded: boolean;
      viewers: string;
      status: string;
      error: string;
    }
    const read = (): Promise<ViewerPage> =>
      page.evaluate(() => {
        // (no DOM lib in this tsconfig: the page is typed here by hand)
        const doc = (globalThis as unknown as { document: { getElementById(id: string): { textContent: string; currentTime: number; paused: boolean; src: string } } }).document;
        const video = doc.getElementById('video');
        return {
          currentTime: video.currentTime,
          paused: video.paused,
          mediaSource: video.src.startsWith('blob:'),
          hlsLoaded: typeof (globalThis as unknown as { Hls?: unknown }).Hls === 'function',
          viewers: doc.getElementById('viewers').textContent,
          status: doc.getElementById('status').textContent,
          error: doc.getElementById('error').textContent,
        };
      });
    let startedAt: number | null = null;
    const state = await waitFor('viewer.html to play 3 s and show a viewer count', 60_000, async () => {
      const now = await read();
      assert.equal(now.error, '', `the page reports an error: ${JSON.stringify(now)}`);
      if (startedAt === null && now.currentTime > 0 && !now.paused) startedAt = now.currentTime;
      return startedAt !== null && now.currentTime - startedAt >= 3 && Number(now.viewers) >= 1 ? now : false;
    }, 250);
    assert.equal(state.hlsLoaded, true, 'hls.js loaded from its default path');
    assert.equal(state.mediaSource, true, 'hls.js plays through MediaSource, not the browser\'s own HLS');
    assert.equal(state.status, 'live');
    assert.ok(Number(state.viewers) >= 1, `viewers shown: ${state.viewers}`);
    // the server counts the page too
    assert.ok(((await nova.stream(stream.id)).viewers as number) >= 1);

    assert.ok(frames.length >= 1, 'the page received WebSocket messages');
    for (const frame of frames) assert.deepEqual(messages.server(JSON.parse(frame)), [], frame);
    assert.equal((JSON.parse(frames[0]!) as { type: string }).type, 'snapshot');
    await page.close();
    await publisher.stop();
  });
});
