/**
 * Interop with independent implementations:
 * - real FFmpeg and GStreamer rtmp2sink publishing into RtmpServerSession;
 * - our RtmpClient (and the synthetic publisher) publishing into nginx-rtmp
 *   and Node-Media-Server v4, and the recorded result decoding in FFmpeg.
 * Under CI=true a missing tool fails instead of skipping.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { RtmpClient } from '../../../src/ingest/rtmp/rtmp-client.js';
import { RtmpStatusError } from '../../../src/ingest/rtmp/rtmp-client-session.js';
import { publishSynthetic } from '../../../loadtest/publisher/synthetic-publisher.js';
import { nodeMediaServerScript } from '../../../loadtest/peers/node-media-server.js';
import { startNginx as startNginxPeer, nginxRtmpInstalled, rtmpLiveConfig } from '../../../loadtest/peers/nginx.js';
import { freePort, haveTool, runTool as run, spawnTracked, tempDir, toolGate, waitForPort } from '../../support/tools.js';
import { startTestRtmpServer, type RecordedConnection } from './rtmp-test-server.js';

function assertPublishedStream(c: RecordedConnection | undefined, minVideo: number, expectAudio: boolean): void {
  assert.ok(c, 'a connection arrived');
  assert.equal(c.error, null, `session error: ${JSON.stringify(c.error)}`);
  assert.deepEqual([c.publish?.app, c.publish?.streamName], ['live', 'test']);
  assert.ok(c.video.length >= minVideo, `video messages ${c.video.length}`);
  assert.deepEqual([c.video[0].head[0], c.video[0].head[1]], [0x17, 0], 'AVC sequence header first');
  for (let i = 1; i < c.video.length; i++) assert.ok(c.video[i].timestamp >= c.video[i - 1].timestamp, 'video dts non-decreasing');
  if (expectAudio) {
    assert.ok(c.audio.length > 10, `audio messages ${c.audio.length}`);
    assert.deepEqual([c.audio[0].head[0] >> 4, c.audio[0].head[1]], [10, 0], 'AAC sequence header first');
  }
  assert.equal(c.unpublished, true, 'unpublish seen');
}

/** ffprobe: per-stream codec and decoded frame count of a media file. */
function probeFrames(file: string): Array<{ codec_name: string; nb_read_frames: string }> {
  const out = spawnSync(
    'ffprobe',
    ['-v', 'error', '-count_frames', '-show_entries', 'stream=codec_name,nb_read_frames', '-of', 'json', file],
    { encoding: 'utf8' },
  );
  assert.equal(out.status, 0, out.stderr);
  return (JSON.parse(out.stdout) as { streams: Array<{ codec_name: string; nb_read_frames: string }> }).streams;
}

describe('real publishers into RtmpServerSession', () => {
  it('FFmpeg (libx264 with B-frames + AAC) publishes; frames flow; unpublish seen', toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const server = await startTestRtmpServer();
    try {
      const result = await run(
        'ffmpeg',
        [
          '-hide_banner', '-loglevel', 'error', '-re',
          '-f', 'lavfi', '-i', 'testsrc2=size=640x360:rate=30',
          '-f', 'lavfi', '-i', 'sine',
          '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-g', '60',
          '-c:a', 'aac', '-t', '3',
          '-f', 'flv', `rtmp://127.0.0.1:${server.port}/live/test`,
        ],
        30_000,
      );
      assert.equal(result.code, 0, result.stderr);
      await server.connections[0]?.closed;
      assertPublishedStream(server.connections[0], 85, true);
    } finally {
      await server.close();
    }
  });

  it('GStreamer rtmp2sink publishes; frames flow; unpublish seen', toolGate('gst-launch-1.0', haveTool('gst-launch-1.0', ['--version'])), async () => {
    const aacEncoder = ['avenc_aac', 'voaacenc', 'fdkaacenc'].find((e) => haveTool('gst-inspect-1.0', [e]));
    const server = await startTestRtmpServer();
    try {
      const audio = aacEncoder === undefined ? [] : ['audiotestsrc', 'num-buffers=100', '!', 'audioconvert', '!', aacEncoder, '!', 'aacparse', '!', 'm.'];
      const result = await run(
        'gst-launch-1.0',
        [
          '-e', 'videotestsrc', 'num-buffers=90', '!', 'video/x-raw,width=640,height=360,framerate=30/1', '!',
          'x264enc', 'tune=zerolatency', 'key-int-max=60', '!', 'h264parse', '!',
          'flvmux', 'name=m', 'streamable=true', '!', 'rtmp2sink', `location=rtmp://127.0.0.1:${server.port}/live/test`,
          ...audio,
        ],
        30_000,
      );
      assert.equal(result.code, 0, result.stderr);
      await server.connections[0]?.closed;
      assertPublishedStream(server.connections[0], 85, aacEncoder !== undefined);
    } finally {
      await server.close();
    }
  });

  it('our synthetic publisher reaches the requested bitrate against our server', async () => {
    const server = await startTestRtmpServer();
    try {
      const result = await publishSynthetic({ url: `rtmp://127.0.0.1:${server.port}/live/test`, bitrateBps: 6_000_000, durationMs: 2000 });
      await server.connections[0]?.closed;
      assertPublishedStream(server.connections[0], 59, true);
      assert.equal(result.framesSent, 60);
      const bps = (result.bytesSent * 8) / 2;
      assert.ok(bps > 5_400_000 && bps < 6_900_000, `achieved ${bps} b/s`);
      const c = server.connections[0];
      const mediaBytes = c.video.reduce((n, v) => n + v.size, 0) + c.audio.reduce((n, a) => n + a.size, 0);
      assert.ok(mediaBytes > 1_350_000, `media bytes ${mediaBytes}`);
    } finally {
      await server.close();
    }
  });
});

