/**
 * Real players in headless Debian Chromium for end-to-end tests and
 * benchmarks: hls.js or dash.js from node_modules, served with a one-page
 * player by a tiny local static server (the media itself comes straight
 * from the server under test, cross-origin, as in production).
 *
 * hls.js is always driven through MediaSource: Chromium 156 also plays HLS
 * natively, and a test of "hls.js plays it" must not silently test that.
 */
import { createServer, type Server } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type BrowserContext, type Page, type Request, type Response } from 'playwright-core';

export const CHROMIUM_PATH = '/usr/bin/chromium';

export function chromiumInstalled(): boolean {
  return existsSync(CHROMIUM_PATH);
}

export type PlayerEngine = 'hls.js' | 'dash.js';

export interface PlayerOptions {
  engine: PlayerEngine;
  /** master playlist (hls.js) or MPD (dash.js) */
  url: string;
  /** hls.js: the Hls constructor's config; dash.js: passed to player.updateSettings() */
  config?: Record<string, unknown>;
}

export interface PlayerError {
  /** hls.js error details or dash.js error code/message */
  detail: string;
  fatal: boolean;
  /** ms since the player was created */
  atMs: number;
}

export interface PlayerLevel {
  width: number;
  height: number;
  bitrate: number;
}

/** What a test reads back from the page. Times are ms since the player was created unless said otherwise. */
export interface PlayerState {
  currentTime: number;
  paused: boolean;
  ended: boolean;
  readyState: number;
  errors: PlayerError[];
  /** the first fatal error, if any */
  fatal: PlayerError | null;
  levels: PlayerLevel[];
  /** index into levels the player is playing, -1 when unknown */
  currentLevel: number;
  /** the first video frame presented (requestVideoFrameCallback), or 'playing' for audio-only; null before */
  firstFrameMs: number | null;
  /** hls.js: latency; dash.js: getCurrentLiveLatency() — seconds behind the live edge by the player's own reckoning */
  liveLatencySec: number | null;
  /** hls.js only: wall clock (epoch ms, from EXT-X-PROGRAM-DATE-TIME) of the frame at currentTime */
  playingDateMs: number | null;
  /** each time 'waiting' fired (a stall): the playhead, how much media lay buffered contiguously ahead of it, and the hls.js level loading */
  stalls: Array<{ atSec: number; bufferedAheadSec: number; level: number }>;
  /** ms the playhead stood still while playing (sampled every 100 ms from the first frame on): stalls by their length */
  stalledMs: number;
  /** hls.js only: per discontinuity sequence number (EXT-X-DISCONTINUITY count) it loaded, the earliest media time of its fragments */
  discontinuityStarts: Record<number, number>;
  /** video.buffered as [start, end] seconds */
  buffered: Array<[number, number]>;
}

export interface PlayerPage {
  readonly page: Page;
  /** URLs the page requested, in order (playlists, parts, segments, blocking reloads…) */
  readonly requests: string[];
  /** responses the page received, in order of arrival */
  readonly responses: Array<{ url: string; status: number }>;
  state(): Promise<PlayerState>;
  /** Polls the state until `done` says so; throws on a fatal player error or after timeoutMs, with the last state. */
  waitUntil(what: string, done: (state: PlayerState) => boolean, timeoutMs: number): Promise<PlayerState>;
  /** Waits until currentTime has advanced `seconds` past its value when first seen playing; throws on a fatal error. */
  waitForPlayback(seconds: number, timeoutMs: number): Promise<PlayerState>;
  close(): Promise<void>;
}

export interface PlayerBrowser {
  /** a persistent context on a fresh profile folder (Playwright's way to give Chromium its own --user-data-dir) */
  readonly context: BrowserContext;
  /** MediaSource.isTypeSupported for each MIME type with codecs */
  mediaSupport(types: string[]): Promise<Record<string, boolean>>;
  openPlayer(options: PlayerOptions): Promise<PlayerPage>;
  close(): Promise<void>;
}

const here = fileURLToPath(new URL('.', import.meta.url));
const SCRIPTS: Record<string, string> = {
  '/hls.js': `${here}../../node_modules/hls.js/dist/hls.js`,
  '/dash.js': `${here}../../node_modules/dashjs/dist/modern/umd/dash.all.min.js`,
};

