import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { JpegSplitter } from '../../src/transcode/jpeg-splitter.js';
import { NovaError } from '../../src/errors.js';
import { haveTool, toolGate } from '../support/tools.js';

/** SOI, an APP0 whose payload holds FF D9 (a table may hold any byte), SOS, scan data with stuffing and a restart marker, EOI */
function jpegLike(fill: number): Buffer {
  return Buffer.from([
    0xff, 0xd8,
    0xff, 0xe0, 0x00, 0x06, 0xff, 0xd9, 0x00, fill,
    0xff, 0xda, 0x00, 0x04, 0x01, 0x02,
    fill, 0xff, 0x00, 0x33, 0xff, 0xd0, 0x44, fill,
    0xff, 0xd9,
  ]);
}

function split(stream: Buffer, chunk: number): Buffer[] {
  const out: Buffer[] = [];
  const splitter = new JpegSplitter((jpeg) => out.push(Buffer.from(jpeg)));
  for (let at = 0; at < stream.length; at += chunk) splitter.push(stream.subarray(at, at + chunk));
  return out;
}

test('JPEGs back to back come out whole, however the bytes are chunked', () => {
  const images = [jpegLike(1), jpegLike(2), jpegLike(3)];
  const stream = Buffer.concat(images);
  for (const chunk of [1, 2, 3, 5, 11, stream.length]) assert.deepEqual(split(stream, chunk), images, `chunks of ${chunk}`);
});

test('each image gets an ArrayBuffer of its own (it is transferred to the main thread)', () => {
  const out: Uint8Array[] = [];
  const splitter = new JpegSplitter((jpeg) => out.push(jpeg));
  splitter.push(Buffer.concat([jpegLike(1), jpegLike(2)]));
  assert.equal(out.length, 2);
  for (const jpeg of out) {
    assert.equal(jpeg.byteOffset, 0);
    assert.equal(jpeg.buffer.byteLength, jpeg.byteLength);
  }
});

test('bytes that are not a JPEG are refused with a coded error', () => {
  const splitter = new JpegSplitter(() => assert.fail('no image'));
  assert.throws(() => splitter.push(Buffer.from('not a jpeg')), (err: unknown) => err instanceof NovaError && err.code === 'NOVA_ERR_INTERNAL');
});

test('FFmpeg\'s own image2pipe MJPEG output splits into images that ffprobe reads', toolGate('ffmpeg', haveTool('ffmpeg')), () => {
  const stream = execFileSync('ffmpeg', ['-hide_banner', '-loglevel', 'error', '-f', 'lavfi', '-i', 'testsrc2=size=320x180:rate=5', '-frames:v', '4', '-c:v', 'mjpeg', '-f', 'image2pipe', 'pipe:1']);
  const images = split(stream, 1000);
  assert.equal(images.length, 4);
  assert.equal(Buffer.concat(images).length, stream.length);
  for (const image of images) {
    assert.deepEqual([...image.subarray(0, 2), ...image.subarray(-2)], [0xff, 0xd8, 0xff, 0xd9]);
  }
});