describe('our RtmpClient into independent servers', () => {
  const nginxPresent = nginxRtmpInstalled();

  async function startNginx(): Promise<{ port: number; recordDir: string; stop(): Promise<void> }> {
    const port = await freePort();
    const peer = await startNginxPeer({
      loadRtmpModule: true,
      ports: [port],
      config: (dir) => {
        mkdirSync(join(dir, 'rec'));
        return rtmpLiveConfig(port, ['record all', `record_path ${dir}/rec`, 'record_unique off'], 64);
      },
    });
    return { port, recordDir: join(peer.dir, 'rec'), stop: () => peer.stop() };
  }

  it('publishes to nginx-rtmp; the recording decodes in FFmpeg', toolGate('nginx + libnginx-mod-rtmp', nginxPresent), async () => {
    const nginx = await startNginx();
    try {
      const result = await publishSynthetic({ url: `rtmp://127.0.0.1:${nginx.port}/live/test`, bitrateBps: 3_000_000, durationMs: 2500, chunkSize: 60000 });
      assert.ok(result.framesSent >= 74);
      await new Promise((r) => setTimeout(r, 300)); // let nginx close the recording
      const recording = join(nginx.recordDir, 'test.flv');
      assert.ok(existsSync(recording), `recorded files: ${readdirSync(nginx.recordDir).join(', ')}`);
      const streams = probeFrames(recording);
      const video = streams.find((s) => s.codec_name === 'h264');
      const audio = streams.find((s) => s.codec_name === 'aac');
      assert.ok(video && Number(video.nb_read_frames) >= 70, `video ${JSON.stringify(streams)}`);
      assert.ok(audio && Number(audio.nb_read_frames) >= 100, `audio ${JSON.stringify(streams)}`);
      const decode = spawnSync('ffmpeg', ['-v', 'error', '-i', recording, '-f', 'null', '-'], { encoding: 'utf8' });
      assert.equal(decode.status, 0);
      assert.equal(decode.stderr.trim(), '', 'FFmpeg decodes the recording without errors');
    } finally {
      await nginx.stop();
    }
  });

  it('nginx-rtmp refuses a second publisher of the same name with an error status', toolGate('nginx + libnginx-mod-rtmp', nginxPresent), async () => {
    const nginx = await startNginx();
    const first = await RtmpClient.connect(`rtmp://127.0.0.1:${nginx.port}/live/dup`);
    try {
      await first.publish();
      const second = await RtmpClient.connect(`rtmp://127.0.0.1:${nginx.port}/live/dup`);
      try {
        await assert.rejects(second.publish(), (err: unknown) => err instanceof RtmpStatusError && err.statusCode === 'NetStream.Publish.BadName');
      } finally {
        second.destroy();
      }
    } finally {
      await first.close();
      await nginx.stop();
    }
  });

  it('publishes to Node-Media-Server v4; an FFmpeg viewer decodes it (NMS ignores port 0: we pick a free port)', toolGate('ffmpeg', haveTool('ffmpeg')), async () => {
    const dir = tempDir('nova-nms-');
    const port = await freePort();
    const child = spawnTracked(process.execPath, ['-e', nodeMediaServerScript(port, join(dir, 'data'))], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await waitForPort(port, 10_000);
      const publishing = publishSynthetic({ url: `rtmp://127.0.0.1:${port}/live/test`, bitrateBps: 2_000_000, durationMs: 4000 });
      await new Promise((r) => setTimeout(r, 500));
      // A viewer through NMS: FFmpeg must decode 30 pictures of what our client sent.
      const viewer = await run('ffmpeg', ['-v', 'error', '-i', `rtmp://127.0.0.1:${port}/live/test`, '-frames:v', '30', '-f', 'null', '-'], 20_000);
      const result = await publishing;
      assert.equal(viewer.code, 0, viewer.stderr);
      assert.ok(result.framesSent >= 119, `frames sent ${result.framesSent}`);
      assert.match(output, /EVENT postPublish \/live\/test/);
      assert.match(output, /start push \/live\/test/);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
