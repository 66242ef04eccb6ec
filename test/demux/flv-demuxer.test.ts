import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NovaError } from '../../src/errors.js';
import { FlvDemuxer } from '../../src/demux/flv/flv-demuxer.js';
import { parseAvcConfig } from '../../src/demux/h264/avc-config.js';
import { codecConfigs, fromHex } from './support/fixtures.js';
import { readFlvFile, type FlvFileTag } from './support/flv-file.js';
import { RecordingSink } from './support/recording-sink.js';

interface ProbePacket {
  codec_type: 'video' | 'audio';
  pts: number;
  dts: number;
  flags: string;
  size: string;
}

function feed(demuxer: FlvDemuxer, tags: FlvFileTag[]): void {
  for (const tag of tags) {
    if (tag.type === 9) demuxer.video(tag.timestamp, tag.body);
    else if (tag.type === 8) demuxer.audio(tag.timestamp, tag.body);
  }
}

test('a real FFmpeg FLV (x264 with B-frames + AAC) demuxes to what ffprobe reports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-flv-'));
  try {
    const file = join(dir, 'av.flv');
    execFileSync('ffmpeg', [
      '-hide_banner', '-loglevel', 'error',
      '-f', 'lavfi', '-i', 'testsrc2=size=1920x1080:rate=30',
      '-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100',
      '-t', '3', '-c:v', 'libx264', '-preset', 'veryfast', '-bf', '2', '-g', '30', '-profile:v', 'high',
      '-c:a', 'aac', '-ac', '2', '-f', 'flv', file,
    ]);
    const probe = JSON.parse(
      execFileSync('ffprobe', ['-v', 'error', '-show_packets', '-show_streams', '-of', 'json', file], { maxBuffer: 64 << 20 }).toString(),
    ) as { packets: ProbePacket[]; streams: Record<string, string | number>[] };

    const sink = new RecordingSink();
    const demuxer = new FlvDemuxer(sink);
    feed(demuxer, readFlvFile(readFileSync(file)));

    const video = probe.streams.find((s) => s.codec_type === 'video')!;
    const audio = probe.streams.find((s) => s.codec_type === 'audio')!;
    assert.equal(sink.videoConfigs.length, 1);
    assert.equal(sink.videoConfigs[0].width, video.width);
    assert.equal(sink.videoConfigs[0].height, video.height);
    assert.equal(sink.videoConfigs[0].frameRate, 30);
    assert.match(sink.videoConfigs[0].codecString, /^avc1\.64/);
    assert.equal(sink.audioConfigs.length, 1);
    assert.equal(sink.audioConfigs[0].sampleRate, Number(audio.sample_rate));
    assert.equal(sink.audioConfigs[0].channels, audio.channels);
    assert.equal(sink.audioConfigs[0].codecString, 'mp4a.40.2');

    const packets = probe.packets;
    assert.ok(packets.filter((p) => p.codec_type === 'video').length >= 89);
    assert.equal(sink.frames.length, packets.length, 'frame count');
    let bFrames = 0;
    let lastVideoPts = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < packets.length; i++) {
      const expected = packets[i];
      const actual = sink.frames[i];
      assert.equal(actual.track, expected.codec_type, `#${i} track`);
      assert.equal(actual.dts, expected.dts, `#${i} dts`);
      assert.equal(actual.pts, expected.pts, `#${i} pts`);
      assert.equal(actual.keyframe, expected.flags.startsWith('K'), `#${i} keyframe`);
      assert.equal(actual.data.length, Number(expected.size), `#${i} size`);
      if (actual.track === 'video') {
        if (actual.pts < lastVideoPts) bFrames++;
        lastVideoPts = actual.pts;
      }
    }
    assert.ok(bFrames > 10, 'the fixture really has reordered (B) frames');
    assert.equal(demuxer.stats.keyframes, 3);
    assert.equal(demuxer.stats.droppedBeforeConfig, 0);
    assert.equal(demuxer.stats.timestampRepairs, 0, 'a clean FFmpeg file needs no repair');
    assert.equal(sink.frameObjects.size, 1, 'one reused MediaFrame object');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const avcC = fromHex(codecConfigs.video[3].avcC); // 640x360 high
const asc = fromHex('1210');

function videoTag(frameType: number, packetType: number, cts: number, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(5 + payload.length);
  body[0] = (frameType << 4) | 7;
  body[1] = packetType;
  body[2] = (cts >> 16) & 0xff;
  body[3] = (cts >> 8) & 0xff;
  body[4] = cts & 0xff;
  body.set(payload, 5);
  return body;
}

function audioTag(packetType: number, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(2 + payload.length);
  body[0] = 0xaf;
  body[1] = packetType;
  body.set(payload, 2);
  return body;
}

const idr = fromHex('00000003 65 88 84');

