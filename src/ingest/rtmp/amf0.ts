/**
 * AMF0 (Action Message Format 0) encode/decode, as RTMP commands and
 * @setDataFrame metadata carry it.
 *
 * The decoder walks by offset over a Uint8Array and is defensive: nesting is
 * bounded, every length is checked against the bytes actually present, and
 * malformed input raises NovaError('NOVA_ERR_RTMP_AMF'). It never allocates
 * more than a small multiple of the input size.
 *
 * ECMA arrays and typed objects decode to plain objects (RTMP peers treat
 * them alike); XML documents decode to strings, "unsupported" to undefined,
 * unrepresentable dates to null.
 * Object references (0x07) and AMF3 switches (0x11) are rejected: no RTMP
 * publisher sends them in the commands we handle.
 */
import { NovaError } from '../../errors.js';

export interface Amf0Object {
  [key: string]: Amf0Value;
}

export type Amf0Value = number | boolean | string | null | undefined | Amf0Object | Amf0Value[] | Date;

export const AMF0_MARKER = {
  number: 0x00,
  boolean: 0x01,
  string: 0x02,
  object: 0x03,
  movieClip: 0x04,
  null: 0x05,
  undefined: 0x06,
  reference: 0x07,
  ecmaArray: 0x08,
  objectEnd: 0x09,
  strictArray: 0x0a,
  date: 0x0b,
  longString: 0x0c,
  unsupported: 0x0d,
  recordSet: 0x0e,
  xmlDocument: 0x0f,
  typedObject: 0x10,
  avmPlus: 0x11,
} as const;

/** Deeper nesting than this is not something an encoder sends; it is an attack on the stack. */
export const AMF0_MAX_DEPTH = 32;

const utf8Decoder = new TextDecoder('utf-8');
const utf8Encoder = new TextEncoder();

function amfError(reason: string): NovaError {
  return new NovaError('NOVA_ERR_RTMP_AMF', reason);
}

/** Sets a key without letting '__proto__' rewrite the prototype. */
function setOwn(target: Amf0Object, key: string, value: Amf0Value): void {
  if (key === '__proto__') {
    Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    target[key] = value;
  }
}

/** Reads AMF0 values one after another from a byte view. */
export class Amf0Reader {
  private readonly bytes: Uint8Array;
  private readonly view: DataView;
  private pos: number;
  private readonly end: number;

  constructor(bytes: Uint8Array, start = 0, end = bytes.length) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.pos = start;
    this.end = end;
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  readValue(): Amf0Value {
    return this.readValueAt(0);
  }

  private need(count: number, what: string): void {
    if (this.end - this.pos < count) {
      throw amfError(`truncated ${what}: need ${count} bytes at offset ${this.pos}, have ${this.end - this.pos}`);
    }
  }

  private readU16(): number {
    this.need(2, 'u16');
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  private readU32(): number {
    this.need(4, 'u32');
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  private readDouble(): number {
    this.need(8, 'number');
    const v = this.view.getFloat64(this.pos);
    this.pos += 8;
    return v;
  }

  private readUtf8(length: number): string {
    this.need(length, 'string');
    const s = utf8Decoder.decode(this.bytes.subarray(this.pos, this.pos + length));
    this.pos += length;
    return s;
  }

  private readValueAt(depth: number): Amf0Value {
    if (depth > AMF0_MAX_DEPTH) throw amfError(`nesting deeper than ${AMF0_MAX_DEPTH}`);
    this.need(1, 'marker');
    const marker = this.bytes[this.pos++];
    switch (marker) {
      case AMF0_MARKER.number:
        return this.readDouble();
      case AMF0_MARKER.boolean:
        this.need(1, 'boolean');
        return this.bytes[this.pos++] !== 0;
      case AMF0_MARKER.string:
        return this.readUtf8(this.readU16());
      case AMF0_MARKER.longString:
      case AMF0_MARKER.xmlDocument:
        return this.readUtf8(this.readU32());
      case AMF0_MARKER.object:
        return this.readProperties(depth);
      case AMF0_MARKER.typedObject:
        this.readUtf8(this.readU16()); // class name: RTMP peers do not need it
        return this.readProperties(depth);
      case AMF0_MARKER.ecmaArray:
        // The count is advisory (encoders get it wrong); the end marker is authoritative.
        this.readU32();
        return this.readProperties(depth);
      case AMF0_MARKER.null:
        return null;
      case AMF0_MARKER.undefined:
      case AMF0_MARKER.unsupported:
        return undefined;
      case AMF0_MARKER.strictArray: {
        const count = this.readU32();
        // Every element takes at least one byte: a count beyond the remaining bytes is a lie.
        if (count > this.end - this.pos) throw amfError(`strict array count ${count} exceeds remaining ${this.end - this.pos} bytes`);
        const out: Amf0Value[] = new Array<Amf0Value>(count);
        for (let i = 0; i < count; i++) out[i] = this.readValueAt(depth + 1);
        return out;
      }
      case AMF0_MARKER.date: {
        const ms = this.readDouble();
        this.readU16(); // time zone: reserved, should be 0
        const date = new Date(ms);
        // An unrepresentable date (NaN, beyond ±8.64e15 ms) is informational junk, not worth a dropped stream.
        return Number.isNaN(date.getTime()) ? null : date;
      }
      case AMF0_MARKER.objectEnd:
        throw amfError(`object end marker outside an object at offset ${this.pos - 1}`);
      default:
        throw amfError(`unsupported AMF0 marker 0x${marker.toString(16)} at offset ${this.pos - 1}`);
    }
  }

  private readProperties(depth: number): Amf0Object {
    const out: Amf0Object = {};
    for (;;) {
      const keyLength = this.readU16();
      if (keyLength === 0) {
        this.need(1, 'object end marker');
        if (this.bytes[this.pos] === AMF0_MARKER.objectEnd) {
          this.pos++;
          return out;
        }
      }
      const key = this.readUtf8(keyLength);
      setOwn(out, key, this.readValueAt(depth + 1));
    }
  }
}

/** Decodes every value in the bytes (an RTMP command is a sequence of AMF0 values). */
export function decodeAmf0(bytes: Uint8Array): Amf0Value[] {
  const reader = new Amf0Reader(bytes);
  const values: Amf0Value[] = [];
  while (reader.remaining > 0) values.push(reader.readValue());
  return values;
}

/**
 * Marks an object to be written as an ECMA array (0x08) rather than an
 * object (0x03): onMetaData is conventionally an ECMA array.
 */
export class Amf0EcmaArray {
  constructor(readonly properties: Amf0Object) {}
}

export type Amf0EncodableValue = Amf0Value | Amf0EcmaArray | Amf0EncodableObject | Amf0EncodableValue[];
export interface Amf0EncodableObject {
  [key: string]: Amf0EncodableValue;
}

/** Growable byte writer for AMF0; reuse one per connection. */
export class Amf0Writer {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialCapacity = 256) {
    this.buf = new Uint8Array(initialCapacity);
    this.view = new DataView(this.buf.buffer);
  }

  reset(): void {
    this.pos = 0;
  }

  get length(): number {
    return this.pos;
  }

  /** A fresh copy of what was written since the last reset. */
  toBytes(): Uint8Array {
    return this.buf.slice(0, this.pos);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let capacity = this.buf.length * 2;
    while (capacity < this.pos + extra) capacity *= 2;
    const next = new Uint8Array(capacity);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  private u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  private u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.pos, v);
    this.pos += 2;
  }

