import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { isNovaError } from '../../../src/errors.js';
import { ClientBytes, SessionHarness, ffmpegPublishCapture } from './session-harness.js';

const LIMITS = { maxMessageBytes: 64 * 1024, maxChunkSize: 64 * 1024 };
/** reassembly (2 × maxMessageBytes) + one stashed chunk header */
const MEMORY_BOUND = 2 * LIMITS.maxMessageBytes + 18;

/** Pushes the pieces; the only acceptable failure is a NovaError, and memory stays bounded. */
function pushExpectingNovaErrorOnly(pieces: Uint8Array[]): void {
  const h = new SessionHarness(LIMITS);
  try {
    for (const piece of pieces) {
      h.push(piece);
      assert.ok(h.session.bufferedBytes <= MEMORY_BOUND, `buffered ${h.session.bufferedBytes} > ${MEMORY_BOUND}`);
    }
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    assert.ok(isNovaError(err), `non-NovaError thrown: ${err instanceof Error ? err.stack : String(err)}`);
    assert.equal(h.session.state, 'closed');
  }
  assert.ok(h.maxBufferedBytes <= MEMORY_BOUND);
}

function splitAt(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let start = 0;
  for (const p of points) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  out.push(bytes.subarray(start));
  return out;
}

describe('RtmpServerSession properties', () => {
  const handshake = new ClientBytes().handshake().bytes();
  const preamble = new ClientBytes().publishPreamble().bytes();

  it('arbitrary bytes after a valid handshake either proceed or throw NovaError, with bounded memory', () => {
    // Chunk-shaped noise: a plausible basic header byte then random bytes, so the reader goes deep.
    const chunkish = fc
      .array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 40 })), { maxLength: 30 })
      .map((parts) => new Uint8Array(Buffer.concat(parts.map(([b, rest]) => Buffer.from([b & 0xc7, ...rest])))));
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.oneof(fc.uint8Array({ maxLength: 2048 }), chunkish),
        fc.array(fc.nat(), { maxLength: 8 }),
        (afterPublish, noise, cuts) => {
          const prefix = afterPublish ? preamble : handshake;
          pushExpectingNovaErrorOnly([prefix, ...splitAt(noise, cuts)]);
        },
      ),
      { numRuns: 2500 },
    );
  });

  it('mutations of the FFmpeg capture (byte flips, truncations, splits) either proceed or throw NovaError', () => {
    const capture = ffmpegPublishCapture();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 3073, max: capture.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 3073, max: capture.length }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (flips, truncateAt, cuts) => {
          const mutated = capture.slice(0, truncateAt);
          for (const [at, value] of flips) if (at < mutated.length) mutated[at] = value;
          pushExpectingNovaErrorOnly(splitAt(mutated, cuts));
        },
      ),
      { numRuns: 600 },
    );
  });

  it('mutations focused on headers (the first 4 KB after the handshake: commands, first chunks)', () => {
    const capture = ffmpegPublishCapture();
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 3073, max: 3073 + 4096 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 3 }),
        (flips) => {
          const mutated = capture.slice(0, 3073 + 8192);
          for (const [at, value] of flips) mutated[at] = value;
          pushExpectingNovaErrorOnly([mutated]);
        },
      ),
      { numRuns: 1500 },
    );
  });
});