test('frames before their config are dropped and counted; configs are emitted once', () => {
  const sink = new RecordingSink();
  const demuxer = new FlvDemuxer(sink);
  demuxer.video(0, videoTag(1, 1, 0, idr));
  demuxer.audio(0, audioTag(1, fromHex('2110')));
  assert.equal(demuxer.stats.droppedBeforeConfig, 2);
  demuxer.video(0, videoTag(1, 0, 0, avcC));
  demuxer.audio(0, audioTag(0, asc));
  demuxer.video(0, videoTag(1, 0, 0, avcC)); // resent unchanged
  demuxer.audio(0, audioTag(0, asc));
  assert.equal(sink.videoConfigs.length, 1);
  assert.equal(sink.audioConfigs.length, 1);
  assert.equal(demuxer.stats.repeatedConfigs, 2);
  assert.deepEqual(sink.videoConfigs[0].avcC, avcC);
  assert.equal(sink.videoConfigs[0].width, 640);
  assert.equal(sink.videoConfigs[0].codecString, 'avc1.64001e');
  demuxer.video(40, videoTag(1, 1, 80, idr));
  demuxer.audio(40, audioTag(1, fromHex('2110')));
  assert.deepEqual(
    sink.frames.map((f) => [f.track, f.dts, f.pts, f.keyframe]),
    [
      ['video', 40, 120, true],
      ['audio', 40, 40, true],
    ],
  );
  const changed = fromHex(codecConfigs.video[1].avcC); // 1280x720: a resolution change mid-stream
  demuxer.video(80, videoTag(1, 0, 0, changed));
  assert.equal(sink.videoConfigs.length, 2);
  assert.equal(sink.videoConfigs[1].width, 1280);
});

test('unsupported codecs are counted, not fatal', () => {
  const sink = new RecordingSink();
  const demuxer = new FlvDemuxer(sink);
  demuxer.video(0, fromHex('90 68766331 0102')); // enhanced RTMP HEVC
  demuxer.audio(0, fromHex('2fffe3')); // MP3
  assert.equal(demuxer.stats.unsupportedVideoTags, 1);
  assert.equal(demuxer.stats.unsupportedAudioTags, 1);
  assert.equal(demuxer.stats.lastUnsupportedCodec, 'flv-sound-format-2');
  demuxer.video(0, fromHex('14aabb'));
  assert.equal(demuxer.stats.lastUnsupportedCodec, 'flv-video-codec-4');
  assert.equal(sink.frames.length, 0);
});

test('malformed tags raise NovaError and are counted', () => {
  const demuxer = new FlvDemuxer(new RecordingSink());
  assert.throws(() => demuxer.video(0, fromHex('1701')), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_FLV');
  assert.throws(() => demuxer.video(0, videoTag(1, 0, 0, fromHex('01640028'))), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CODEC');
  assert.throws(() => demuxer.audio(0, audioTag(0, fromHex('00'))), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CODEC');
  assert.equal(demuxer.stats.malformedTags, 3);
});

test('2-byte NAL length prefixes are widened to the 4 bytes the model promises', () => {
  const record = parseAvcConfig(avcC);
  const twoByte = avcC.slice();
  twoByte[4] = 0xfd; // lengthSizeMinusOne = 1
  assert.equal(parseAvcConfig(twoByte).nalLengthSize, 2);
  const sink = new RecordingSink();
  const demuxer = new FlvDemuxer(sink);
  demuxer.video(0, videoTag(1, 0, 0, twoByte));
  assert.equal(parseAvcConfig(sink.videoConfigs[0].avcC).nalLengthSize, 4);
  assert.equal(record.nalLengthSize, 4);
  demuxer.video(0, videoTag(1, 1, 0, fromHex('0003 658884 0002 0610')));
  assert.deepEqual(sink.frames[0].data, fromHex('00000003 658884 00000002 0610'));
  assert.throws(() => demuxer.video(33, videoTag(2, 1, 0, fromHex('0009 41'))), (err: unknown) => err instanceof NovaError);
});

test('metadata framerate wins over the SPS and re-announces the config', () => {
  const sink = new RecordingSink();
  const demuxer = new FlvDemuxer(sink);
  demuxer.metadata({ framerate: 29.97, width: 640 });
  demuxer.video(0, videoTag(1, 0, 0, avcC));
  assert.equal(sink.videoConfigs[0].frameRate, 29.97);
  demuxer.metadata({ framerate: 50 });
  assert.equal(sink.videoConfigs.length, 2);
  assert.equal(sink.videoConfigs[1].frameRate, 50);
  assert.equal(sink.metadatas.length, 2);
});

test('timestamps are repaired across a 32-bit wrap', () => {
  const sink = new RecordingSink();
  const demuxer = new FlvDemuxer(sink);
  demuxer.video(0, videoTag(1, 0, 0, avcC));
  const start = 2 ** 32 - 40;
  for (let i = 0; i < 4; i++) demuxer.video((start + i * 20) >>> 0, videoTag(i === 0 ? 1 : 2, 1, 0, idr));
  assert.deepEqual(sink.frames.map((f) => f.dts), [start, start + 20, start + 40, start + 60]);
  assert.equal(demuxer.stats.timestamps.wraps, 1);
  assert.equal(demuxer.stats.timestampRepairs, 1);
});
