import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { NovaError } from '../../src/errors.js';
import { encodeAvcConfig, parseAvcConfig } from '../../src/demux/h264/avc-config.js';
import { avcCodecString, parseSps, removeEmulationPrevention } from '../../src/demux/h264/sps.js';
import { codecConfigs, fromHex } from './support/fixtures.js';

const PROFILE_IDC: Record<string, number> = {
  'Constrained Baseline': 66,
  Baseline: 66,
  Main: 77,
  High: 100,
  'High 4:4:4 Predictive': 244,
};

for (const fixture of codecConfigs.video) {
  test(`avcC + SPS from FFmpeg: ${fixture.name}`, () => {
    const avcC = fromHex(fixture.avcC);
    const record = parseAvcConfig(avcC);
    assert.equal(record.nalLengthSize, 4);
    assert.equal(record.sps.length, 1);
    assert.equal(record.pps.length, 1);
    assert.equal(record.profileIdc, PROFILE_IDC[fixture.expected.profile]);
    assert.equal(record.levelIdc, fixture.expected.levelIdc);

    const sps = parseSps(record.sps[0]);
    assert.equal(sps.width, fixture.expected.width);
    assert.equal(sps.height, fixture.expected.height);
    assert.equal(sps.profileIdc, record.profileIdc);
    assert.equal(sps.constraintFlags, record.constraintFlags);
    assert.equal(sps.levelIdc, fixture.expected.levelIdc);
    assert.equal(sps.frameRate, fixture.expected.frameRate);
    assert.equal(avcCodecString(sps.profileIdc, sps.constraintFlags, sps.levelIdc), fixture.expected.codecString);

    // what decodes re-encodes: the minimal record carries the same fields and NAL units
    const again = parseAvcConfig(encodeAvcConfig(record));
    assert.deepEqual(again, { ...record, sps: record.sps.map((n) => n.slice()), pps: record.pps.map((n) => n.slice()) });
  });
}

test('codec string pads each byte to two hex digits', () => {
  assert.equal(avcCodecString(66, 0xc0, 9), 'avc1.42c009');
  assert.equal(avcCodecString(100, 0, 0x28), 'avc1.640028');
});

test('emulation prevention bytes are removed', () => {
  assert.deepEqual(removeEmulationPrevention(fromHex('6700000301000003000003')), fromHex('6700000100000000'));
  const clean = fromHex('67640028');
  assert.equal(removeEmulationPrevention(clean), clean, 'no copy when nothing to remove');
});

const malformed: { name: string; bytes: string; code: string }[] = [
  { name: 'avcC too short', bytes: '0164', code: 'NOVA_ERR_CODEC' },
  { name: 'avcC version 0', bytes: '00640028ffe10000', code: 'NOVA_ERR_CODEC' },
  { name: 'avcC with no SPS', bytes: '01640028ffe000', code: 'NOVA_ERR_CODEC' },
  { name: 'avcC SPS length past the end', bytes: '01640028ffe100ff6764', code: 'NOVA_ERR_CODEC' },
  { name: 'avcC NAL length size 3', bytes: '01640028fee1000167', code: 'NOVA_ERR_CODEC' },
];
for (const c of malformed) {
  test(`malformed: ${c.name}`, () => {
    assert.throws(() => parseAvcConfig(fromHex(c.bytes)), (err: unknown) => err instanceof NovaError && err.code === c.code);
  });
}

test('malformed SPS: wrong NAL type, truncated, absurd size', () => {
  const sps = parseAvcConfig(fromHex(codecConfigs.video[0].avcC)).sps[0];
  const isCodecError = (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CODEC';
  const notSps = sps.slice();
  notSps[0] = 0x68;
  assert.throws(() => parseSps(notSps), isCodecError);
  assert.throws(() => parseSps(sps.subarray(0, 6)), isCodecError);
  // width 0xffffff macroblocks: ue(v) with 24 leading zeros
  assert.throws(() => parseSps(fromHex('6742c00a f8 000001ffffff ff')), isCodecError);
});

test('a truncated VUI costs the frame rate, not the SPS', () => {
  const sps = parseAvcConfig(fromHex(codecConfigs.video[1].avcC)).sps[0];
  // cut inside the timing info: the core fields still decode
  const cut = parseSps(sps.subarray(0, sps.length - 6));
  assert.equal(cut.width, 1280);
  assert.equal(cut.height, 720);
  assert.equal(cut.frameRate, 0);
});

const isOurError = (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_CODEC';

test('property: any bytes → avcC or NOVA_ERR_CODEC; what decodes re-encodes', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      let record;
      try {
        record = parseAvcConfig(bytes);
      } catch (err) {
        if (!isOurError(err)) throw err;
        return;
      }
      const again = parseAvcConfig(encodeAvcConfig(record));
      assert.equal(again.profileIdc, record.profileIdc);
      assert.equal(again.nalLengthSize, record.nalLengthSize);
      assert.deepEqual(again.sps.map((n) => [...n]), record.sps.map((n) => [...n]));
      assert.deepEqual(again.pps.map((n) => [...n]), record.pps.map((n) => [...n]));
    }),
    { numRuns: 5000 },
  );
});

test('property: any SPS-typed bytes → SpsInfo or NOVA_ERR_CODEC', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 1, maxLength: 48 }), (tail) => {
      const nal = new Uint8Array(tail.length + 1);
      nal[0] = 0x67;
      nal.set(tail, 1);
      try {
        const sps = parseSps(nal);
        assert.ok(sps.width > 0 && sps.height > 0 && sps.width <= 16384 && sps.height <= 16384);
        assert.ok(Number.isFinite(sps.frameRate) && sps.frameRate >= 0);
      } catch (err) {
        if (!isOurError(err)) throw err;
      }
    }),
    { numRuns: 20000 },
  );
});

test('property: mutated real SPS → SpsInfo or NOVA_ERR_CODEC', () => {
  const real = codecConfigs.video.map((v) => parseAvcConfig(fromHex(v.avcC)).sps[0]);
  fc.assert(
    fc.property(fc.constantFrom(...real), fc.nat(), fc.integer({ min: 0, max: 255 }), fc.nat(), (sps, at, value, cut) => {
      const nal = sps.slice(0, 1 + (cut % sps.length));
      nal[1 + (at % Math.max(1, nal.length - 1))] = value;
      try {
        parseSps(nal);
      } catch (err) {
        if (!isOurError(err)) throw err;
      }
    }),
    { numRuns: 20000 },
  );
});
