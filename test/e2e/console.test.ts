/**
 * The web console in headless Chromium against the whole server, as an
 * operator uses it: sign in with the admin token, create a stream (its key
 * shown once), FFmpeg publishes with that key, the stream page plays it and
 * counts a second viewer who opens the public watch page, the watch page fits
 * a phone, a private stream's watch page needs the viewer token its stream
 * page offers, and the stream ends from the console. Each step keeps a screenshot
 * under test/.artifacts/console/.
 *
 * One server and one browser for the file; the tests run in order and share
 * the stream.
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { buildConsole } from '../../console/build.js';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { chromiumInstalled, launchPlayerBrowser, type PlayerBrowser } from '../support/browser.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { haveTool, tempDir, toolGate, waitFor } from '../support/tools.js';

const gate = { ...toolGate('ffmpeg', haveTool('ffmpeg')), ...toolGate('chromium', chromiumInstalled()) };
const ARTIFACTS = fileURLToPath(new URL('../.artifacts/console/', import.meta.url));
const PLAY_TIMEOUT_MS = 45_000;

/** The page's <video>: how far it played, and whether it is running. */
async function videoState(page: Page, selector = 'video'): Promise<{ currentTime: number; paused: boolean; readyState: number }> {
  return page.locator(selector).evaluate((element) => {
    const video = element as unknown as { currentTime: number; paused: boolean; readyState: number };
    return { currentTime: video.currentTime, paused: video.paused, readyState: video.readyState };
  });
}

/** Waits until the page's video has played `seconds` of media past the first time it was seen running. */
async function waitForPlayback(page: Page, seconds: number): Promise<number> {
  let first: number | null = null;
  return waitFor(`video playing ${seconds} s`, PLAY_TIMEOUT_MS, async () => {
    const now = await videoState(page).catch(() => null);
    if (now === null || now.paused || now.currentTime <= 0) return false;
    first ??= now.currentTime;
    return now.currentTime - first >= seconds ? now.currentTime : false;
  }, 250);
}

