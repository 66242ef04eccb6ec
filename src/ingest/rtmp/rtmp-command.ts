/**
 * RTMP command messages (AMF0 type 20, AMF3 type 17) and data messages
 * (type 18 / 15): decoding the value list and encoding the replies both
 * sides send.
 */
import { NovaError } from '../../errors.js';
import { decodeAmf0, encodeAmf0, type Amf0EncodableValue, type Amf0Value } from './amf0.js';
import { MessageType } from './message-types.js';

export interface RtmpCommand {
  name: string;
  transactionId: number;
  /** the command object (often null) and the optional arguments after it */
  args: Amf0Value[];
}

/** AMF3-typed messages start with a format selector byte; 0 means AMF0 follows. */
function amf0Body(typeId: number, payload: Uint8Array): Uint8Array {
  if (typeId === MessageType.commandAmf3 || typeId === MessageType.dataAmf3) {
    if (payload.length === 0) return payload;
    return payload.subarray(1);
  }
  return payload;
}

export function decodeCommand(typeId: number, payload: Uint8Array): RtmpCommand {
  const values = decodeAmf0(amf0Body(typeId, payload));
  const name = values[0];
  if (typeof name !== 'string') {
    throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `command name is ${describe(name)}, not a string`);
  }
  const transactionId = values[1];
  return {
    name,
    transactionId: typeof transactionId === 'number' ? transactionId : 0,
    args: values.slice(2),
  };
}

export function decodeDataMessage(typeId: number, payload: Uint8Array): Amf0Value[] {
  return decodeAmf0(amf0Body(typeId, payload));
}

export function encodeCommand(name: string, transactionId: number, ...args: Amf0EncodableValue[]): Uint8Array {
  return encodeAmf0([name, transactionId, ...args]);
}

export function describe(value: Amf0Value): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Date) return 'a date';
  return typeof value;
}

/** Values of onMetaData flattened to primitives (nested objects/arrays dropped, dates as epoch ms). */
export function flattenMetadata(value: Amf0Value): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  if (value === null || typeof value !== 'object' || Array.isArray(value) || value instanceof Date) return out;
  for (const key of Object.keys(value)) {
    if (key === '__proto__') continue;
    const v = value[key];
    if (typeof v === 'number' || typeof v === 'string' || typeof v === 'boolean' || v === null) out[key] = v;
    else if (v instanceof Date) out[key] = v.getTime();
  }
  return out;
}
