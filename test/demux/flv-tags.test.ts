import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NovaError } from '../../src/errors.js';
import { createFlvVideoPacket, fourCcToString, parseFlvVideoTag } from '../../src/demux/flv/flv-video-tag.js';
import { createFlvAudioPacket, parseFlvAudioTag } from '../../src/demux/flv/flv-audio-tag.js';
import { fromHex } from './support/fixtures.js';

const videoCases: { name: string; bytes: string; decoded: Record<string, unknown> }[] = [
  {
    name: 'AVC sequence header (keyframe)',
    bytes: '1700000000 0164001effe1',
    decoded: { kind: 'sequence-header', frameType: 1, keyframe: true, codecId: 7, compositionTime: 0, payload: '0164001effe1' },
  },
  {
    name: 'AVC keyframe NALU, cts +67',
    bytes: '1701000043 0000000265',
    decoded: { kind: 'nalu', frameType: 1, keyframe: true, compositionTime: 67, payload: '0000000265' },
  },
  {
    name: 'AVC inter frame, negative cts -33 (SI24)',
    bytes: '2701ffffdf 00000001 41',
    decoded: { kind: 'nalu', frameType: 2, keyframe: false, compositionTime: -33, payload: '0000000141' },
  },
  {
    name: 'AVC largest cts 0x7fffff',
    bytes: '27017fffff',
    decoded: { kind: 'nalu', compositionTime: 0x7fffff, payload: '' },
  },
  { name: 'AVC end of sequence', bytes: '1702000000', decoded: { kind: 'end-of-sequence', payload: '' } },
  { name: 'video command frame', bytes: '5700', decoded: { kind: 'command', frameType: 5 } },
  { name: 'legacy VP6 (codec 4)', bytes: '14aabb', decoded: { kind: 'unsupported', codecId: 4, fourCc: 0 } },
  { name: 'legacy Sorenson H.263 (codec 2)', bytes: '22', decoded: { kind: 'unsupported', codecId: 2 } },
  {
    name: 'enhanced RTMP HEVC sequence start',
    bytes: '90 68766331 0102',
    decoded: { kind: 'unsupported', frameType: 1, keyframe: true, codecId: 0, fourCc: 0x68766331 },
  },
  {
    name: 'enhanced RTMP AV1 coded frames',
    bytes: 'a1 61763031 00',
    decoded: { kind: 'unsupported', frameType: 2, keyframe: false, fourCc: 0x61763031 },
  },
];

for (const c of videoCases) {
  test(`FLV video tag: ${c.name}`, () => {
    const out = createFlvVideoPacket();
    const packet = parseFlvVideoTag(fromHex(c.bytes), out);
    assert.equal(packet, out, 'result goes into the reused object');
    for (const [key, value] of Object.entries(c.decoded)) {
      const actual = packet[key as keyof typeof packet];
      if (key === 'payload') assert.equal(Buffer.from(actual as Uint8Array).toString('hex'), value);
      else assert.equal(actual, value, key);
    }
  });
}

test('FourCC renders as text', () => {
  assert.equal(fourCcToString(0x68766331), 'hvc1');
});

const audioCases: { name: string; bytes: string; decoded: Record<string, unknown> }[] = [
  { name: 'AAC sequence header', bytes: 'af00 1210', decoded: { kind: 'sequence-header', soundFormat: 10, payload: '1210' } },
  { name: 'AAC raw frame', bytes: 'af01 2110', decoded: { kind: 'raw', soundFormat: 10, payload: '2110' } },
  { name: 'MP3', bytes: '2fffe3', decoded: { kind: 'unsupported', soundFormat: 2, fourCc: 0 } },
  { name: 'Speex', bytes: 'b6', decoded: { kind: 'unsupported', soundFormat: 11 } },
  { name: 'enhanced RTMP Opus', bytes: '90 4f707573', decoded: { kind: 'unsupported', soundFormat: 9, fourCc: 0x4f707573 } },
];
for (const c of audioCases) {
  test(`FLV audio tag: ${c.name}`, () => {
    const out = createFlvAudioPacket();
    const packet = parseFlvAudioTag(fromHex(c.bytes), out);
    assert.equal(packet, out);
    for (const [key, value] of Object.entries(c.decoded)) {
      const actual = packet[key as keyof typeof packet];
      if (key === 'payload') assert.equal(Buffer.from(actual as Uint8Array).toString('hex'), value);
      else assert.equal(actual, value, key);
    }
  });
}

test('payload is a view into the tag body, not a copy', () => {
  const body = fromHex('1701000000 65');
  const packet = parseFlvVideoTag(body, createFlvVideoPacket());
  assert.equal(packet.payload.buffer, body.buffer);
  assert.equal(packet.payload.byteOffset, body.byteOffset + 5);
});

test('truncated and unknown tags raise NOVA_ERR_FLV', () => {
  const isFlvError = (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_FLV';
  for (const hex of ['', '17', '170100', '1703000000', '90686576']) {
    assert.throws(() => parseFlvVideoTag(fromHex(hex), createFlvVideoPacket()), isFlvError, hex);
  }
  for (const hex of ['', 'af', 'af02', '9041']) {
    assert.throws(() => parseFlvAudioTag(fromHex(hex), createFlvAudioPacket()), isFlvError, hex);
  }
});

test('property: any bytes → a packet or NOVA_ERR_FLV; fields stay in range', () => {
  const video = createFlvVideoPacket();
  const audio = createFlvAudioPacket();
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 16 }), (bytes) => {
      try {
        const packet = parseFlvVideoTag(bytes, video);
        assert.ok(packet.compositionTime >= -0x800000 && packet.compositionTime <= 0x7fffff);
        assert.ok(packet.payload.length <= Math.max(0, bytes.length - 5));
        assert.equal(packet.keyframe, packet.frameType === 1);
      } catch (err) {
        if (!(err instanceof NovaError && err.code === 'NOVA_ERR_FLV')) throw err;
      }
      try {
        const packet = parseFlvAudioTag(bytes, audio);
        assert.ok(packet.payload.length <= Math.max(0, bytes.length - 2));
      } catch (err) {
        if (!(err instanceof NovaError && err.code === 'NOVA_ERR_FLV')) throw err;
      }
    }),
    { numRuns: 20000 },
  );
});
