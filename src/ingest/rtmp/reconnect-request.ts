/**
 * Enhanced RTMP v2's Reconnect Request (veovera enhanced-rtmp-v2, "Reconnect Request" and
 * "Enhancing NetConnection connect Command"). A client says it can honour one by setting the
 * Reconnect bit of `capsEx` in its connect command object. The server may then send a
 * NetConnection onStatus: transaction id 0, a null command object, and an info object with
 * code NetConnection.Connect.ReconnectRequest, level "status", and optionally a description
 * and a tcUrl (where to reconnect; absent: the current tcUrl; relative: resolved against it).
 * The client keeps streaming to the next keyframe, connects to the new server, then leaves
 * the old one.
 */
import { NovaError } from '../../errors.js';
import type { Amf0Object, Amf0Value } from './amf0.js';
import { encodeCommand, type RtmpCommand } from './rtmp-command.js';

/** The bits of capsEx (the spec's enum CapsExMask). */
export const CapsExMask = {
  reconnect: 0x01,
  multitrack: 0x02,
  modEx: 0x04,
  timestampNanoOffset: 0x08,
} as const;

export const RECONNECT_REQUEST_CODE = 'NetConnection.Connect.ReconnectRequest';

/** The optional parts of a Reconnect Request's info object. */
export interface ReconnectRequest {
  /** where to reconnect, absolute or relative to the current tcUrl; absent: the current tcUrl */
  tcUrl?: string;
  description?: string;
}

/** capsEx of a connect command object: 0 when absent or not a 32-bit unsigned integer. */
export function capsExOf(commandObject: Amf0Object): number {
  const value = commandObject.capsEx;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= 0xffffffff ? value : 0;
}

/** Whether a capsEx value announces Reconnect Request support. */
export function supportsReconnect(capsEx: number): boolean {
  return (capsEx & CapsExMask.reconnect) !== 0;
}

/** The onStatus command payload (AMF0) of a Reconnect Request. */
export function encodeReconnectRequest(request: ReconnectRequest = {}): Uint8Array {
  const info: Record<string, string> = { level: 'status', code: RECONNECT_REQUEST_CODE };
  if (request.description !== undefined) info.description = request.description;
  if (request.tcUrl !== undefined) info.tcUrl = request.tcUrl;
  return encodeCommand('onStatus', 0, null, info);
}

/**
 * The Reconnect Request a command carries, or null for any other command. Only the code
 * identifies it (a level other than "status" is the server's mistake, not a reason to ignore
 * the request); a tcUrl or description that is not a string counts as absent.
 */
export function reconnectRequestOf(command: RtmpCommand): ReconnectRequest | null {
  if (command.name !== 'onStatus') return null;
  const info = objectOf(command.args[1]);
  if (info === null || info.code !== RECONNECT_REQUEST_CODE) return null;
  const request: ReconnectRequest = {};
  if (typeof info.tcUrl === 'string') request.tcUrl = info.tcUrl;
  if (typeof info.description === 'string') request.description = info.description;
  return request;
}

/**
 * The tcUrl a client reconnects to: the request's, resolved against the current one as a URI
 * reference (rtmp://other/app, //host/app, /app), or the current one when the request has none.
 */
export function reconnectTcUrl(currentTcUrl: string, requested: string | undefined): string {
  if (requested === undefined || requested === '') return currentTcUrl;
  try {
    return new URL(requested, currentTcUrl).href;
  } catch {
    throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', `Reconnect Request tcUrl ${JSON.stringify(requested)} does not resolve against ${currentTcUrl}`);
  }
}

function objectOf(value: Amf0Value): Amf0Object | null {
  return value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date) ? value : null;
}
