import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isNovaError } from '../../../src/errors.js';
import { ChunkReader } from '../../../src/ingest/rtmp/chunk-reader.js';
import { ChunkWriter } from '../../../src/ingest/rtmp/chunk-writer.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const fillHex = (length: number, start = 0): string =>
  Buffer.from(Array.from({ length }, (_, i) => (start + i) & 0xff)).toString('hex');
const fillBytes = (length: number, start = 0): Uint8Array => hex(fillHex(length, start));

interface Message {
  chunkStreamId: number;
  typeId: number;
  streamId: number;
  timestamp: number;
  payload: Uint8Array;
}

interface ChunkCase {
  name: string;
  bytes: Uint8Array;
  decoded: Message[];
  /** the writer's chunk size for the encode direction */
  chunkSize?: number;
  /** header forms our writer never emits (it never starts a message with type 3) */
  decodeOnly?: boolean;
}

const msg = (chunkStreamId: number, typeId: number, streamId: number, timestamp: number, payload: Uint8Array): Message => ({
  chunkStreamId,
  typeId,
  streamId,
  timestamp,
  payload,
});

/** One table drives decode (ChunkReader) and encode (ChunkWriter). */
const cases: ChunkCase[] = [
  {
    name: 'type 0, one chunk, command on csid 3',
    bytes: hex(`03 000000 000005 14 00000000 ${fillHex(5)}`),
    decoded: [msg(3, 20, 0, 0, fillBytes(5))],
  },
  {
    name: 'message stream id is little-endian',
    bytes: hex(`04 000064 000002 08 01000000 aabb`),
    decoded: [msg(4, 8, 1, 100, hex('aabb'))],
  },
  {
    name: 'type 0 → type 1 (new length) → type 2 (same length and type)',
    bytes: hex(`06 000000 000002 09 01000000 0102  46 000021 000003 09 010203  86 000021 040506`),
    decoded: [msg(6, 9, 1, 0, hex('0102')), msg(6, 9, 1, 33, hex('010203')), msg(6, 9, 1, 66, hex('040506'))],
  },
  {
    name: 'message split over chunks of 128 with type-3 continuation',
    bytes: hex(`06 000028 0000c8 09 01000000 ${fillHex(128)} c6 ${fillHex(72, 128)}`),
    decoded: [msg(6, 9, 1, 40, fillBytes(200))],
  },
  {
    name: 'extended timestamp on type 0, repeated on type-3 continuations',
    bytes: hex(`06 ffffff 000004 09 01000000 01000000 aabb c6 01000000 ccdd`),
    decoded: [msg(6, 9, 1, 0x01000000, hex('aabbccdd'))],
    chunkSize: 2,
  },
  {
    name: 'extended timestamp delta on type 1',
    bytes: hex(`06 000010 000001 09 01000000 aa  46 ffffff 000002 09 01000000 bbcc`),
    decoded: [msg(6, 9, 1, 16, hex('aa')), msg(6, 9, 1, 16 + 0x01000000, hex('bbcc'))],
  },
  {
    name: 'two-byte basic header (csid 64..319)',
    bytes: hex(`00 00 000000 000001 12 01000000 ff  00 c0 000000 000001 12 01000000 ee`),
    decoded: [msg(64, 18, 1, 0, hex('ff')), msg(256, 18, 1, 0, hex('ee'))],
  },
  {
    name: 'three-byte basic header (csid 320+)',
    bytes: hex(`01 0001 000000 000001 12 01000000 ff`),
    decoded: [msg(320, 18, 1, 0, hex('ff'))],
  },
  {
    name: 'zero-length message',
    bytes: hex(`03 000000 000000 14 00000000`),
    decoded: [msg(3, 20, 0, 0, new Uint8Array(0))],
  },
  {
    name: 'timestamps wrap modulo 2^32',
    bytes: hex(`06 ffffff 000001 09 01000000 fffffff0 aa  46 000020 000001 08 bb`),
    decoded: [msg(6, 9, 1, 0xfffffff0, hex('aa')), msg(6, 8, 1, 0x10, hex('bb'))],
    decodeOnly: true, // our writer restarts with type 0 when time goes backwards
  },
  {
    name: 'type 3 starting a message reapplies the type-2 delta',
    bytes: hex(`04 000000 000001 08 01000000 aa  84 000017 bb  c4 cc  c4 dd`),
    decoded: [msg(4, 8, 1, 0, hex('aa')), msg(4, 8, 1, 23, hex('bb')), msg(4, 8, 1, 46, hex('cc')), msg(4, 8, 1, 69, hex('dd'))],
    decodeOnly: true,
  },
  {
    name: 'type 3 after type 0 adds the type-0 field (FFmpeg reader/writer semantics)',
    bytes: hex(`04 000017 000001 08 01000000 aa  c4 bb`),
    decoded: [msg(4, 8, 1, 23, hex('aa')), msg(4, 8, 1, 46, hex('bb'))],
    decodeOnly: true,
  },
  {
    name: 'Set Chunk Size is consumed and applies to the next chunk',
    bytes: hex(`02 000000 000004 01 00000000 00000100  06 000000 0000c8 09 01000000 ${fillHex(200)}`),
    decoded: [msg(6, 9, 1, 0, fillBytes(200))],
    decodeOnly: true,
  },
  {
    name: 'Abort discards the partial message of a chunk stream',
    bytes: hex(`06 000000 0000c8 09 01000000 ${fillHex(128)}  02 000000 000004 02 00000000 00000006  06 000005 000001 09 01000000 77`),
    decoded: [msg(6, 9, 1, 5, hex('77'))],
    decodeOnly: true,
  },
];

