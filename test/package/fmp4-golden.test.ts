/**
 * Byte-exact goldens for the CMAF init segments, one fragment per track and
 * a TS run, built from a tiny real FFmpeg capture (tiny-av.flv: 64x64 H.264
 * with B-frames + AAC 48 kHz). Regenerate with UPDATE_GOLDEN=1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { buildInitSegment } from '../../src/package/fmp4/init-segment.js';
import { buildFragment, type FragmentSamples } from '../../src/package/fmp4/fragment.js';
import { audioCmafTrack, videoCmafTrack } from '../../src/package/fmp4/cmaf-track.js';
import { TsMuxer } from '../../src/package/mpegts/ts-muxer.js';
import { TsPacketBuffer } from '../../src/package/mpegts/ts-packet-buffer.js';
import { readFlv, type FlvFrames } from './support/ffmpeg-frames.js';
import { boxPaths, readBoxes, readFragments } from './support/box-reader.js';
import type { MediaFrame } from '../../src/stream/media-frame.js';

const fixtures = fileURLToPath(new URL('../fixtures/package/', import.meta.url));
const update = process.env.UPDATE_GOLDEN === '1';

async function tinyInput(): Promise<FlvFrames> {
  return readFlv(`${fixtures}tiny-av.flv`, { video: true, audio: true, width: 64, height: 64, fps: 30, keyint: 60, bframes: 2, seconds: 0.2, sampleRate: 48000 });
}

async function golden(name: string, actual: Uint8Array): Promise<void> {
  const path = `${fixtures}${name}`;
  if (update || !existsSync(path)) {
    if (!update) assert.fail(`golden ${name} missing: run with UPDATE_GOLDEN=1`);
    await writeFile(path, actual);
    return;
  }
  const expected = new Uint8Array(await readFile(path));
  assert.equal(Buffer.from(actual).toString('hex'), Buffer.from(expected).toString('hex'), `${name} differs from golden`);
}

function concat(frames: MediaFrame[]): Uint8Array {
  const out = new Uint8Array(frames.reduce((sum, f) => sum + f.data.byteLength, 0));
  let at = 0;
  for (const f of frames) { out.set(f.data, at); at += f.data.byteLength; }
  return out;
}

function videoSamples(frames: MediaFrame[]): FragmentSamples {
  const decode = frames.map((f) => f.dts * 90);
  const durations = decode.map((d, i) => (i + 1 < decode.length ? decode[i + 1] - d : decode[i] - decode[i - 1]));
  return {
    count: frames.length,
    baseMediaDecodeTime: decode[0],
    durations,
    sizes: frames.map((f) => f.data.byteLength),
    compositionOffsets: frames.map((f) => (f.pts - f.dts) * 90),
    keyframes: frames.map((f) => (f.keyframe ? 1 : 0)),
    payload: concat(frames),
  };
}

const EXPECTED_VIDEO_INIT_LAYOUT = [
  'ftyp', 'moov', 'moov/mvhd', 'moov/trak', 'moov/trak/tkhd', 'moov/trak/mdia', 'moov/trak/mdia/mdhd', 'moov/trak/mdia/hdlr',
  'moov/trak/mdia/minf', 'moov/trak/mdia/minf/vmhd', 'moov/trak/mdia/minf/dinf', 'moov/trak/mdia/minf/dinf/dref',
  'moov/trak/mdia/minf/dinf/dref/url ', 'moov/trak/mdia/minf/stbl', 'moov/trak/mdia/minf/stbl/stsd',
  'moov/trak/mdia/minf/stbl/stsd/avc1', 'moov/trak/mdia/minf/stbl/stsd/avc1/avcC', 'moov/trak/mdia/minf/stbl/stts',
  'moov/trak/mdia/minf/stbl/stsc', 'moov/trak/mdia/minf/stbl/stco', 'moov/trak/mdia/minf/stbl/stsz', 'moov/mvex', 'moov/mvex/trex',
];

test('video init segment: box layout and golden bytes', async () => {
  const input = await tinyInput();
  const init = buildInitSegment(videoCmafTrack(input.videoConfig!));
  assert.deepEqual(boxPaths(readBoxes(init)), EXPECTED_VIDEO_INIT_LAYOUT);
  assert.equal(init.byteOffset, 0);
  assert.equal(init.byteLength, init.buffer.byteLength, 'init owns its ArrayBuffer (transferable)');
  await golden('init-video.mp4', init);
});

test('audio init segment: box layout and golden bytes', async () => {
  const input = await tinyInput();
  const init = buildInitSegment(audioCmafTrack(input.audioConfig!));
  const expected = EXPECTED_VIDEO_INIT_LAYOUT
    .map((p) => p.replace('vmhd', 'smhd').replace('avc1/avcC', 'mp4a/esds').replace('stsd/avc1', 'stsd/mp4a'));
  assert.deepEqual(boxPaths(readBoxes(init)), expected);
  await golden('init-audio.mp4', init);
});

test('video fragment: trun carries durations, sizes, sync flags and signed composition offsets', async () => {
  const input = await tinyInput();
  const frames = input.frames.filter((f) => f.track === 'video');
  const fragment = buildFragment(7, videoCmafTrack(input.videoConfig!), videoSamples(frames));
  assert.deepEqual(boxPaths(readBoxes(fragment)), ['moof', 'moof/mfhd', 'moof/traf', 'moof/traf/tfhd', 'moof/traf/tfdt', 'moof/traf/trun', 'mdat']);
  const [parsed] = readFragments(fragment);
  assert.equal(parsed.sequenceNumber, 7);
  assert.equal(parsed.baseMediaDecodeTime, 0);
  assert.deepEqual(parsed.samples.map((s) => s.size), frames.map((f) => f.data.byteLength));
  assert.deepEqual(parsed.samples.map((s) => s.compositionOffset), frames.map((f) => (f.pts - f.dts) * 90));
  assert.deepEqual(parsed.samples.map((s) => s.flags), frames.map((f) => (f.keyframe ? 0x02000000 : 0x01010000)));
  assert.deepEqual(parsed.samples.map((s) => s.duration), [3060, 2970, 2970, 3060, 2970, 2970]);
  assert.equal(parsed.dataOffset, readBoxes(fragment)[0].size + 8, 'data_offset points past the mdat header');
  assert.deepEqual(parsed.mdatPayload, concat(frames));
  await golden('fragment-video.m4s', fragment);
});

test('audio fragment: 1024-tick durations, tfdt from the first timestamp', async () => {
  const input = await tinyInput();
  const frames = input.frames.filter((f) => f.track === 'audio');
  const samples: FragmentSamples = {
    count: frames.length,
    baseMediaDecodeTime: frames[0].dts * 48,
    durations: frames.map(() => 1024),
    sizes: frames.map((f) => f.data.byteLength),
    compositionOffsets: [],
    keyframes: [],
    payload: concat(frames),
  };
  const fragment = buildFragment(1, audioCmafTrack(input.audioConfig!), samples);
  const [parsed] = readFragments(fragment);
  assert.equal(parsed.baseMediaDecodeTime, 46 * 48);
  assert.ok(parsed.samples.every((s) => s.duration === 1024 && s.flags === undefined));
  await golden('fragment-audio.m4s', fragment);
});

test('tfdt v1 holds decode times beyond 32 bits', async () => {
  const input = await tinyInput();
  const frames = input.frames.filter((f) => f.track === 'video').slice(0, 1);
  const samples = { ...videoSamples(frames), baseMediaDecodeTime: 2 ** 40 + 3, durations: [3000] };
  const [parsed] = readFragments(buildFragment(1, videoCmafTrack(input.videoConfig!), samples));
  assert.equal(parsed.baseMediaDecodeTime, 2 ** 40 + 3);
});

test('MPEG-TS of the tiny input matches its golden', async () => {
  const input = await tinyInput();
  const muxer = new TsMuxer();
  muxer.setVideoConfig(input.videoConfig);
  muxer.setAudioConfig(input.audioConfig);
  const out = new TsPacketBuffer(4);
  muxer.writeTables(out);
  for (const f of input.frames) {
    if (f.track === 'video') muxer.writeVideo(out, f.data, f.dts * 90, f.pts * 90, f.keyframe);
    else muxer.writeAudio(out, f.data, f.pts * 90);
  }
  const ts = out.take();
  assert.equal(ts.byteLength % 188, 0);
  for (let at = 0; at < ts.byteLength; at += 188) assert.equal(ts[at], 0x47, `sync byte of packet ${at / 188}`);
  await golden('tiny-av.m2ts', ts);
});
