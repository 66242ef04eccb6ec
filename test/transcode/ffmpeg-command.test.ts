import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildFilterGraph, buildTranscodeCommand, thumbnailFilter } from '../../src/transcode/ffmpeg-command.js';
import type { PlannedRendition } from '../../src/transcode/ladder.js';

const R720: PlannedRendition = { name: '720p', width: 1280, height: 720, bitrateKbps: 5000, passthrough: false };
const R480: PlannedRendition = { name: '480p', width: 854, height: 480, bitrateKbps: 2000, passthrough: false };

test('filter graph: one split, one scale per rendition', () => {
  assert.equal(buildFilterGraph([R720, R480], ''), '[0:v]split=2[s0][s1];[s0]scale=1280:720[v0];[s1]scale=854:480[v1]');
  assert.equal(buildFilterGraph([R480], ',format=nv12,hwupload'), '[0:v]scale=854:480,format=nv12,hwupload[v0]');
});

test('the whole argv for a two-rendition libx264 ladder, outputs on fds 3 and 4', () => {
  const command = buildTranscodeCommand({ ffmpegPath: '/usr/bin/ffmpeg', encoder: 'libx264', renditions: [R720, R480], frameRate: 30 });
  assert.deepEqual(command.outputFds, [3, 4]);
  const perOutput = (index: number, kbps: number, level: string): string[] => [
    '-map', `[v${index}]`, '-an',
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-level:v', level, '-pix_fmt', 'yuv420p',
    '-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${kbps * 2}k`,
    '-g', '300', '-keyint_min', '300', '-sc_threshold', '0', '-forced-idr', '1', '-x264-params', 'scenecut=0',
    '-force_key_frames', 'source', '-bf', '0',
    '-fps_mode', 'passthrough', '-muxdelay', '0', '-flush_packets', '1', '-flvflags', 'no_duration_filesize', '-f', 'flv',
    `pipe:${3 + index}`,
  ];
  assert.deepEqual(command.args, [
    '-f', 'flv', '-hide_banner', '-nostdin', '-loglevel', 'warning', '-copyts', '-probesize', '32768', '-analyzeduration', '0',
    '-i', 'pipe:0',
    '-filter_complex', '[0:v]split=2[s0][s1];[s0]scale=1280:720[v0];[s1]scale=854:480[v1]',
    ...perOutput(0, 5000, '3.1'),
    ...perOutput(1, 2000, '3.1'),
  ]);
});

test('VAAPI: device before the input, upload in each chain', () => {
  const command = buildTranscodeCommand({ ffmpegPath: 'ffmpeg', encoder: 'h264_vaapi', renditions: [R720], frameRate: 30 });
  const device = command.args.indexOf('-vaapi_device');
  assert.ok(device >= 0 && device < command.args.indexOf('-i'));
  assert.equal(command.args[command.args.indexOf('-filter_complex') + 1], '[0:v]scale=1280:720,format=nv12,hwupload[v0]');
});

test('a thumbnail is one more branch of the same split, JPEGs on the fd after the renditions', () => {
  const thumbnail = { width: 320, intervalSec: 5 };
  const command = buildTranscodeCommand({ ffmpegPath: 'ffmpeg', encoder: 'libx264', renditions: [R720, R480], frameRate: 30, thumbnail });
  assert.deepEqual(command.outputFds, [3, 4]);
  assert.equal(command.thumbnailFd, 5);
  assert.equal(
    command.args[command.args.indexOf('-filter_complex') + 1],
    `[0:v]split=3[s0][s1][s2];[s0]scale=1280:720[v0];[s1]scale=854:480[v1];[s2]${thumbnailFilter(thumbnail)}[thumb]`,
  );
  assert.equal(command.args.filter((a) => a === '-i').length, 1, 'one input, one decode');
  assert.deepEqual(command.args.slice(-14), ['-map', '[thumb]', '-an', '-fps_mode', 'passthrough', '-c:v', 'mjpeg', '-q:v', '5', '-flush_packets', '1', '-f', 'image2pipe', 'pipe:5']);
  // without one: no extra fd
  assert.equal(buildTranscodeCommand({ ffmpegPath: 'ffmpeg', encoder: 'libx264', renditions: [R480], frameRate: 30 }).thumbnailFd, null);
});
