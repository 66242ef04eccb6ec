/**
 * Producer side of the cross-thread ByteRing test: writes `totalBytes` of
 * random records, each [sequence u32][crc32 of the payload u32][payload],
 * then closes the ring.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { xorshift32 } from '../support/xorshift.js';
import { randomFillSync } from 'node:crypto';
import { crc32 } from 'node:zlib';
import { ByteRing } from '../../src/stream/byte-ring.js';

interface ProducerData {
  buffer: SharedArrayBuffer;
  totalBytes: number;
  maxPayload: number;
}

const { buffer, totalBytes, maxPayload } = workerData as ProducerData;
const ring = ByteRing.attach(buffer);
const pool = randomFillSync(new Uint8Array(8 << 20));
const header = new Uint8Array(8);
const headerView = new DataView(header.buffer);

let sequence = 0;
let written = 0;
let fullWaits = 0;
const nextRandom = xorshift32(0x9e3779b9);

while (written < totalBytes) {
  // mostly small records, some large, some empty: exercises splits at the wrap
  const roll = nextRandom() % 100;
  const length = roll < 5 ? 0 : roll < 80 ? nextRandom() % 2048 : nextRandom() % maxPayload;
  const offset = nextRandom() % (pool.length - length);
  const payload = pool.subarray(offset, offset + length);
  headerView.setUint32(0, sequence, true);
  headerView.setUint32(4, crc32(payload), true);
  while (!ring.tryWrite(header, payload)) {
    fullWaits++;
    ring.notify();
    await ring.waitForSpace(header.length + payload.length, 1000);
  }
  sequence++;
  written += length + 8;
  if ((sequence & 63) === 0) ring.notify();
}
ring.close();
parentPort?.postMessage({ records: sequence, bytes: written, fullWaits });
