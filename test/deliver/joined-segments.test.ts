import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { JoinedSegments } from '../../src/deliver/http/joined-segments.js';
import type { StoredPart, StoredSegment } from '../../src/deliver/store/segment-store.js';

function part(index: number, size: number, msn: number): StoredPart {
  return { generation: 'g', index, duration: 0.2, independent: index === 0, bytes: new Uint8Array(size).fill((msn * 16 + index) & 0xff) };
}

function segment(msn: number, partSizes: number[], bytes: Uint8Array | null = null): StoredSegment {
  const parts = partSizes.map((size, index) => part(index, size, msn));
  const byteLength = bytes?.byteLength ?? partSizes.reduce((sum, size) => sum + size, 0);
  return { generation: 'g', msn, duration: 2, baseMediaDecodeTime: 0, startPts: 0, programDateTime: 0, discontinuity: false, initVersion: 0, parts, bytes, byteLength };
}

const concat = (s: StoredSegment): Buffer => Buffer.concat(s.parts.map((p) => p.bytes!));

describe('joined segments', () => {
  it('serves parts the first time, one joined copy from the second on, the same bytes', () => {
    const joined = new JoinedSegments(1000);
    const s = segment(1, [100, 200, 50]);
    const first = joined.body(s);
    assert.ok(Array.isArray(first), 'pieces the first time');
    assert.equal((first as readonly Uint8Array[])[1], s.parts[1]!.bytes, 'views of the parts, not copies');
    const second = joined.body(s);
    assert.ok(second instanceof Uint8Array);
    assert.ok(Buffer.from(second).equals(concat(s)));
    assert.notEqual(second.buffer, s.parts[0]!.bytes!.buffer, 'memory of its own');
    assert.equal(joined.body(s), second, 'joined once');
    assert.equal(joined.bytes, 350);
  });

  it('keeps at most maxBytes, the oldest joined dropped first', () => {
    const joined = new JoinedSegments(700);
    const segments = [segment(1, [150, 150]), segment(2, [150, 150]), segment(3, [150, 150])];
    for (const s of segments) {
      joined.body(s);
      joined.body(s);
    }
    assert.equal(joined.bytes, 600);
    assert.ok(Array.isArray(joined.body(segments[0]!)), 'the oldest went; asked again, it is pieces first');
    assert.ok(joined.body(segments[2]!) instanceof Uint8Array, 'the newest stays');
  });

  it('leaves alone a segment with bytes of its own, of one part, or larger than the bound', () => {
    const joined = new JoinedSegments(500);
    const own = new Uint8Array(10);
    const withBytes = segment(1, [], own);
    const onePart = segment(2, [100]);
    const large = segment(3, [300, 300]);
    for (let i = 0; i < 2; i++) {
      assert.equal(joined.body(withBytes), own);
      assert.equal((joined.body(onePart) as readonly Uint8Array[])[0], onePart.parts[0]!.bytes);
      assert.ok(Array.isArray(joined.body(large)));
    }
    assert.equal(joined.bytes, 0);
  });
});
