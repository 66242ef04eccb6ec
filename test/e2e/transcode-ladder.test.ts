/**
 * The ABR ladder end to end: real FFmpeg publishes over RTMP, the server's
 * own FFmpeg (fed from the stream's frame queue by a pool task) makes the
 * lower renditions, and they come out through the same packager and
 * delivery as the source. Kept cheap for a 2-core machine: 15 fps sources,
 * ultrafast encodes, a ladder of low bitrates (the ±25 % check still holds).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance, type EventLoopUtilization } from 'node:perf_hooks';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import WebSocket from 'ws';
import { publishWithFfmpeg, type FfmpegPublisher } from '../../loadtest/publisher/ffmpeg-publisher.js';
import { chromiumInstalled, launchPlayerBrowser } from '../support/browser.js';
import { startNova, type CreatedStream, type NovaFixture } from '../support/nova-server.js';
import { haveTool, tempDir, toolGate, waitFor } from '../support/tools.js';

const execFileAsync = promisify(execFile);
const FPS = 15;
const FRAME_MS = 1000 / FPS;
/** cheap on purpose; the ±25 % bitrate check is against these */
const LADDER = '1080p:2500k,720p:1200k,480p:600k';
const TARGET_KBPS: Record<string, number> = { '1080p': 2500, '720p': 1200, '480p': 600 };
const TRANSCODE_ENV = { TRANSCODE: 'on', TRANSCODE_LADDER: LADDER, TRANSCODE_PRESET: 'ultrafast' };

const ffmpegGate = toolGate('ffmpeg', haveTool('ffmpeg') && haveTool('ffprobe'));

interface Variant {
  attributes: Record<string, string>;
  uri: string;
}

