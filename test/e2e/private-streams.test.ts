/**
 * A private stream published by FFmpeg into the whole server: every
 * playback path (HLS master and media playlists, an LL-HLS blocking reload,
 * parts, segments, inits, the MPEG-TS variant, the DASH MPD and its
 * segments, the WebSocket) refuses a viewer without a token (401 / 4401),
 * with a bad one (401 / 4401) and with another stream's (403 / 4403); with
 * its own RS256 viewer token (POST /api/v1/streams/:id/playback-tokens)
 * every URI the playlists and the MPD list carries the token, and unmodified
 * hls.js (LL-HLS) and dash.js play it in Chromium. A public stream on the
 * same server stays open to anyone and publicly cacheable.
 *
 * One server, one browser and one publisher for the file (the public
 * stream publishes only for its own test).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser, type PlayerPage } from '../support/browser.js';
import { fetchText, parseMediaPlaylist, streamMediaUrls, waitForSegments, type StreamMediaUrls } from '../support/live-media.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { haveTool, toolGate } from '../support/tools.js';
import { TestViewer } from '../ws/support/ws-viewer.js';

const gate = { ...toolGate('ffmpeg', haveTool('ffmpeg')), ...toolGate('chromium', chromiumInstalled()) };
const PICTURE = { width: 640, height: 360, fps: 30 };
const PLAY_SECONDS = 4;
const PLAY_TIMEOUT_MS = 40_000;

interface ErrorBody {
  error: { code: string; message: string };
}

/** `url` with its token set to `token` (null: none at all). */
function withToken(url: string, token: string | null): string {
  const parsed = new URL(url);
  if (token === null) parsed.searchParams.delete('token');
  else parsed.searchParams.set('token', token);
  return parsed.toString();
}

/** Every URI a multivariant or media playlist lists: the lines that are not tags, and the URI="…" attributes of tags. */
function playlistUris(text: string): string[] {
  const uris: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    if (!line.startsWith('#')) uris.push(line);
    else for (const match of line.matchAll(/URI="([^"]+)"/g)) uris.push(match[1]!);
  }
  return uris;
}

/** The URI templates and BaseURLs of an MPD. */
function mpdUris(text: string): string[] {
  return [...text.matchAll(/(?:initialization|media)="([^"]+)"/g)].map((m) => m[1]!);
}

