/**
 * Real peer: FFmpeg encodes an FLV, the Segmenter packages it, and ffprobe /
 * ffmpeg read what came out (CMAF per track and the muxed TS).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Segmenter } from '../../src/package/segmenter.js';
import type { PackagedInit, PackagedMedia, PackagedSegment, PackagedTrack } from '../../src/package/packaged-media.js';
import { VARIANTS, ffmpegDecode, ffprobe, makeFlv, readFlv, withTempDir, type FfprobePacket, type FlvVariant } from './support/ffmpeg-frames.js';

const TARGET_MS = 2000;

interface Written {
  path: string;
  /** byte range of each segment in the file */
  ranges: { msn: number; start: number; end: number }[];
  segments: PackagedSegment[];
}

async function writeTrack(out: PackagedMedia[], track: PackagedTrack, path: string): Promise<Written | null> {
  const init = out.find((m): m is PackagedInit => m.kind === 'init' && m.track === track);
  const segments = out.filter((m): m is PackagedSegment => m.kind === 'segment' && m.track === track);
  if (segments.length === 0) return null;
  const chunks: Uint8Array[] = init ? [init.bytes] : [];
  let offset = init ? init.bytes.byteLength : 0;
  const ranges: Written['ranges'] = [];
  for (const s of segments) {
    ranges.push({ msn: s.msn, start: offset, end: offset + s.bytes.byteLength });
    offset += s.bytes.byteLength;
    chunks.push(s.bytes);
  }
  await writeFile(path, Buffer.concat(chunks));
  return { path, ranges, segments };
}

const ms = (time: string): number => Number(time) * 1000;

function checkTimeline(label: string, packets: FfprobePacket[], written: Written, frameMs: number): void {
  for (let i = 1; i < packets.length; i++) {
    assert.ok(ms(packets[i].dts_time) > ms(packets[i - 1].dts_time), `${label}: dts not strictly increasing at packet ${i}`);
  }
  for (const p of packets) assert.ok(ms(p.pts_time) >= ms(p.dts_time) - 1e-6, `${label}: pts < dts`);
  // group by byte position into segments: consecutive segments neither gap nor overlap by more than a frame
  const bySegment = written.ranges.map((r) => packets.filter((p) => Number(p.pos) >= r.start && Number(p.pos) < r.end));
  assert.ok(bySegment.every((group) => group.length > 0), `${label}: a segment without packets`);
  for (let i = 1; i < bySegment.length; i++) {
    const last = bySegment[i - 1].at(-1)!;
    const expectedNext = ms(last.dts_time) + ms(last.duration_time ?? '0');
    const actualNext = ms(bySegment[i][0].dts_time);
    assert.ok(Math.abs(actualNext - expectedNext) <= frameMs + 0.5, `${label}: segment ${i} starts at ${actualNext} ms, previous ended at ${expectedNext} ms`);
  }
}