describe('web console in Chromium', gate, () => {
  let nova: NovaFixture;
  let browser: PlayerBrowser;
  let console_: Page;
  let publisher: FfmpegPublisher | null = null;
  let streamId = '';
  let streamKey = '';
  let serverUrl = '';
  const pageErrors: string[] = [];

  const shot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  };

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    // built into its own folder: the test serves what this checkout's sources build to, whatever dist/ holds
    const built = await buildConsole(join(tempDir('nova-console-'), 'console'));
    nova = await startNova({ env: { CONSOLE_DIR: built.outDir } });
    browser = await launchPlayerBrowser();
    console_ = await browser.context.newPage();
    await console_.setViewportSize({ width: 1280, height: 900 });
    // a CSP refusal or an exception in the bundle fails the test that follows
    console_.on('pageerror', (err) => pageErrors.push(String(err)));
    console_.on('console', (message) => {
      if (message.type() === 'error' && /Content Security Policy|Refused to/.test(message.text())) pageErrors.push(message.text());
    });
  });

  after(async () => {
    await publisher?.kill();
    await browser?.close();
    await nova?.stop();
  });

  it('signs in with the admin token (a wrong one is refused)', async () => {
    await console_.goto(`${nova.http}/`);
    await console_.getByLabel('Admin token').fill('not-the-admin-token');
    await console_.getByRole('button', { name: 'Sign in', exact: true }).click();
    await console_.getByRole('alert').filter({ hasText: 'Refused' }).waitFor();
    await console_.getByLabel('Admin token').fill(nova.server.adminToken);
    await console_.getByRole('button', { name: 'Sign in', exact: true }).click();
    await console_.getByRole('heading', { name: 'Streams' }).waitFor();
    assert.equal(await console_.evaluate(() => (globalThis as unknown as { sessionStorage: { length: number } }).sessionStorage.length), 1, 'the token is kept in sessionStorage');
    await shot(console_, '1-signed-in');
    assert.deepEqual(pageErrors, []);
  });

  it('creates a stream: the key is shown once, with the OBS server URL', async () => {
    await console_.getByRole('link', { name: 'New stream' }).first().click();
    await console_.getByLabel('Title').fill('Console test');
    await console_.getByRole('button', { name: 'Create stream' }).click();
    await console_.getByRole('heading', { name: /Stream created/ }).waitFor();
    streamKey = await console_.getByLabel('Stream key', { exact: true }).inputValue();
    serverUrl = await console_.getByLabel('Server URL', { exact: true }).inputValue();
    assert.match(streamKey, /^nsk_[A-Za-z0-9_-]{43}$/);
    assert.equal(serverUrl, nova.rtmp);
    await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: nova.http });
    await console_.getByRole('button', { name: 'Copy Stream key' }).click();
    await console_.getByText('Stream key copied').waitFor();
    const clipboard = await console_.evaluate(() => (globalThis as unknown as { navigator: { clipboard: { readText(): Promise<string> } } }).navigator.clipboard.readText());
    assert.equal(clipboard, streamKey, 'Copy puts the key on the clipboard');
    await console_.getByRole('button', { name: 'Show' }).first().click();
    await shot(console_, '2-stream-created');
    const { body } = await nova.api('GET', '/api/v1/streams');
    const created = (body as { items: Array<{ id: string; title: string }> }).items.find((s) => s.title === 'Console test');
    assert.ok(created, 'the stream exists');
    streamId = created.id;
  });

  it('FFmpeg publishes with that key; the stream page plays the video', async () => {
    publisher = publishWithFfmpeg({ url: `${serverUrl}/${streamKey}`, width: 640, height: 360, fps: 30 });
    await console_.getByRole('link', { name: 'Open the stream page' }).click();
    await console_.getByRole('heading', { name: 'Console test' }).waitFor();
    await waitFor('the stream page to say live', PLAY_TIMEOUT_MS, async () => (await console_.getByTestId('stream-state').textContent()) === 'live', 250);
    const playedTo = await waitForPlayback(console_, 3);
    assert.ok(playedTo > 0);
    // the bitrate comes from the WebSocket's stream_metrics, once a second
    await waitFor('an ingest bitrate', 10_000, async () => /b\/s$/.test((await console_.getByTestId('bitrate').textContent()) ?? ''), 250);
    await shot(console_, '3-stream-playing');
    assert.deepEqual(pageErrors, []);
  });

  it('a second viewer opening the watch page raises the viewer count on the stream page', async () => {
    const readViewers = async (): Promise<number> => Number(await console_.getByTestId('viewers').textContent());
    // this page's own WebSocket and player count: wait for the count to settle on them
    const before = await waitFor('the stream page counted as a viewer', 15_000, async () => {
      const n = await readViewers();
      return n >= 1 ? n : false;
    }, 250);
    await new Promise((r) => setTimeout(r, 1500));
    const settled = Math.max(before, await readViewers());
    const watcher = await browser.context.newPage();
    await watcher.setViewportSize({ width: 1280, height: 900 });
    await watcher.goto(`${nova.http}/watch/${streamId}`);
    await waitForPlayback(watcher, 2);
    const risen = await waitFor(`viewers above ${settled}`, 15_000, async () => {
      const n = await readViewers();
      return n > settled ? n : false;
    }, 250);
    assert.ok(risen > settled);
    await waitFor('the watch page to count itself', 10_000, async () => Number(await watcher.getByTestId('watch-viewers').textContent()) >= risen, 250);
    await shot(console_, '4-stream-page-second-viewer');
    await shot(watcher, '4-watch-page');
    await watcher.close();
  });

  it('a phone-sized viewport shows the watch page with the video and no sideways scrolling', async () => {
    const phone = await browser.context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${nova.http}/watch/${streamId}`);
    await waitForPlayback(phone, 1);
    const layout = await phone.evaluate(() => {
      const doc = (globalThis as unknown as { document: { documentElement: { scrollWidth: number; clientWidth: number }; querySelector(s: string): { getBoundingClientRect(): { left: number; right: number; top: number; width: number; height: number } } | null } }).document;
      const box = doc.querySelector('video')!.getBoundingClientRect();
      return { scrollWidth: doc.documentElement.scrollWidth, clientWidth: doc.documentElement.clientWidth, video: { left: box.left, right: box.right, top: box.top, width: box.width, height: box.height } };
    });
    assert.ok(layout.scrollWidth <= layout.clientWidth, `no horizontal scroll: ${JSON.stringify(layout)}`);
    assert.ok(layout.video.left >= 0 && layout.video.right <= 390 && layout.video.width >= 300, `the video fills the width: ${JSON.stringify(layout.video)}`);
    assert.ok(layout.video.top < 844 && layout.video.height >= 160, `the video is in the first screen: ${JSON.stringify(layout.video)}`);
    assert.ok(await phone.getByTestId('watch-live').isVisible());
    await shot(phone, '5-watch-page-phone');
    await phone.close();
  });

  it('a private stream: its watch page refuses a link without a viewer token and plays the one the stream page offers', async () => {
    const secret = await nova.createStream({ title: 'Private console test', private: true });
    const privatePublisher = publishWithFfmpeg({ url: secret.publish_url, width: 320, height: 180, fps: 15 });
    try {
      const stranger = await browser.context.newPage();
      await stranger.goto(`${nova.http}/watch/${secret.id}`);
      await stranger.getByText('This stream is private: its link needs a viewer token.').waitFor({ timeout: 15_000 });
      await shot(stranger, '6-private-watch-refused');
      await stranger.close();
      // the stream page mints a viewer token for its own player and offers a watch link carrying it
      await console_.goto(`${nova.http}/#/streams/${secret.id}`);
      await waitFor('the private stream page to say live', PLAY_TIMEOUT_MS, async () => (await console_.getByTestId('stream-state').textContent()) === 'live', 250);
      await waitForPlayback(console_, 1);
      const link = await console_.getByLabel(/^Watch link/).inputValue();
      assert.match(link, /\/watch\/[0-9a-f-]+\?token=[\w.-]+$/);
      const invited = await browser.context.newPage();
      await invited.goto(link);
      await waitForPlayback(invited, 1);
      await shot(invited, '6-private-watch-with-token');
      await invited.close();
    } finally {
      await privatePublisher.stop();
    }
    await console_.goto(`${nova.http}/#/streams/${streamId}`);
    await console_.getByRole('heading', { name: 'Console test' }).waitFor();
  });

  it('the streams list shows it live with its viewers; the stream page ends it and revokes its key', async () => {
    await console_.getByRole('link', { name: '← Streams' }).click();
    const row = console_.getByRole('row').filter({ has: console_.getByRole('link', { name: 'Console test', exact: true }) });
    await row.getByText('live').waitFor();
    await shot(console_, '6-streams-list-live');
    await row.getByRole('link', { name: 'Console test', exact: true }).click();
    console_.once('dialog', (dialog) => void dialog.accept());
    await console_.getByRole('button', { name: 'End stream and revoke its key' }).click();
    await waitFor('the stream page to say ended', 15_000, async () => /^ended/.test((await console_.getByTestId('stream-state').textContent()) ?? ''), 250);
    assert.equal((await nova.stream(streamId)).status, 'ENDED');
    await waitFor('FFmpeg to be disconnected', 15_000, () => publisher!.process.exitCode !== null || publisher!.process.signalCode !== null, 100);
    await shot(console_, '7-stream-ended');
    assert.deepEqual(pageErrors, []);
  });
});
