import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { NovaError } from '../../src/errors.js';
import { parseFlvVideoTag, createFlvVideoPacket } from '../../src/demux/flv/flv-video-tag.js';
import { FLV_TAG_SCRIPT, FLV_TAG_VIDEO, flvAvcTag, flvFileHeader, flvTag } from '../../src/transcode/flv-writer.js';
import { FlvReader } from '../../src/transcode/flv-reader.js';

const FIXTURE = new URL('../fixtures/transcode/ffmpeg-64x64-5frames.flv', import.meta.url);
const PACKETS = new URL('../fixtures/transcode/ffmpeg-64x64-5frames.packets.json', import.meta.url);

interface Tag {
  type: number;
  timestamp: number;
  body: Uint8Array;
}

function collect(chunks: Iterable<Uint8Array>): Tag[] {
  const tags: Tag[] = [];
  const reader = new FlvReader({ tag: (type, timestamp, body) => tags.push({ type, timestamp, body: body.slice() }) });
  for (const chunk of chunks) reader.push(chunk);
  return tags;
}

interface Packet {
  dts: number;
  pts: number;
  size: number;
  keyframe: boolean;
}

function videoPackets(tags: Tag[]): Packet[] {
  const packet = createFlvVideoPacket();
  const out: Packet[] = [];
  for (const tag of tags) {
    if (tag.type !== FLV_TAG_VIDEO) continue;
    parseFlvVideoTag(tag.body, packet);
    if (packet.kind !== 'nalu') continue;
    out.push({ dts: tag.timestamp, pts: tag.timestamp + packet.compositionTime, size: packet.payload.length, keyframe: packet.keyframe });
  }
  return out;
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Uint8Array[] = [];
  let last = 0;
  for (const p of points) {
    chunks.push(bytes.subarray(last, p));
    last = p;
  }
  chunks.push(bytes.subarray(last));
  return chunks;
}

test('golden: FFmpeg FLV output reads to the packets ffprobe lists', () => {
  const file = new Uint8Array(readFileSync(FIXTURE));
  const expected = JSON.parse(readFileSync(PACKETS, 'utf8')) as Packet[];
  const tags = collect([file]);
  assert.equal(tags[0].type, FLV_TAG_SCRIPT);
  assert.deepEqual(videoPackets(tags), expected);
});

test('a real peer: ffprobe agrees on the fixture right now', async () => {
  const { stdout } = await promisify(execFile)('ffprobe', ['-v', 'error', '-show_entries', 'packet=pts,dts,size,flags', '-of', 'json', FIXTURE.pathname]);
  const packets = (JSON.parse(stdout) as { packets: Array<{ pts: string; dts: string; size: string; flags: string }> }).packets;
  const tags = collect([new Uint8Array(readFileSync(FIXTURE))]);
  assert.deepEqual(
    videoPackets(tags),
    packets.map((p) => ({ dts: Number(p.dts), pts: Number(p.pts), size: Number(p.size), keyframe: p.flags.startsWith('K') })),
  );
});

test('byte-at-a-time and every split give the same tags as one push', () => {
  const file = new Uint8Array(readFileSync(FIXTURE));
  const whole = collect([file]);
  const single = collect(Array.from(file, (_, i) => file.subarray(i, i + 1)));
  assert.deepEqual(single, whole);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
      assert.deepEqual(collect(splitAt(file, cuts)), whole);
    }),
    { numRuns: 200 },
  );
});

test('the writer re-encodes what the reader decodes, byte for byte', () => {
  const file = new Uint8Array(readFileSync(FIXTURE));
  // FFmpeg writes a 13-byte header with audio+video flags clear except video (0x01).
  const tags = collect([file]);
  const rebuilt = [flvFileHeader(true, false), ...tags.map((t) => flvTag(t.type, t.timestamp, t.body))];
  assert.deepEqual(Buffer.concat(rebuilt), Buffer.from(file));
});

test('flvAvcTag writes what parseFlvVideoTag reads (negative composition time, extended timestamp)', () => {
  const payload = new Uint8Array([0, 0, 0, 2, 0x65, 0x88]);
  const bytes = Buffer.concat([flvFileHeader(true, false), flvAvcTag(1, true, 0x1234_5678, -33, payload)]);
  const tags = collect([bytes]);
  assert.equal(tags.length, 1);
  assert.equal(tags[0].timestamp, 0x1234_5678);
  const packet = parseFlvVideoTag(tags[0].body, createFlvVideoPacket());
  assert.equal(packet.kind, 'nalu');
  assert.equal(packet.keyframe, true);
  assert.equal(packet.compositionTime, -33);
  assert.deepEqual([...packet.payload], [...payload]);
});

test('property: generated tags survive write → arbitrary split → read', () => {
  const tagArb = fc.record({
    type: fc.constantFrom(8, 9, 18),
    timestamp: fc.integer({ min: 0, max: 0xffffffff }),
    body: fc.uint8Array({ maxLength: 300 }),
  });
  fc.assert(
    fc.property(fc.array(tagArb, { maxLength: 10 }), fc.array(fc.nat(), { maxLength: 10 }), (tags, cuts) => {
      const bytes = Buffer.concat([flvFileHeader(true, true), ...tags.map((t) => flvTag(t.type, t.timestamp, t.body))]);
      const decoded = collect(splitAt(bytes, cuts));
      assert.deepEqual(decoded.map((t) => ({ ...t, body: [...t.body] })), tags.map((t) => ({ ...t, body: [...t.body] })));
    }),
  );
});

test('property: any bytes either decode or raise NovaError; what decodes re-encodes', () => {
  fc.assert(
    fc.property(fc.boolean(), fc.uint8Array({ maxLength: 200 }), (withHeader, tail) => {
      const bytes = withHeader ? Buffer.concat([flvFileHeader(true, false), tail]) : Buffer.from(tail);
      const tags: Tag[] = [];
      const reader = new FlvReader({ tag: (type, timestamp, body) => tags.push({ type, timestamp, body: body.slice() }) });
      try {
        reader.push(bytes);
      } catch (err) {
        assert.ok(err instanceof NovaError, String(err));
        assert.equal(err.code, 'NOVA_ERR_FLV');
        assert.throws(() => reader.push(new Uint8Array(1)), NovaError, 'a failed reader stays failed');
        return;
      }
      if (!withHeader || bytes[4] !== 0x01 || bytes[8] !== 9) return;
      const rebuilt = Buffer.concat([flvFileHeader(true, false), ...tags.map((t) => flvTag(t.type, t.timestamp, t.body))]);
      assert.deepEqual(rebuilt, bytes.subarray(0, rebuilt.length), 'decoded tags re-encode to the bytes consumed');
    }),
    { numRuns: 2000 },
  );
});

test('malformed input is refused with NOVA_ERR_FLV', () => {
  const header = flvFileHeader(true, false);
  const cases: Array<[string, Uint8Array]> = [
    ['signature', Buffer.from('FLX\x01\x01\x00\x00\x00\x09\x00\x00\x00\x00')],
    ['version', Buffer.from([0x46, 0x4c, 0x56, 2, 1, 0, 0, 0, 9, 0, 0, 0, 0])],
    ['previous tag size', Buffer.concat([header.subarray(0, 9), Buffer.from([0, 0, 0, 7])])],
    ['stream id', Buffer.concat([header, Buffer.from([9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1])])],
    ['encrypted', Buffer.concat([header, Buffer.from([0x29, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])])],
  ];
  for (const [name, bytes] of cases) {
    assert.throws(() => collect([bytes]), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_FLV', name);
  }
});