/**
 * The page's player code, kept in plain browser JavaScript. It keeps the
 * state a test reads in window.novaPlayer so that reading it is one evaluate().
 */
const PLAYER_PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>nova player</title></head>
<body>
<video id="video" muted playsinline></video>
<script>
const video = document.getElementById('video');
let t0 = performance.now();
const since = () => Math.round(performance.now() - t0);
const state = { errors: [], stalls: [], stalledMs: 0, firstFrameMs: null, discontinuityStarts: {}, engine: null, player: null };
let lastPlayhead = -1;
setInterval(() => {
  if (state.firstFrameMs === null) return;
  const at = video.currentTime;
  if (!video.paused && !video.ended && at === lastPlayhead) state.stalledMs += 100;
  lastPlayhead = at;
}, 100);
window.novaPlayer = state;
video.muted = true;
if (video.requestVideoFrameCallback) video.requestVideoFrameCallback(() => { if (state.firstFrameMs === null) state.firstFrameMs = since(); });
video.addEventListener('playing', () => { if (state.firstFrameMs === null && video.videoWidth === 0) state.firstFrameMs = since(); });
video.addEventListener('waiting', () => {
  const at = video.currentTime;
  let ahead = 0;
  for (let i = 0; i < video.buffered.length; i++) if (video.buffered.start(i) <= at + 0.05 && at < video.buffered.end(i)) ahead = video.buffered.end(i) - at;
  const level = state.engine === 'hls.js' && state.player ? state.player.currentLevel : -1;
  state.stalls.push({ atSec: at, bufferedAheadSec: Math.round(ahead * 1000) / 1000, level });
});

window.novaStart = (engine, url, config) => {
  // times (first frame, errors) count from here: the viewer pressing play
  t0 = performance.now();
  state.engine = engine;
  if (engine === 'hls.js') {
    if (!Hls.isSupported()) throw new Error('hls.js: MediaSource unsupported');
    const hls = new Hls(Object.assign({ debug: false }, config));
    state.player = hls;
    hls.on(Hls.Events.ERROR, (_event, data) => {
      const why = (data.error && data.error.message) || data.reason || '';
      state.errors.push({ detail: String(data.details) + (why ? ': ' + why : ''), fatal: Boolean(data.fatal), atMs: since() });
    });
    hls.on(Hls.Events.FRAG_LOADED, (_event, data) => {
      const frag = data.frag;
      if (!frag || typeof frag.cc !== 'number' || typeof frag.start !== 'number') return;
      const known = state.discontinuityStarts[frag.cc];
      if (known === undefined || frag.start < known) state.discontinuityStarts[frag.cc] = frag.start;
    });
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    hls.loadSource(url);
    hls.attachMedia(video);
  } else {
    const player = dashjs.MediaPlayer().create();
    state.player = player;
    if (config) player.updateSettings(config);
    player.on(dashjs.MediaPlayer.events.ERROR, (event) => {
      const error = event.error || {};
      state.errors.push({ detail: String(error.code) + ' ' + String(error.message), fatal: true, atMs: since() });
    });
    // dash.js starts playback itself: a 'play' it does not see leaves its manifest refresh paused
    player.initialize(video, url, true);
  }
};

