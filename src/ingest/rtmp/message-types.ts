/**
 * RTMP message type ids, user control event types and the payload encoders
 * for the small protocol control messages (RTMP 1.0 spec §5.4, §6.2, §7.1).
 */

export const MessageType = {
  setChunkSize: 1,
  abort: 2,
  acknowledgement: 3,
  userControl: 4,
  windowAckSize: 5,
  setPeerBandwidth: 6,
  audio: 8,
  video: 9,
  dataAmf3: 15,
  sharedObjectAmf3: 16,
  commandAmf3: 17,
  dataAmf0: 18,
  sharedObjectAmf0: 19,
  commandAmf0: 20,
  aggregate: 22,
} as const;

export const UserControlEvent = {
  streamBegin: 0,
  streamEof: 1,
  streamDry: 2,
  setBufferLength: 3,
  streamIsRecorded: 4,
  pingRequest: 6,
  pingResponse: 7,
} as const;

/** Chunk stream ids by convention (FFmpeg/librtmp use the same). */
export const ChunkStreamId = {
  protocolControl: 2,
  command: 3,
  audio: 4,
  data: 5,
  video: 6,
} as const;

export function u32Payload(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setUint32(0, value >>> 0);
  return out;
}

/** Set Peer Bandwidth: window size + limit type (0 hard, 1 soft, 2 dynamic). */
export function setPeerBandwidthPayload(windowSize: number, limitType: 0 | 1 | 2): Uint8Array {
  const out = new Uint8Array(5);
  new DataView(out.buffer).setUint32(0, windowSize >>> 0);
  out[4] = limitType;
  return out;
}

/** User Control event carrying one u32 (stream id or ping timestamp). */
export function userControlPayload(eventType: number, value: number): Uint8Array {
  const out = new Uint8Array(6);
  const view = new DataView(out.buffer);
  view.setUint16(0, eventType);
  view.setUint32(2, value >>> 0);
  return out;
}
