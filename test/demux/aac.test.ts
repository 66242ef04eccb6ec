import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { NovaError } from '../../src/errors.js';
import {
  ADTS_HEADER_LENGTH,
  encodeAudioSpecificConfig,
  parseAudioSpecificConfig,
  writeAdtsHeader,
} from '../../src/demux/aac/audio-specific-config.js';
import { codecConfigs, fromHex } from './support/fixtures.js';
import { readFlvFile } from './support/flv-file.js';

for (const fixture of codecConfigs.audio) {
  test(`ASC from FFmpeg: ${fixture.name}`, () => {
    const info = parseAudioSpecificConfig(fromHex(fixture.asc));
    assert.equal(fixture.expected.profile, 'LC');
    assert.equal(info.objectType, 2);
    assert.equal(info.codecString, 'mp4a.40.2');
    assert.equal(info.sampleRate, fixture.expected.sampleRate);
    assert.equal(info.channels, fixture.expected.channels);
  });
}

// Hand-built (FFmpeg 5.1's native encoder has no HE-AAC or escape types): bits noted per field.
const handBuilt: { name: string; bytes: string; decoded: Partial<ReturnType<typeof parseAudioSpecificConfig>> }[] = [
  {
    // 00101 (SBR) 0110 (24000) 0010 (stereo) 0011 (ext 48000) 00010 (core LC) 000
    name: 'HE-AAC explicit hierarchical 24k core / 48k output stereo',
    bytes: '2b118800',
    decoded: { objectType: 5, coreObjectType: 2, sampleRate: 24000, outputSampleRate: 48000, channels: 2, codecString: 'mp4a.40.5' },
  },
  {
    // 11101 (PS) 0110 (24000) 0001 (mono) 0011 (48000) 00010 (LC) 000
    name: 'HE-AACv2 (PS) explicit',
    bytes: 'eb098800',
    decoded: { objectType: 29, coreObjectType: 2, sampleRate: 24000, outputSampleRate: 48000, channels: 1, codecString: 'mp4a.40.29' },
  },
  {
    // 11111 000010 (escape: 32 + 2 = 34) 0100 (44100) 0010 (stereo) 000 → object type 34 (Layer-3)
    name: 'escaped object type 34',
    bytes: 'f84840',
    decoded: { objectType: 34, sampleRate: 44100, channels: 2, codecString: 'mp4a.40.34' },
  },
  {
    // 00010 1111 <24-bit 0x00ac44 = 44100> 0001 (mono) 000
    name: 'explicit 24-bit sample rate',
    bytes: '1780562208',
    decoded: { objectType: 2, sampleRate: 44100, sampleRateIndex: 15, channels: 1 },
  },
  {
    // 00010 0011 0111 (7.1) 000
    name: 'channel configuration 7 means 8 channels',
    bytes: '11b8',
    decoded: { objectType: 2, sampleRate: 48000, channelConfiguration: 7, channels: 8 },
  },
];
for (const c of handBuilt) {
  test(`ASC hand-built: ${c.name}`, () => {
    const info = parseAudioSpecificConfig(fromHex(c.bytes));
    for (const [key, value] of Object.entries(c.decoded)) {
      assert.equal(info[key as keyof typeof info], value, key);
    }
    const again = parseAudioSpecificConfig(encodeAudioSpecificConfig(info));
    assert.deepEqual(again, info);
  });
}

test('malformed ASCs raise NOVA_ERR_CODEC', () => {
  for (const hex of ['', '12', '00000000', '17', '1780', '1690', '127f', '2b1f8800', '2b110000']) {
    assert.throws(
      () => parseAudioSpecificConfig(fromHex(hex)),
      (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CODEC',
      hex,
    );
  }
});

test('property: any bytes → ASC info or NOVA_ERR_CODEC; what decodes re-encodes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 12 }), (bytes) => {
      let info;
      try {
        info = parseAudioSpecificConfig(bytes);
      } catch (err) {
        if (err instanceof NovaError && err.code === 'NOVA_ERR_CODEC') return;
        throw err;
      }
      assert.deepEqual(parseAudioSpecificConfig(encodeAudioSpecificConfig(info)), info);
    }),
    { numRuns: 20000 },
  );
});

test('ADTS header fields', () => {
  const info = parseAudioSpecificConfig(fromHex('1210')); // LC 44100 stereo
  const out = new Uint8Array(10);
  writeAdtsHeader(out, 2, info, 371);
  assert.deepEqual([...out.subarray(2, 9)], [0xff, 0xf1, 0x50, 0x80, 0x2f, 0x5f, 0xfc]);
  assert.equal(ADTS_HEADER_LENGTH, 7);
  const he = parseAudioSpecificConfig(fromHex('2b118800'));
  writeAdtsHeader(out, 0, he, 100);
  assert.equal(out[2] >> 6, 1, 'HE-AAC is carried as its LC core in ADTS');
  assert.equal((out[2] >> 2) & 0xf, 6, 'at the core sample rate');
  assert.throws(() => writeAdtsHeader(out, 0, info, 8190), (err: unknown) => err instanceof NovaError);
  assert.throws(() => writeAdtsHeader(out, 4, info, 10), (err: unknown) => err instanceof NovaError);
});

test('ADTS stream built from FLV raw frames is byte-identical to FFmpeg -f adts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nova-adts-'));
  try {
    for (const [rate, channels] of [
      [44100, 2],
      [48000, 1],
      [48000, 6],
    ]) {
      const flv = join(dir, `a-${rate}-${channels}.flv`);
      const adts = join(dir, `a-${rate}-${channels}.aac`);
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'sine=frequency=440', '-t', '1', '-ar', String(rate), '-ac', String(channels), '-c:a', 'aac', '-f', 'flv', flv]);
      execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-i', flv, '-c:a', 'copy', '-f', 'adts', adts]);
      const tags = readFlvFile(readFileSync(flv)).filter((t) => t.type === 8);
      const info = parseAudioSpecificConfig(tags.find((t) => t.body[1] === 0)!.body.subarray(2));
      const frames = tags.filter((t) => t.body[1] === 1).map((t) => t.body.subarray(2));
      const ours = new Uint8Array(frames.reduce((n, f) => n + ADTS_HEADER_LENGTH + f.length, 0));
      let offset = 0;
      for (const frame of frames) {
        writeAdtsHeader(ours, offset, info, frame.length);
        ours.set(frame, offset + ADTS_HEADER_LENGTH);
        offset += ADTS_HEADER_LENGTH + frame.length;
      }
      const theirs = new Uint8Array(readFileSync(adts));
      assert.ok(frames.length > 20);
      assert.equal(ours.length, theirs.length);
      assert.ok(Buffer.from(ours).equals(Buffer.from(theirs)), `${rate} Hz ${channels} ch differs from FFmpeg`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