function parseAttributes(list: string): Record<string, string> {
  const attributes: Record<string, string> = {};
  for (const match of list.matchAll(/([A-Z0-9-]+)=("[^"]*"|[^,]*)/g)) attributes[match[1]!] = match[2]!.replace(/^"|"$/g, '');
  return attributes;
}

function parseMaster(text: string): Variant[] {
  const lines = text.split('\n');
  const variants: Variant[] = [];
  lines.forEach((line, i) => {
    if (line.startsWith('#EXT-X-STREAM-INF:')) variants.push({ attributes: parseAttributes(line.slice(18)), uri: lines[i + 1]!.trim() });
  });
  return variants;
}

/** msn → EXTINF seconds of the segments a media playlist lists */
function parseSegments(text: string): Map<number, number> {
  const segments = new Map<number, number>();
  let duration = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#EXTINF:')) duration = Number(line.slice(8).split(',')[0]);
    const match = /seg-(\d+)\.(m4s|ts)/.exec(line);
    if (match !== null && !line.startsWith('#')) segments.set(Number(match[1]), duration);
  }
  return segments;
}

async function getText(url: string): Promise<{ status: number; text: string }> {
  const response = await fetch(url);
  return { status: response.status, text: await response.text() };
}

async function getBytes(url: string): Promise<Buffer> {
  const response = await fetch(url);
  assert.equal(response.status, 200, `GET ${url}`);
  return Buffer.from(await response.arrayBuffer());
}

interface Probe {
  width: number;
  height: number;
  /** presentation time of the first keyframe, seconds */
  firstKeyframePts: number;
  packetBytes: number;
}

async function ffprobe(bytes: Buffer, dir: string, name: string): Promise<Probe> {
  const file = join(dir, name);
  writeFileSync(file, bytes);
  const { stdout } = await execFileAsync('ffprobe', [
    '-v', 'error', '-select_streams', 'v:0',
    '-show_entries', 'stream=width,height:packet=pts_time,size,flags', '-of', 'json', file,
  ]);
  const parsed = JSON.parse(stdout) as { streams: Array<{ width: number; height: number }>; packets: Array<{ pts_time: string; size: string; flags: string }> };
  const keyframe = parsed.packets.find((p) => p.flags.startsWith('K'));
  assert.ok(keyframe, `${name}: no keyframe`);
  return {
    width: parsed.streams[0]!.width,
    height: parsed.streams[0]!.height,
    firstKeyframePts: Number(keyframe.pts_time),
    packetBytes: parsed.packets.reduce((sum, p) => sum + Number(p.size), 0),
  };
}

/** quality_changed messages a viewer's WebSocket received */
function watchQuality(url: string): { messages: Array<{ renditions: Array<{ name: string }> }>; close(): void; opened: Promise<void> } {
  const socket = new WebSocket(url);
  const messages: Array<{ renditions: Array<{ name: string }> }> = [];
  socket.on('message', (data: WebSocket.RawData) => {
    const message = JSON.parse(data.toString()) as { type: string; renditions: Array<{ name: string }> };
    if (message.type === 'quality_changed') messages.push(message);
  });
  const opened = new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { messages, opened, close: () => socket.close() };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('ABR ladder from a 1080p source', ffmpegGate, () => {
  let nova: NovaFixture;
  let stream: CreatedStream;
  let publisher: FfmpegPublisher;
  let master: string;
  /** the main thread's event loop while the ladder warms up: what the transcode stage leaves on it */
  let mainThread: EventLoopUtilization;
  const dir = tempDir('nova-transcode-');

  before(async () => {
    nova = await startNova({ env: TRANSCODE_ENV });
    stream = await nova.createStream();
    publisher = publishWithFfmpeg({ url: stream.publish_url, width: 1920, height: 1080, fps: FPS, gop: 2 * FPS, videoBitrate: '3M' });
    const eluStart = performance.eventLoopUtilization();
    // three segments of every rendition listed
    master = await waitFor('master playlist with the ladder', 40_000, async () => {
      const { status, text } = await getText(`${nova.http}/hls/${stream.id}/master.m3u8`);
      if (status !== 200 || parseMaster(text).length < 3) return false;
      for (const variant of parseMaster(text)) {
        const media = await getText(`${nova.http}/hls/${stream.id}/${variant.uri}`);
        if (parseSegments(media.text).size < 4) return false;
      }
      return text;
    }, 500);
    mainThread = performance.eventLoopUtilization(eluStart);
  });

  after(async () => {
    await publisher?.stop();
    await nova?.stop();
  });

  it('the master playlist, TS master and MPD list the source (1080p) and 720p, 480p with BANDWIDTH, RESOLUTION, CODECS', async (t) => {
    t.diagnostic(`main thread event loop utilisation while the ladder ran: ${(mainThread.utilization * 100).toFixed(1)} % over ${(mainThread.idle + mainThread.active).toFixed(0)} ms (this test's own polling included)`);
    const variants = parseMaster(master);
    const byResolution = new Map(variants.map((v) => [v.attributes.RESOLUTION, v]));
    assert.deepEqual([...byResolution.keys()].sort(), ['1280x720', '1920x1080', '854x480'], master);
    assert.match(byResolution.get('1920x1080')!.uri, /^source\//, 'the 1080p rung is the source itself (no upscale, no re-encode)');
    for (const [resolution, name] of [['1280x720', '720p'], ['854x480', '480p']] as const) {
      const variant = byResolution.get(resolution)!;
      assert.match(variant.uri, new RegExp(`^${name}/video\\.m3u8`));
      assert.match(variant.attributes.CODECS!, /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/, master);
      assert.equal(variant.attributes.AUDIO, 'aud', 'every variant shares the source audio');
      const bandwidth = Number(variant.attributes.BANDWIDTH);
      assert.ok(bandwidth >= TARGET_KBPS[name]! * 1000, `${name} BANDWIDTH ${bandwidth} covers its target`);
      assert.ok(bandwidth < TARGET_KBPS[name]! * 1000 * 2, `${name} BANDWIDTH ${bandwidth} is not absurd`);
    }
    const tsMaster = await getText(`${nova.http}/hls/${stream.id}/ts/master.m3u8`);
    assert.deepEqual(parseMaster(tsMaster.text).map((v) => v.attributes.RESOLUTION).sort(), ['1280x720', '1920x1080', '854x480']);
    for (const variant of parseMaster(tsMaster.text)) assert.match(variant.attributes.CODECS!, /^avc1\.[0-9a-f]{6},mp4a\.40\.2$/, tsMaster.text);
    // the 480p TS carries the shared audio muxed in
    const ts480 = parseSegments((await getText(`${nova.http}/hls/${stream.id}/480p/ts.m3u8`)).text);
    const tsSegment = await getBytes(`${nova.http}/hls/${stream.id}/480p/ts/seg-${[...ts480.keys()][1]}.ts`);
    writeFileSync(join(dir, '480p.ts'), tsSegment);
    const { stdout: tsStreams } = await execFileAsync('ffprobe', ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height', '-of', 'csv=p=0', join(dir, '480p.ts')]);
    assert.match(tsStreams, /h264,video,854,480/, tsStreams);
    assert.match(tsStreams, /aac,audio/, tsStreams);
    const mpd = await getText(`${nova.http}/dash/${stream.id}/manifest.mpd`);
    for (const size of ['width="1920" height="1080"', 'width="1280" height="720"', 'width="854" height="480"']) assert.ok(mpd.text.includes(size), `MPD lists ${size}`);
  });

  it('ffprobe: each rendition has its resolution and a bitrate within ±25 % of target; segment N starts at the same PTS in every rendition', async (t) => {
    const renditions = ['source', '720p', '480p'];
    const playlists = new Map<string, Map<number, number>>();
    for (const name of renditions) playlists.set(name, parseSegments((await getText(`${nova.http}/hls/${stream.id}/${name}/video.m3u8`)).text));
    // segments every rendition lists, after the first two of the youngest (encoder start-up)
    const common = [...playlists.get('480p')!.keys()].filter((msn) => renditions.every((r) => playlists.get(r)!.has(msn))).slice(1);
    assert.ok(common.length >= 2, `common segments ${JSON.stringify(common)}`);
    const starts = new Map<number, number[]>();
    for (const name of renditions) {
      const init = await getBytes(`${nova.http}/hls/${stream.id}/${name}/video/init.mp4`);
      let bits = 0;
      let seconds = 0;
      for (const msn of common) {
        const segment = await getBytes(`${nova.http}/hls/${stream.id}/${name}/video/seg-${msn}.m4s`);
        const probe = await ffprobe(Buffer.concat([init, segment]), dir, `${name}-${msn}.mp4`);
        const expected = name === 'source' ? [1920, 1080] : name === '720p' ? [1280, 720] : [854, 480];
        assert.deepEqual([probe.width, probe.height], expected, `${name} seg ${msn} resolution`);
        bits += probe.packetBytes * 8;
        seconds += playlists.get(name)!.get(msn)!;
        starts.set(msn, [...(starts.get(msn) ?? []), probe.firstKeyframePts]);
      }
      if (name !== 'source') {
        const kbps = bits / seconds / 1000;
        const target = TARGET_KBPS[name]!;
        t.diagnostic(`${name}: ${kbps.toFixed(0)} kb/s over segments ${common.join(',')} (target ${target})`);
        assert.ok(Math.abs(kbps - target) <= target * 0.25, `${name}: ${kbps.toFixed(0)} kb/s vs target ${target} kb/s (±25 %)`);
      }
    }
    for (const [msn, pts] of starts) {
      const spread = (Math.max(...pts) - Math.min(...pts)) * 1000;
      t.diagnostic(`segment ${msn} starts (source/720p/480p): ${pts.map((p) => p.toFixed(3)).join(' / ')} s`);
      assert.ok(spread <= FRAME_MS, `segment ${msn} starts at ${pts.map((p) => p.toFixed(3)).join(' / ')} s: spread ${spread.toFixed(1)} ms > one frame`);
    }
  });

  it('hls.js in Chromium plays the ladder and switches levels (forced) without a stall', toolGate('chromium', chromiumInstalled()), async (t) => {
    const browser = await launchPlayerBrowser();
    try {
      // Level switching, not low latency, is under test: at the LL-HLS edge (about a second buffered) a switch
      // that waits on the new level's blocking playlist reload can run the buffer dry on a loaded 2-core CI
      // machine (three encodes, Chromium decoding 1080p). The classic edge keeps three segments in hand, so a
      // stall here means a switch that really broke (a missing or misaligned segment), not a slow machine.
      const player = await browser.openPlayer({ engine: 'hls.js', url: `${nova.http}/hls/${stream.id}/master.m3u8`, config: { lowLatencyMode: false } });
      const playing = await player.waitForPlayback(2, 30_000);
      assert.deepEqual(playing.levels.map((l) => l.height), [480, 720, 1080], JSON.stringify(playing.levels));
      const stallsBefore = playing.stalls.length;
      // (no DOM lib in this tsconfig: the page's globals are typed here by hand)
      type Page = { novaPlayer: { player: { nextLevel: number } }; document: { getElementById(id: string): { videoHeight: number } } };
      for (const level of [0, 2, 1]) {
        await player.page.evaluate((index) => void ((globalThis as unknown as Page).novaPlayer.player.nextLevel = index), level);
        const switched = await player.waitUntil(`on level ${level}`, (s) => s.currentLevel === level, 20_000);
        const height = playing.levels[level]!.height;
        await waitFor(`${height}p frames on screen`, 15_000, async () =>
          (await player.page.evaluate(() => (globalThis as unknown as Page).document.getElementById('video').videoHeight)) === height,
        250);
        const after = await player.waitForPlayback(2, 20_000);
        t.diagnostic(`level ${level} (${height}p) at ${switched.currentTime.toFixed(2)} s, playing on at ${after.currentTime.toFixed(2)} s`);
      }
      const end = await player.state();
      t.diagnostic(`stalls: ${JSON.stringify(end.stalls)}`);
      assert.equal(end.fatal, null);
      assert.equal(end.stalls.length, stallsBefore, `stalls while switching: ${JSON.stringify(end.stalls)}`);
      await player.close();
    } finally {
      await browser.close();
    }
  });

  it('killing the stream\'s FFmpeg is survived: source keeps playing, ladder back within 10 s, viewers told by quality_changed', async (t) => {
    const viewer = watchQuality(stream.ws_url);
    await viewer.opened;
    // Under load (the player test before this one, three encodes on two cores) FFmpeg may have been
    // restarted for a stall just now, its ladder withdrawn and not yet back: kill one whose ladder is live.
    await waitFor('the ladder live in the master playlist', 20_000, async () =>
      parseMaster((await getText(`${nova.http}/hls/${stream.id}/master.m3u8`)).text).length === 3,
    200);
    const status = nova.server.transcode.status(stream.id);
    assert.ok(status !== null && status.pid !== null, 'the stream has a running FFmpeg with a known PID');
    const pid = status.pid;
    const sourceBefore = parseSegments((await getText(`${nova.http}/hls/${stream.id}/source/video.m3u8`)).text);
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();

    // withdrawn: viewers hear of it and the master lists the source alone
    await waitFor('quality_changed without the ladder', 5000, () => viewer.messages.some((m) => m.renditions.every((r) => r.name === 'source')));
    const back = await waitFor('ladder back in the master playlist', 10_000, async () => {
      const { text } = await getText(`${nova.http}/hls/${stream.id}/master.m3u8`);
      return parseMaster(text).length === 3 ? text : false;
    }, 200);
    const backAfterMs = Date.now() - killedAt;
    assert.ok(backAfterMs <= 10_000, `ladder back after ${backAfterMs} ms`);
    t.diagnostic(`ladder back in the master playlist ${backAfterMs} ms after the kill`);
    assert.ok(parseMaster(back).some((v) => v.uri.startsWith('480p/')));
    await waitFor('quality_changed with the ladder again', 2000, () => {
      const last = viewer.messages[viewer.messages.length - 1];
      return last !== undefined && last.renditions.map((r) => r.name).sort().join() === '480p,720p,source';
    });
    const newStatus = nova.server.transcode.status(stream.id);
    assert.ok(newStatus !== null && newStatus.pid !== null && newStatus.pid !== pid, 'a new FFmpeg runs');
    assert.ok(newStatus.restarts >= 1);
    // the source never stopped: its playlist kept growing through the outage
    const sourceAfter = parseSegments((await getText(`${nova.http}/hls/${stream.id}/source/video.m3u8`)).text);
    assert.ok(Math.max(...sourceAfter.keys()) >= Math.max(...sourceBefore.keys()) + 2, 'source segments kept coming');
    const metrics = (await getText(`${nova.http}/metrics`)).text;
    assert.match(metrics, /nova_streaming_transcode_restarts_total\{reason="exit"\} [1-9]/);
    assert.match(metrics, /nova_streaming_transcode_encoder_info\{encoder="libx264"\} 1/);
    assert.match(metrics, new RegExp(`nova_streaming_transcode_speed\\{stream="${stream.id}"\\} [0-9.]+`));
    viewer.close();
  });

  it('the stream\'s end ends its FFmpeg', async () => {
    const pid = nova.server.transcode.status(stream.id)?.pid;
    assert.ok(typeof pid === 'number');
    await publisher.stop();
    await waitFor('FFmpeg gone with the stream', 5000, () => !pidAlive(pid));
  });
});

describe('ladder never upscales and skips audio-only streams', ffmpegGate, () => {
  let nova: NovaFixture;
  before(async () => {
    nova = await startNova({ env: TRANSCODE_ENV });
  });
  after(async () => {
    await nova?.stop();
  });

  it('a 720p source gets 480p and no 1080p or 720p rendition; FFmpeg ends on shutdown', async () => {
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ url: stream.publish_url, width: 1280, height: 720, fps: FPS, gop: 2 * FPS, videoBitrate: '1500k' });
    try {
      const master = await waitFor('master with the 480p rung', 30_000, async () => {
        const { status, text } = await getText(`${nova.http}/hls/${stream.id}/master.m3u8`);
        return status === 200 && parseMaster(text).length >= 2 ? text : false;
      }, 500);
      const variants = parseMaster(master);
      assert.deepEqual(variants.map((v) => v.attributes.RESOLUTION).sort(), ['1280x720', '854x480'], master);
      assert.ok(!variants.some((v) => v.uri.startsWith('1080p/') || v.uri.startsWith('720p/')), master);
      const live = await nova.stream(stream.id);
      assert.deepEqual((live.renditions as Array<{ name: string }>).map((r) => r.name).sort(), ['480p', 'source']);
    } finally {
      const pid = nova.server.transcode.status(stream.id)?.pid;
      await nova.stop();
      await publisher.kill();
      if (typeof pid === 'number') assert.ok(!pidAlive(pid), 'no FFmpeg left after shutdown');
    }
  });
});

describe('audio-only stream', ffmpegGate, () => {
  it('gets no video ladder and no FFmpeg', async () => {
    const nova = await startNova({ env: TRANSCODE_ENV });
    const stream = await nova.createStream();
    const publisher = publishWithFfmpeg({ url: stream.publish_url, video: false, durationSec: 8 });
    try {
      const master = await waitFor('audio master playlist', 20_000, async () => {
        const { status, text } = await getText(`${nova.http}/hls/${stream.id}/master.m3u8`);
        return status === 200 ? text : false;
      }, 500);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const variants = parseMaster((await getText(`${nova.http}/hls/${stream.id}/master.m3u8`)).text);
      assert.equal(variants.length, 1, master);
      assert.ok(!('RESOLUTION' in variants[0]!.attributes));
      const status = nova.server.transcode.status(stream.id);
      assert.equal(status?.pid ?? null, null, 'no FFmpeg for an audio-only stream');
      assert.equal(status?.processStarts ?? 0, 0);
    } finally {
      await publisher.kill();
      await nova.stop();
    }
  });
});

describe('FFmpeg missing', () => {
  it('passthrough only, with one warning at start-up and in /health', async () => {
    const nova = await startNova({ env: { ...TRANSCODE_ENV, FFMPEG_PATH: '/nonexistent/ffmpeg' } });
    try {
      const health = (await (await fetch(`${nova.http}/health`)).json()) as { warnings: string[] };
      assert.equal(health.warnings.length, 1, JSON.stringify(health));
      assert.match(health.warnings[0]!, /no ABR ladder: ffmpeg not usable/);
      const warned = nova.logs().filter((l) => l.level === 'warn' && String(l.msg).startsWith('no ABR ladder'));
      assert.equal(warned.length, 1);
      assert.equal(nova.server.transcode.encoder, null);
    } finally {
      await nova.stop();
    }
  });

  it('TRANSCODE=off: no probe, no warning', async () => {
    const nova = await startNova();
    try {
      const health = (await (await fetch(`${nova.http}/health`)).json()) as { warnings: string[] };
      assert.deepEqual(health.warnings, []);
      assert.equal(nova.server.transcode.encoder, null);
    } finally {
      await nova.stop();
    }
  });
});