window.novaState = () => {
  const levels = [];
  let currentLevel = -1, liveLatencySec = null, playingDateMs = null;
  if (state.engine === 'hls.js' && state.player) {
    for (const level of state.player.levels || []) levels.push({ width: level.width || 0, height: level.height || 0, bitrate: level.bitrate || 0 });
    currentLevel = state.player.currentLevel;
    liveLatencySec = Number.isFinite(state.player.latency) ? state.player.latency : null;
    playingDateMs = state.player.playingDate ? state.player.playingDate.getTime() : null;
  } else if (state.engine === 'dash.js' && state.player) {
    try {
      for (const level of state.player.getRepresentationsByType('video') || []) levels.push({ width: level.width || 0, height: level.height || 0, bitrate: level.bandwidth || 0 });
      const current = state.player.getCurrentRepresentationForType('video');
      currentLevel = current ? levels.findIndex((l) => l.bitrate === current.bandwidth) : -1;
      const latency = state.player.getCurrentLiveLatency();
      liveLatencySec = Number.isFinite(latency) && latency > 0 ? latency : null;
    } catch (err) { /* the player is not initialised yet */ }
  }
  return {
    currentTime: video.currentTime,
    paused: video.paused,
    ended: video.ended,
    readyState: video.readyState,
    errors: state.errors,
    fatal: state.errors.find((e) => e.fatal) || null,
    levels, currentLevel, liveLatencySec, playingDateMs,
    firstFrameMs: state.firstFrameMs,
    stalls: state.stalls,
    stalledMs: state.stalledMs,
    discontinuityStarts: state.discontinuityStarts,
    buffered: Array.from({ length: video.buffered.length }, (_, i) => [video.buffered.start(i), video.buffered.end(i)]),
  };
};
</script>
<script src="/hls.js"></script>
<script src="/dash.js"></script>
</body></html>`;

/** Serves the player page and the two player libraries on 127.0.0.1. */
async function startPageServer(): Promise<{ origin: string; server: Server }> {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/' || path === '/player.html') {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(PLAYER_PAGE);
      return;
    }
    const file = SCRIPTS[path];
    if (file === undefined) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'text/javascript; charset=utf-8' }).end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('page server has no port');
  return { origin: `http://127.0.0.1:${address.port}`, server };
}

export async function launchPlayerBrowser(): Promise<PlayerBrowser> {
  const pages = await startPageServer();
  // a fresh profile per launch, removed on close (after Chromium stops writing to it)
  const profile = mkdtempSync(join(tmpdir(), 'nova-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });

  async function newPlayerPage(): Promise<{ page: Page; requests: string[]; responses: Array<{ url: string; status: number }> }> {
    const page = await context.newPage();
    const requests: string[] = [];
    const responses: Array<{ url: string; status: number }> = [];
    page.on('request', (request: Request) => requests.push(request.url()));
    page.on('response', (response: Response) => responses.push({ url: response.url(), status: response.status() }));
    await page.goto(`${pages.origin}/player.html`);
    return { page, requests, responses };
  }

  return {
    context,
    async mediaSupport(types) {
      const { page } = await newPlayerPage();
      try {
        // (no DOM lib in this tsconfig: the page's globals are typed here by hand)
        return await page.evaluate(
          (list) => {
            const { MediaSource } = globalThis as unknown as { MediaSource: { isTypeSupported(type: string): boolean } };
            return Object.fromEntries(list.map((type) => [type, MediaSource.isTypeSupported(type)]));
          },
          types,
        );
      } finally {
        await page.close();
      }
    },
    async openPlayer(options) {
      const { page, requests, responses } = await newPlayerPage();
      await page.evaluate(([engine, url, config]) => (globalThis as unknown as NovaWindow).novaStart(engine, url, config), [
        options.engine,
        options.url,
        options.config ?? {},
      ] as const);
      const state = (): Promise<PlayerState> => page.evaluate(() => (globalThis as unknown as NovaWindow).novaState());
      const player: PlayerPage = {
        page,
        requests,
        responses,
        state,
        async waitUntil(what, done, timeoutMs) {
          const deadline = Date.now() + timeoutMs;
          for (;;) {
            const now = await state();
            if (now.fatal) throw new Error(`${options.engine} fatal error: ${now.fatal.detail} (all errors: ${JSON.stringify(now.errors)})`);
            if (done(now)) return now;
            if (Date.now() > deadline) throw new Error(`${options.engine}: not ${what} within ${timeoutMs} ms: ${JSON.stringify(now)}`);
            await new Promise((r) => setTimeout(r, 250));
          }
        },
        async waitForPlayback(seconds, timeoutMs) {
          // live playback starts near the live edge, not at 0: count from the first time seen playing
          let startedAt: number | null = null;
          return player.waitUntil(
            `advanced ${seconds} s`,
            (now) => {
              if (startedAt === null && now.currentTime > 0 && !now.paused) startedAt = now.currentTime;
              return startedAt !== null && now.currentTime - startedAt >= seconds;
            },
            timeoutMs,
          );
        },
        async close() {
          await page.close();
        },
      };
      return player;
    },
    async close() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
      await new Promise<void>((resolve) => pages.server.close(() => resolve()));
    },
  };
}

/** The functions the player page defines on window. */
interface NovaWindow {
  novaStart(engine: PlayerEngine, url: string, config: Record<string, unknown>): void;
  novaState(): PlayerState;
}