function decodeAll(bytes: Uint8Array, splits: 'whole' | 'bytewise' | number[], chunkSize?: number): Message[] {
  const out: Message[] = [];
  // A message does not carry its chunk stream id; that half of the table is checked by the encode direction.
  const reader = new ChunkReader(
    (typeId, streamId, timestamp, payload) => out.push(msg(0, typeId, streamId, timestamp, payload.slice())),
    { maxMessageBytes: 1 << 20, maxChunkSize: 1 << 16 },
  );
  if (chunkSize !== undefined) reader.push(hex(`02 000000 000004 01 00000000 ${chunkSize.toString(16).padStart(8, '0')}`));
  if (splits === 'whole') reader.push(bytes);
  else if (splits === 'bytewise') for (let i = 0; i < bytes.length; i++) reader.push(bytes.subarray(i, i + 1));
  else {
    let start = 0;
    for (const at of [...splits, bytes.length]) {
      reader.push(bytes.subarray(start, at));
      start = at;
    }
  }
  return out;
}

const withoutChunkStream = (messages: Message[]): Message[] => messages.map((m) => ({ ...m, chunkStreamId: 0 }));

describe('chunk golden table', () => {
  for (const c of cases) {
    it(`decodes ${c.name} (whole, byte by byte, split)`, () => {
      const expected = withoutChunkStream(c.decoded);
      assert.deepEqual(decodeAll(c.bytes, 'whole', c.chunkSize), expected);
      assert.deepEqual(decodeAll(c.bytes, 'bytewise', c.chunkSize), expected);
      const third = Math.floor(c.bytes.length / 3);
      assert.deepEqual(decodeAll(c.bytes, [third, 2 * third], c.chunkSize), expected);
    });
    if (!c.decodeOnly) {
      it(`encodes ${c.name}`, () => {
        const writer = new ChunkWriter();
        writer.setChunkSize(c.chunkSize ?? 128);
        const parts = c.decoded.map((m) => writer.writeMessage(m.chunkStreamId, m.typeId, m.streamId, m.timestamp, m.payload));
        assert.equal(Buffer.concat(parts).toString('hex'), Buffer.from(c.bytes).toString('hex'));
      });
    }
  }

  it('delivers a single-chunk message as a view of the pushed bytes (no copy)', () => {
    const bytes = hex(`03 000000 000005 14 00000000 ${fillHex(5)}`);
    let seen: Uint8Array | null = null;
    new ChunkReader((_t, _s, _ts, payload) => (seen = payload), { maxMessageBytes: 1024, maxChunkSize: 1024 }).push(bytes);
    assert.ok(seen !== null);
    assert.equal((seen as Uint8Array).buffer, bytes.buffer);
  });

  it('round-trips large messages through writer and reader at several chunk sizes', () => {
    for (const size of [1, 7, 128, 4096, 60000]) {
      const writer = new ChunkWriter();
      writer.setChunkSize(size);
      const out: Uint8Array[] = [];
      const reader = new ChunkReader((_t, _s, _ts, payload) => out.push(payload.slice()), { maxMessageBytes: 1 << 20, maxChunkSize: 1 << 16 });
      // the reader learns the chunk size the way a peer would
      const setChunkSize = new ChunkWriter().writeMessage(2, 1, 0, 0, hex(size.toString(16).padStart(8, '0')));
      reader.push(setChunkSize);
      const payloads = [fillBytes(10), fillBytes(70_000, 3), fillBytes(0), fillBytes(4097, 9)];
      let ts = 0;
      for (const p of payloads) reader.push(writer.writeMessage(6, 9, 1, (ts += 0x800000), p));
      assert.deepEqual(out.map((b) => Buffer.from(b).toString('hex')), payloads.map((b) => Buffer.from(b).toString('hex')));
    }
  });
});

