import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  DEFAULT_ENCODE_SETTINGS,
  ENCODER_CANDIDATES,
  ENCODER_FLAGS,
  h264LevelFor,
  trialEncodeArgs,
  type EncoderName,
  type RenditionEncodeSettings,
} from '../../src/transcode/encoder-flags.js';

const RENDITION_720P: RenditionEncodeSettings = {
  ...DEFAULT_ENCODE_SETTINGS,
  width: 1280,
  height: 720,
  bitrateKbps: 5000,
  frameRate: 30,
};

const RATE = ['-b:v', '5000k', '-maxrate', '5000k', '-bufsize', '10000k'];
const TAIL = ['-force_key_frames', 'source', '-bf', '0'];

/** One golden argument list per encoder: the table is the contract with FFmpeg. */
const EXPECTED: Record<EncoderName, string[]> = {
  libx264: [
    '-c:v', 'libx264', '-preset', 'veryfast', '-profile:v', 'high', '-level:v', '3.1', '-pix_fmt', 'yuv420p',
    ...RATE, '-g', '300', '-keyint_min', '300', '-sc_threshold', '0', '-forced-idr', '1', '-x264-params', 'scenecut=0', ...TAIL,
  ],
  h264_nvenc: [
    '-c:v', 'h264_nvenc', '-preset', 'p4', '-tune', 'll', '-rc', 'cbr', '-profile:v', 'high', '-level:v', '3.1', '-pix_fmt', 'yuv420p',
    ...RATE, '-g', '300', '-no-scenecut', '1', '-forced-idr', '1', '-zerolatency', '1', ...TAIL,
  ],
  h264_qsv: [
    '-c:v', 'h264_qsv', '-preset', 'veryfast', '-look_ahead', '0', '-profile:v', 'high', '-pix_fmt', 'nv12',
    ...RATE, '-g', '300', '-idr_interval', '0', '-forced_idr', '1', ...TAIL,
  ],
  h264_vaapi: ['-c:v', 'h264_vaapi', '-rc_mode', 'CBR', '-profile:v', 'high', ...RATE, '-g', '300', '-idr_interval', '0', ...TAIL],
  h264_videotoolbox: [
    '-c:v', 'h264_videotoolbox', '-realtime', '1', '-allow_sw', '0', '-profile:v', 'high', '-pix_fmt', 'yuv420p',
    ...RATE, '-g', '300', ...TAIL,
  ],
};

for (const encoder of ENCODER_CANDIDATES) {
  test(`${encoder}: exact output arguments for a 720p rendition`, () => {
    assert.deepEqual(ENCODER_FLAGS[encoder].outputArgs(RENDITION_720P), EXPECTED[encoder]);
  });
}

test('libx264 low-latency, strict CBR and 2 s interval keyframes', () => {
  const args = ENCODER_FLAGS.libx264.outputArgs({
    ...RENDITION_720P,
    lowLatency: true,
    rateControl: 'cbr',
    keyframes: { kind: 'interval', seconds: 2 },
    bufferSeconds: 1,
  });
  assert.deepEqual(args, [
    '-c:v', 'libx264', '-preset', 'veryfast', '-tune', 'zerolatency', '-profile:v', 'high', '-level:v', '3.1', '-pix_fmt', 'yuv420p',
    '-b:v', '5000k', '-maxrate', '5000k', '-bufsize', '5000k', '-g', '60', '-keyint_min', '60', '-sc_threshold', '0',
    '-forced-idr', '1', '-x264-params', 'scenecut=0:nal-hrd=cbr:force-cfr=1',
    '-force_key_frames', 'expr:gte(t,n_forced*2)', '-bf', '0',
  ]);
});

test('VAAPI carries its device and upload into the command; others add nothing', () => {
  assert.deepEqual(ENCODER_FLAGS.h264_vaapi.globalArgs, ['-vaapi_device', '/dev/dri/renderD128']);
  assert.equal(ENCODER_FLAGS.h264_vaapi.filterSuffix, ',format=nv12,hwupload');
  assert.deepEqual(trialEncodeArgs('h264_vaapi'), [
    '-hide_banner', '-nostdin', '-loglevel', 'error', '-vaapi_device', '/dev/dri/renderD128',
    '-f', 'lavfi', '-i', 'color=size=256x144:rate=30', '-frames:v', '1', '-vf', 'format=nv12,hwupload',
    '-c:v', 'h264_vaapi', '-f', 'null', '-',
  ]);
  for (const encoder of ['libx264', 'h264_nvenc', 'h264_qsv', 'h264_videotoolbox'] as const) {
    assert.deepEqual(ENCODER_FLAGS[encoder].globalArgs, []);
    assert.equal(ENCODER_FLAGS[encoder].filterSuffix, '');
  }
});

test('H.264 level is the smallest that fits the picture rate', () => {
  assert.equal(h264LevelFor(854, 480, 30), '3.1');
  assert.equal(h264LevelFor(640, 360, 30), '3.0');
  assert.equal(h264LevelFor(1280, 720, 30), '3.1');
  assert.equal(h264LevelFor(1280, 720, 60), '3.2');
  assert.equal(h264LevelFor(1920, 1080, 30), '4.0');
  assert.equal(h264LevelFor(1920, 1080, 60), '4.2');
  assert.equal(h264LevelFor(3840, 2160, 30), '5.1');
});