describe('private streams: viewer tokens on every playback path', gate, () => {
  let nova: NovaFixture;
  let browser: PlayerBrowser;
  let privateStream: CreatedStream;
  let publicStream: CreatedStream;
  let privateUrls: StreamMediaUrls;
  let publicUrls: StreamMediaUrls;
  /** the private stream's viewer token, and one minted for the public stream (another stream's) */
  let token: string;
  let otherToken: string;
  const publishers: FfmpegPublisher[] = [];
  const players: PlayerPage[] = [];

  async function mint(streamId: string): Promise<string> {
    const { status, body } = await nova.api('POST', `/api/v1/streams/${streamId}/playback-tokens`, { expires_in: 600 });
    assert.equal(status, 201, JSON.stringify(body));
    return (body as { token: string }).token;
  }

  before(async () => {
    nova = await startNova();
    browser = await launchPlayerBrowser();
    privateStream = await nova.createStream({ private: true });
    publicStream = await nova.createStream();
    assert.equal(privateStream.private, true);
    token = await mint(privateStream.id);
    otherToken = await mint(publicStream.id);
    privateUrls = streamMediaUrls(nova.http, privateStream.id);
    publicUrls = streamMediaUrls(nova.http, publicStream.id);
    publishers.push(publishWithFfmpeg({ ...PICTURE, url: privateStream.publish_url }));
    await waitForSegments(withToken(privateUrls.video, token), 2, 20_000);
  });

  after(async () => {
    for (const publisher of publishers) await publisher.kill();
    for (const player of players) await player.close().catch(() => {});
    await browser?.close();
    await nova?.stop();
  });

  /** Fresh URLs of every kind of the private stream's playback resources, each with its token. */
  async function privateResources(): Promise<Array<[string, string]>> {
    const videoPlaylist = withToken(privateUrls.video, token);
    const listed = parseMediaPlaylist(await fetchText(videoPlaylist));
    const lastSegment = listed.segments[listed.segments.length - 1]!;
    const part = listed.parts[listed.parts.length - 1]!;
    const mpd = await fetchText(withToken(privateUrls.dash, token));
    const dashMedia = /media="([^"]+)"/.exec(mpd)![1]!.replace('$Number$', String(lastSegment.msn));
    // the next part: a blocking reload a player would park on
    const blocking = new URL(videoPlaylist);
    blocking.searchParams.set('_HLS_msn', String(lastSegment.msn + 1));
    blocking.searchParams.set('_HLS_part', '0');
    return [
      ['HLS master', withToken(privateUrls.hlsMaster, token)],
      ['HLS video playlist', videoPlaylist],
      ['HLS audio playlist', withToken(privateUrls.audio, token)],
      ['LL-HLS blocking reload', blocking.toString()],
      ['LL-HLS part', new URL(part.uri, videoPlaylist).toString()],
      ['HLS segment', new URL(lastSegment.uri, videoPlaylist).toString()],
      ['HLS init', new URL(/#EXT-X-MAP:URI="([^"]+)"/.exec(await fetchText(videoPlaylist))![1]!, videoPlaylist).toString()],
      ['MPEG-TS master', withToken(privateUrls.hlsTsMaster, token)],
      ['DASH MPD', withToken(privateUrls.dash, token)],
      ['DASH segment', new URL(dashMedia, withToken(privateUrls.dash, token)).toString()],
    ];
  }

  it('refuses every HTTP path without a token (401), with a bad one (401) and with another stream\'s (403), before anything is served or parked', async () => {
    const resources = await privateResources();
    const refusals: Array<[string, string | null, number, string]> = [
      ['no token', null, 401, 'NOVA_ERR_UNAUTHORIZED'],
      ['a tampered token', `${token.slice(0, -4)}AAAA`, 401, 'NOVA_ERR_UNAUTHORIZED'],
      ['the admin token', nova.server.adminToken, 401, 'NOVA_ERR_UNAUTHORIZED'],
      ["another stream's token", otherToken, 403, 'NOVA_ERR_FORBIDDEN'],
    ];
    for (const [what, url] of resources) {
      for (const [who, bad, status, code] of refusals) {
        const response = await fetch(withToken(url, bad));
        const body = (await response.json()) as ErrorBody;
        assert.equal(response.status, status, `${what} with ${who}: ${JSON.stringify(body)}`);
        assert.equal(body.error.code, code, `${what} with ${who}`);
        assert.equal(response.headers.get('cache-control'), 'no-store', `${what} with ${who}`);
        if (status === 401) assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer /, `${what} with ${who}`);
      }
    }
    assert.equal(nova.server.store.parkedCount, 0, 'no refused blocking reload was parked');
  });

  it('with its token: every HTTP path answers, privately cacheable, and every URI the playlists and the MPD list carries the token', async () => {
    const suffix = `?token=${token}`;
    for (const [what, url] of await privateResources()) {
      if (what === 'MPEG-TS master') continue; // the first TS playlist waits seconds for TS muxing to start: the refusal above is what matters here
      const response = await fetch(url);
      const text = await response.text();
      assert.equal(response.status, 200, `${what}: ${text}`);
      assert.match(response.headers.get('cache-control') ?? '', /^private, /, what);
    }
    const master = await fetchText(withToken(privateUrls.hlsMaster, token));
    const video = await fetchText(withToken(privateUrls.video, token));
    const audio = await fetchText(withToken(privateUrls.audio, token));
    const mpd = await fetchText(withToken(privateUrls.dash, token));
    assert.match(video, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI=/);
    assert.match(video, /#EXT-X-RENDITION-REPORT:URI=/);
    for (const [what, uris] of [
      ['master', playlistUris(master)],
      ['video playlist', playlistUris(video)],
      ['audio playlist', playlistUris(audio)],
      ['MPD', mpdUris(mpd)],
    ] as const) {
      assert.ok(uris.length >= (what === 'MPD' ? 2 : 2), `${what} lists URIs: ${uris.join(' ')}`);
      for (const uri of uris) assert.ok(uri.endsWith(suffix), `${what}: ${uri} carries the token`);
    }
  });

  it('the WebSocket closes 4401 without a token or with a bad one and 4403 with another stream\'s; admits its token in the query or the protocol header', async () => {
    const ws = privateStream.ws_url.replace(/^http/, 'ws');
    const cases: Array<[string, string, string[] | undefined, number]> = [
      ['no token', ws, undefined, 4401],
      ['a tampered token', `${ws}?token=${token.slice(0, -4)}AAAA`, undefined, 4401],
      ["another stream's token", `${ws}?token=${otherToken}`, undefined, 4403],
      ["another stream's token as a protocol", ws, ['nova.v1', `bearer.${otherToken}`], 4403],
    ];
    for (const [who, url, protocols, expected] of cases) {
      const viewer = new TestViewer(url, { protocols });
      const { code } = await viewer.closed;
      assert.equal(code, expected, who);
      assert.equal(viewer.ofType('snapshot').length, 0, `${who}: nothing about the stream was sent`);
    }
    for (const viewer of [new TestViewer(`${ws}?token=${token}`), new TestViewer(ws, { protocols: ['nova.v1', `bearer.${token}`] })]) {
      const snapshot = await viewer.waitFor((m) => m.type === 'snapshot');
      assert.equal(snapshot.stream_id, privateStream.id);
      viewer.close();
    }
  });

  it('hls.js in low-latency mode plays it from the tokened master: blocking reloads and parts carry the token', async (t) => {
    const player = await browser.openPlayer({ engine: 'hls.js', url: withToken(privateUrls.hlsMaster, token), config: { lowLatencyMode: true } });
    players.push(player);
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    const media = player.responses.filter((r) => r.url.startsWith(`${nova.http}/hls/`));
    const answered = (pattern: RegExp): number => media.filter((r) => pattern.test(r.url) && r.status === 200).length;
    const blockingReloads = answered(/\/(video|audio)\.m3u8\?.*_HLS_msn=\d+&_HLS_part=\d+/);
    const parts = answered(/\/(video|audio)\/part-\d+-\d+\.m4s\?token=/);
    assert.ok(blockingReloads >= 5, `blocking reloads answered: ${blockingReloads}`);
    assert.ok(parts >= 5, `parts fetched: ${parts}`);
    for (const r of media) assert.equal(new URL(r.url).searchParams.get('token'), token, `${r.url} carries the token`);
    assert.deepEqual(media.filter((r) => r.status === 401 || r.status === 403), [], 'nothing refused');
    t.diagnostic(`hls.js LL-HLS with a viewer token: ${blockingReloads} blocking reloads, ${parts} parts; first frame ${state.firstFrameMs} ms`);
    await player.close();
  });

  it('dash.js plays it from the tokened MPD', async () => {
    const player = await browser.openPlayer({ engine: 'dash.js', url: withToken(privateUrls.dash, token) });
    players.push(player);
    const state = await player.waitForPlayback(PLAY_SECONDS, PLAY_TIMEOUT_MS);
    assert.equal(state.fatal, null);
    const media = player.responses.filter((r) => r.url.startsWith(`${nova.http}/dash/`));
    assert.ok(media.some((r) => /\/video\/seg-\d+\.m4s\?token=/.test(r.url) && r.status === 200), 'segments fetched with the token');
    for (const r of media) assert.equal(new URL(r.url).searchParams.get('token'), token, `${r.url} carries the token`);
    await player.close();
  });

  it('a public stream stays open: no token needed, publicly cacheable, the same bytes for everyone; its WebSocket admits anyone', async () => {
    const publisher = publishWithFfmpeg({ ...PICTURE, url: publicStream.publish_url });
    publishers.push(publisher);
    const listed = await waitForSegments(publicUrls.video, 1, 20_000);
    const segment = new URL(listed.segments[0]!.uri, publicUrls.video).toString();
    for (const url of [publicUrls.hlsMaster, publicUrls.video, segment, publicUrls.dash]) {
      const response = await fetch(url);
      const text = await response.text();
      assert.equal(response.status, 200, url);
      assert.match(response.headers.get('cache-control') ?? '', /^public, /, url);
      assert.doesNotMatch(text, /token=/, `${url}: no token written into it`);
    }
    // a token sent along (here the private stream's) changes nothing on a public stream
    assert.equal((await fetch(withToken(publicUrls.hlsMaster, token))).status, 200);
    const viewer = new TestViewer(publicStream.ws_url.replace(/^http/, 'ws'));
    await viewer.waitFor((m) => m.type === 'snapshot');
    viewer.close();
    await publisher.stop();
  });
});