describe('chunk reader limits and malformed input', () => {
  const limits = { maxMessageBytes: 4096, maxChunkSize: 65536 };
  const expectCode = (bytes: Uint8Array, code: string, pattern?: RegExp): void => {
    const reader = new ChunkReader(() => undefined, limits);
    assert.throws(
      () => reader.push(bytes),
      (err: unknown) => isNovaError(err) && err.code === code && (pattern === undefined || pattern.test(err.message)),
    );
  };

  it('rejects Set Chunk Size 0', () => expectCode(hex('02 000000 000004 01 00000000 00000000'), 'NOVA_ERR_RTMP_CHUNK', /Set Chunk Size 0/));
  it('rejects Set Chunk Size 2^31', () => expectCode(hex('02 000000 000004 01 00000000 80000000'), 'NOVA_ERR_RTMP_CHUNK'));
  it('rejects Set Chunk Size above maxChunkSize', () => expectCode(hex('02 000000 000004 01 00000000 00010001'), 'NOVA_ERR_RTMP_CHUNK'));
  it('rejects a message longer than maxMessageBytes from its header alone', () =>
    expectCode(hex('06 000000 001001 09 01000000'), 'NOVA_ERR_RTMP_LIMIT'));
  it('rejects a type-1 header on an unknown chunk stream', () => expectCode(hex('47 000000 000001 09'), 'NOVA_ERR_RTMP_CHUNK', /unknown chunk stream 7/));
  it('rejects a type-3 header on an unknown chunk stream', () => expectCode(hex('c5'), 'NOVA_ERR_RTMP_CHUNK'));
  it('rejects a type-0 header in the middle of a message', () =>
    expectCode(hex(`06 000000 0000c8 09 01000000 ${fillHex(128)} 06 000000 000001 09 01000000 00`), 'NOVA_ERR_RTMP_CHUNK', /middle/));
  it('bounds the number of chunk streams', () => {
    const parts: string[] = [];
    for (let id = 64; id < 64 + 70; id++) parts.push(`00 ${(id - 64).toString(16).padStart(2, '0')} 000000 000001 09 01000000 00`);
    expectCode(hex(parts.join('')), 'NOVA_ERR_RTMP_LIMIT', /chunk streams/);
  });
  it('bounds memory held by partial messages across chunk streams', () => {
    // three chunk streams each holding a partial 4096-byte message: more than 2 × maxMessageBytes
    const parts: string[] = [];
    for (const id of [4, 5, 6]) parts.push(`${id.toString(16).padStart(2, '0')} 000000 001000 09 01000000 ${fillHex(128)}`);
    const reader = new ChunkReader(() => undefined, limits);
    assert.throws(() => reader.push(hex(parts.join(''))), (err: unknown) => isNovaError(err) && err.code === 'NOVA_ERR_RTMP_LIMIT');
    assert.ok(reader.bufferedBytes <= 2 * limits.maxMessageBytes);
  });
});
