/**
 * Program Specific Information: PAT and PMT for the single program of a
 * muxed rendition (ISO 13818-1 2.4.4).
 */
import { TS_PACKET_SIZE } from './ts-packet-buffer.js';

export const PAT_PID = 0x0000;
export const PMT_PID = 0x1000;
export const VIDEO_PID = 0x0100;
export const AUDIO_PID = 0x0101;
export const STREAM_TYPE_H264 = 0x1b;
export const STREAM_TYPE_AAC_ADTS = 0x0f;
const PROGRAM_NUMBER = 1;

const CRC_TABLE = buildCrcTable();

function buildCrcTable(): Uint32Array {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 24;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000_0000 ? (crc << 1) ^ 0x04c1_1db7 : crc << 1;
    table[i] = crc >>> 0;
  }
  return table;
}

/** CRC-32/MPEG-2: polynomial 0x04C11DB7, init all ones, no reflection, no final xor. */
export function crc32Mpeg(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0xffff_ffff;
  for (let i = start; i < end; i++) crc = (crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ bytes[i]) & 0xff];
  return crc >>> 0;
}

export interface PmtStream {
  streamType: number;
  pid: number;
}

/** Writes one packet holding a whole PSI section (table_id, length, body, CRC) at `offset`. */
function writeSectionPacket(target: Uint8Array, offset: number, pid: number, continuity: number, tableId: number, body: Uint8Array): void {
  target[offset] = 0x47;
  target[offset + 1] = 0x40 | (pid >> 8); // payload_unit_start
  target[offset + 2] = pid & 0xff;
  target[offset + 3] = 0x10 | (continuity & 0x0f); // payload only
  target[offset + 4] = 0; // pointer_field
  const sectionStart = offset + 5;
  const sectionLength = body.byteLength + 4; // + CRC
  target[sectionStart] = tableId;
  target[sectionStart + 1] = 0xb0 | (sectionLength >> 8); // section_syntax_indicator, '0', reserved
  target[sectionStart + 2] = sectionLength & 0xff;
  target.set(body, sectionStart + 3);
  const crcAt = sectionStart + 3 + body.byteLength;
  const crc = crc32Mpeg(target, sectionStart, crcAt);
  target[crcAt] = crc >>> 24;
  target[crcAt + 1] = (crc >>> 16) & 0xff;
  target[crcAt + 2] = (crc >>> 8) & 0xff;
  target[crcAt + 3] = crc & 0xff;
  target.fill(0xff, crcAt + 4, offset + TS_PACKET_SIZE);
}

export function writePat(target: Uint8Array, offset: number, continuity: number): void {
  const body = new Uint8Array([
    0x00, 0x01, // transport_stream_id
    0xc1, // version 0, current_next
    0x00, 0x00, // section_number, last_section_number
    PROGRAM_NUMBER >> 8, PROGRAM_NUMBER & 0xff,
    0xe0 | (PMT_PID >> 8), PMT_PID & 0xff,
  ]);
  writeSectionPacket(target, offset, PAT_PID, continuity, 0x00, body);
}

export function writePmt(target: Uint8Array, offset: number, continuity: number, version: number, pcrPid: number, streams: readonly PmtStream[]): void {
  const body = new Uint8Array(9 + streams.length * 5);
  body[0] = PROGRAM_NUMBER >> 8;
  body[1] = PROGRAM_NUMBER & 0xff;
  body[2] = 0xc1 | ((version & 0x1f) << 1);
  body[3] = 0;
  body[4] = 0;
  body[5] = 0xe0 | (pcrPid >> 8);
  body[6] = pcrPid & 0xff;
  body[7] = 0xf0; // program_info_length = 0
  body[8] = 0x00;
  let at = 9;
  for (const stream of streams) {
    body[at] = stream.streamType;
    body[at + 1] = 0xe0 | (stream.pid >> 8);
    body[at + 2] = stream.pid & 0xff;
    body[at + 3] = 0xf0; // ES_info_length = 0
    body[at + 4] = 0x00;
    at += 5;
  }
  writeSectionPacket(target, offset, PMT_PID, continuity, 0x02, body);
}