async function checkCase(name: string, variant: FlvVariant, expectLongGop: boolean): Promise<void> {
  await withTempDir(async (directory) => {
    const flvPath = await makeFlv(variant, directory, name);
    const input = await readFlv(flvPath, variant);
    const reference = await ffprobe(flvPath);
    const out: PackagedMedia[] = [];
    const longGops: number[] = [];
    const segmenter = new Segmenter({ rendition: name, targetDurationMs: TARGET_MS, now: () => 0, onLongGop: (observed) => longGops.push(observed) }, (m) => out.push(m));
    if (input.videoConfig) segmenter.videoConfig(input.videoConfig);
    if (input.audioConfig) segmenter.audioConfig(input.audioConfig);
    for (const f of input.frames) segmenter.frame(f);
    segmenter.end();
    assert.equal(segmenter.stats.framesDropped, 0);

    const gopMs = (variant.keyint * 1000) / variant.fps;
    const referencePts = (kind: 'video' | 'audio'): number[] => reference.packets.filter((p) => p.codec_type === kind).map((p) => ms(p.pts_time));
    const framesIn = (kind: 'video' | 'audio'): number => input.frames.filter((f) => f.track === kind).length;
    const frameMs = { video: 1000 / variant.fps, audio: (1024 * 1000) / variant.sampleRate };

    for (const track of ['video', 'audio'] as const) {
      const hasTrack = track === 'video' ? variant.video : variant.audio;
      const written = await writeTrack(out, track, join(directory, `${track}.mp4`));
      assert.equal(written !== null, hasTrack, `${track} output present iff input has ${track}`);
      if (!written) continue;
      const probe = await ffprobe(written.path);
      assert.equal(probe.stderr, '', `${name} ${track}.mp4 ffprobe warnings`);
      assert.equal(probe.streams.length, 1);
      const stream = probe.streams[0];
      if (track === 'video') {
        assert.equal(stream.codec_name, 'h264');
        assert.equal(stream.width, variant.width);
        assert.equal(stream.height, variant.height);
      } else {
        assert.equal(stream.codec_name, 'aac');
        assert.equal(Number(stream.sample_rate), variant.sampleRate);
        assert.equal(stream.channels, 2);
      }
      assert.equal(probe.packets.length, framesIn(track), `${track} packet count`);
      const pts = probe.packets.map((p) => ms(p.pts_time));
      const expected = referencePts(track);
      // video: the same ms; audio: sample-counted times stay within a ms of FLV's rounded ms
      assert.ok(pts.every((value, i) => Math.abs(value - expected[i]) <= (track === 'video' ? 1e-6 : 1)), `${name} ${track} pts order differs from the FLV`);
      checkTimeline(`${name} ${track}`, probe.packets, written, frameMs[track]);
      const tolerance = variant.video && gopMs > TARGET_MS ? gopMs : frameMs[track] * 2;
      for (const s of written.segments) assert.ok(s.duration * 1000 <= TARGET_MS + tolerance + 1e-6, `${track} segment ${s.msn} lasts ${s.duration}s`);
      assert.equal(await ffmpegDecode(written.path), '', `${name} ${track}.mp4 decodes cleanly`);
    }

    const ts = await writeTrack(out, 'ts', join(directory, 'out.ts'));
    assert.ok(ts);
    const probe = await ffprobe(ts.path);
    assert.equal(probe.stderr, '', `${name} out.ts ffprobe warnings`);
    for (const kind of ['video', 'audio'] as const) {
      const hasTrack = kind === 'video' ? variant.video : variant.audio;
      const stream = probe.streams.find((s) => s.codec_type === kind);
      assert.equal(stream !== undefined, hasTrack);
      if (!stream) continue;
      if (kind === 'video') assert.deepEqual([stream.codec_name, stream.width, stream.height], ['h264', variant.width, variant.height]);
      else assert.deepEqual([stream.codec_name, Number(stream.sample_rate)], ['aac', variant.sampleRate]);
      const packets = probe.packets.filter((p) => p.codec_type === kind);
      assert.equal(packets.length, framesIn(kind), `ts ${kind} packet count`);
      const expected = referencePts(kind);
      assert.ok(packets.every((p, i) => Math.abs(ms(p.pts_time) - expected[i]) <= (kind === 'video' ? 0.02 : 1)), `${name} ts ${kind} pts order differs`);
      checkTimeline(`${name} ts ${kind}`, packets, ts, frameMs[kind]);
    }
    assert.equal(await ffmpegDecode(ts.path), '', `${name} out.ts decodes cleanly`);

    assert.equal(segmenter.stats.longGops > 0, expectLongGop);
    assert.equal(longGops.length, segmenter.stats.longGops);
    if (expectLongGop) assert.ok(longGops.every((observed) => Math.abs(observed - gopMs) <= 1), `long GOPs ${longGops}`);
  });
}

test('real peer: A/V with B-frames', () => checkCase('av', VARIANTS.av, false));
test('real peer: video only', () => checkCase('video-only', VARIANTS.videoOnly, false));
test('real peer: audio only', () => checkCase('audio-only', VARIANTS.audioOnly, false));
test('real peer: 1080p', () => checkCase('hd1080', VARIANTS.hd1080, false));
test('real peer: long GOP (keyint 150, 2 s target) is reported', () => checkCase('long-gop', VARIANTS.longGop, true));