  private u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.pos, v);
    this.pos += 4;
  }

  private double(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, v);
    this.pos += 8;
  }

  private utf8(s: string, lengthBytes: 2 | 4): void {
    const encoded = utf8Encoder.encode(s);
    if (lengthBytes === 2) {
      if (encoded.length > 0xffff) throw amfError(`short string of ${encoded.length} bytes`);
      this.u16(encoded.length);
    } else {
      this.u32(encoded.length);
    }
    this.ensure(encoded.length);
    this.buf.set(encoded, this.pos);
    this.pos += encoded.length;
  }

  private properties(obj: Amf0EncodableObject | Amf0Object, depth: number): void {
    for (const key of Object.keys(obj)) {
      const value = obj[key];
      this.utf8(key, 2);
      this.writeAt(value, depth + 1);
    }
    this.u16(0);
    this.u8(AMF0_MARKER.objectEnd);
  }

  write(value: Amf0EncodableValue): void {
    this.writeAt(value, 0);
  }

  private writeAt(value: Amf0EncodableValue, depth: number): void {
    if (depth > AMF0_MAX_DEPTH) throw amfError(`nesting deeper than ${AMF0_MAX_DEPTH}`);
    if (typeof value === 'number') {
      this.u8(AMF0_MARKER.number);
      this.double(value);
    } else if (typeof value === 'boolean') {
      this.u8(AMF0_MARKER.boolean);
      this.u8(value ? 1 : 0);
    } else if (typeof value === 'string') {
      // Byte length decides the marker; a string of <= 65535 UTF-16 units can still exceed 65535 bytes.
      // (A UTF-16 unit is at most 3 UTF-8 bytes, so short inputs skip the byte count.)
      if (value.length > 0x5555 && Buffer.byteLength(value, 'utf8') > 0xffff) {
        this.u8(AMF0_MARKER.longString);
        this.utf8(value, 4);
      } else {
        this.u8(AMF0_MARKER.string);
        this.utf8(value, 2);
      }
    } else if (value === null) {
      this.u8(AMF0_MARKER.null);
    } else if (value === undefined) {
      this.u8(AMF0_MARKER.undefined);
    } else if (value instanceof Date) {
      this.u8(AMF0_MARKER.date);
      this.double(value.getTime());
      this.u16(0);
    } else if (Array.isArray(value)) {
      this.u8(AMF0_MARKER.strictArray);
      this.u32(value.length);
      for (const item of value) this.writeAt(item, depth + 1);
    } else if (value instanceof Amf0EcmaArray) {
      this.u8(AMF0_MARKER.ecmaArray);
      this.u32(Object.keys(value.properties).length);
      this.properties(value.properties, depth);
    } else {
      this.u8(AMF0_MARKER.object);
      this.properties(value, depth);
    }
  }
}

/** Encodes a sequence of values into a fresh buffer. */
export function encodeAmf0(values: readonly Amf0EncodableValue[]): Uint8Array {
  const writer = new Amf0Writer();
  for (const value of values) writer.write(value);
  return writer.toBytes();
}
