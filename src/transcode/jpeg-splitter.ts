import { NovaError } from '../errors.js';

/** A thumbnail is a few tens of KiB; anything this big without an end is not one. */
export const MAX_JPEG_BYTES = 4 * 1024 * 1024;

const SOI = 0xd8;
const EOI = 0xd9;
const SOS = 0xda;

/**
 * Cuts FFmpeg's image2pipe MJPEG output (JPEGs back to back, in chunks of any
 * size) into whole JPEG files. It walks the marker segments by their lengths
 * (tables may hold any byte), and in entropy-coded data a 0xFF is followed by
 * 0x00 (stuffing) or a restart marker, so the first other marker after SOS
 * ends the scan: EOI ends the image. Runs once per thumbnail, off the frame path.
 */
export class JpegSplitter {
  private buffer: Buffer = Buffer.alloc(0);
  /** where the marker walk of the current image has got to (resumed when more bytes come) */
  private position = 0;
  /** inside entropy-coded data (after SOS) */
  private inScan = false;

  /** onJpeg gets each image in a buffer of its own (it may be transferred to another thread) */
  constructor(private readonly onJpeg: (jpeg: Uint8Array) => void) {}

  /** Throws NOVA_ERR_INTERNAL for bytes that are not JPEGs (the caller stops the process that wrote them). */
  push(chunk: Buffer): void {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    for (;;) {
      const end = this.scan();
      if (end < 0) break;
      // a copy into an ArrayBuffer of its own: the rest of the buffer is the next image's start
      this.onJpeg(new Uint8Array(this.buffer.subarray(0, end)));
      this.buffer = this.buffer.subarray(end);
      this.position = 0;
      this.inScan = false;
    }
    if (this.buffer.length > MAX_JPEG_BYTES) throw new NovaError('NOVA_ERR_INTERNAL', `thumbnail output: no JPEG end within ${MAX_JPEG_BYTES} bytes`);
  }

  /** The end offset of the first whole JPEG in the buffer, or -1 until it is all here. */
  private scan(): number {
    const b = this.buffer;
    if (this.position === 0) {
      if (b.length < 2) return -1;
      if (b[0] !== 0xff || b[1] !== SOI) throw new NovaError('NOVA_ERR_INTERNAL', 'thumbnail output: not a JPEG (no SOI)');
      this.position = 2;
    }
    let at = this.position;
    while (at + 1 < b.length) {
      if (this.inScan) {
        if (b[at] !== 0xff) {
          at++;
          continue;
        }
        const next = b[at + 1]!;
        if (next === 0x00 || (next >= 0xd0 && next <= 0xd7) || next === 0xff) {
          at += next === 0xff ? 1 : 2;
          continue;
        }
        this.inScan = false;
        continue;
      }
      if (b[at] !== 0xff) throw new NovaError('NOVA_ERR_INTERNAL', 'thumbnail output: corrupt JPEG marker');
      const marker = b[at + 1]!;
      if (marker === 0xff) {
        at++; // fill byte
        continue;
      }
      if (marker === EOI) return at + 2;
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {
        at += 2;
        continue;
      }
      if (at + 3 >= b.length) break;
      const length = b.readUInt16BE(at + 2);
      if (length < 2) throw new NovaError('NOVA_ERR_INTERNAL', 'thumbnail output: corrupt JPEG segment length');
      if (at + 2 + length > b.length) break;
      at += 2 + length;
      if (marker === SOS) this.inScan = true;
    }
    this.position = at;
    return -1;
  }
}
