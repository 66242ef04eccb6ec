import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PartArenaReader, mediaMessageOf, mediaTransferList } from '../../src/package/media-message.js';
import type { PackagedPart } from '../../src/package/packaged-media.js';
import { PartArena, PartArenaPool, PartArenaWriter } from '../../src/stream/part-arena.js';
import { fillPattern, patternMismatch } from '../stream/part-arena-pattern.js';

test('writer and reader: parts travel as regions, a full arena is replaced by a larger one, past the limit parts get their own buffer', () => {
  const announced: SharedArrayBuffer[] = [];
  const errors: string[] = [];
  const writer = new PartArenaWriter({ initialBytes: 100, maxBytes: 200, retainMs: 20_000 }, (buffer) => announced.push(buffer), new PartArenaPool(4));
  const reader = new PartArenaReader((reason) => errors.push(reason));
  const send = (size: number, sequence: number): { bytes: Uint8Array; inArena: boolean; transferred: boolean } => {
    const bytes = writer.allocate(size);
    fillPattern(bytes, sequence);
    const part: PackagedPart = { kind: 'part', rendition: 'source', track: 'video', msn: 0, part: { index: sequence, duration: 0.2, independent: true }, bytes };
    const message = mediaMessageOf(writer, part);
    const transferred = mediaTransferList(message) !== undefined;
    // what the consumer does with the port's messages, in order
    while (announced.length > 0) reader.attach(announced.shift()!);
    const received = reader.received(structuredClone(message), true)!;
    assert.equal(patternMismatch(received.bytes, sequence), -1);
    return { bytes: received.bytes, inArena: message.arenaPosition !== undefined, transferred };
  };
  const first = send(60, 1);
  assert.ok(first.inArena && !first.transferred);
  const second = send(60, 2); // does not fit the 100-byte arena: a 200-byte one replaces it
  assert.ok(second.inArena);
  assert.notEqual(second.bytes.buffer, first.bytes.buffer);
  send(120, 3);
  const own = send(120, 4); // no room, and 400 > maxBytes: a buffer of its own, transferred
  assert.ok(!own.inArena && own.transferred);
  assert.equal(writer.fallbacks, 1);
  assert.equal(patternMismatch(first.bytes, 1), -1, 'nothing held was overwritten');
  writer.close();
  assert.ok(!send(10, 5).inArena, 'after close: buffers of their own');
  assert.deepEqual(errors, []);
});

test('reader: a region it cannot take is reported and the part dropped, not thrown', () => {
  const errors: string[] = [];
  const reader = new PartArenaReader((reason) => errors.push(reason));
  const media: PackagedPart = { kind: 'part', rendition: 'source', track: 'video', msn: 0, part: { index: 0, duration: 0.2, independent: true }, bytes: new Uint8Array(0) };
  assert.equal(reader.received({ media, arenaPosition: 0, arenaLength: 10 }, true), null);
  reader.attach(new SharedArrayBuffer(128));
  reader.attach(PartArena.create(64).buffer);
  assert.equal(reader.received({ media, arenaPosition: 60, arenaLength: 10 }, true), null);
  assert.equal(errors.length, 3);
  assert.match(errors[0]!, /no part arena/);
  assert.match(errors[1]!, /bad header/);
  assert.match(errors[2]!, /out of range/);
  assert.equal(reader.received({ media }, true), media, 'a part with bytes of its own passes through');
});

test('reader: media nobody keeps is not returned, and its region is released at once', () => {
  const announced: SharedArrayBuffer[] = [];
  const writer = new PartArenaWriter({ initialBytes: 100, maxBytes: 100, retainMs: 20_000 }, (buffer) => announced.push(buffer), new PartArenaPool(4));
  const reader = new PartArenaReader((reason) => assert.fail(reason));
  const part = (bytes: Uint8Array): PackagedPart => ({ kind: 'part', rendition: 'source', track: 'video', msn: 0, part: { index: 0, duration: 0.2, independent: true }, bytes });
  for (let i = 0; i < 10; i++) {
    // 10 × 60 bytes through a 100-byte arena that cannot grow: only released regions make room
    const message = mediaMessageOf(writer, part(writer.allocate(60)));
    while (announced.length > 0) reader.attach(announced.shift()!);
    assert.ok(message.arenaPosition !== undefined, `part ${i} is in the arena`);
    assert.equal(reader.received(message, false), null);
  }
  assert.equal(writer.fallbacks, 0, 'every region came back');
  assert.equal(reader.received({ media: part(new Uint8Array(8)) }, false), null, 'bytes of its own: not returned either');
});
