/**
 * Test support: reads an FLV file container (header, then tags with
 * previous-tag-size trailers) into tag records, so tests can feed real
 * FFmpeg output through FlvDemuxer the way the RTMP layer would.
 */
export interface FlvFileTag {
  /** 8 audio, 9 video, 18 script data */
  type: number;
  /** 32-bit ms: 24-bit timestamp + 8-bit extension */
  timestamp: number;
  body: Uint8Array;
}

export function readFlvFile(file: Uint8Array): FlvFileTag[] {
  if (file.length < 9 || file[0] !== 0x46 || file[1] !== 0x4c || file[2] !== 0x56) {
    throw new Error('not an FLV file');
  }
  const headerSize = ((file[5] << 24) | (file[6] << 16) | (file[7] << 8) | file[8]) >>> 0;
  let offset = headerSize + 4; // PreviousTagSize0
  const tags: FlvFileTag[] = [];
  while (offset + 11 <= file.length) {
    const type = file[offset] & 0x1f;
    const size = (file[offset + 1] << 16) | (file[offset + 2] << 8) | file[offset + 3];
    const timestamp = (((file[offset + 7] << 24) | (file[offset + 4] << 16) | (file[offset + 5] << 8) | file[offset + 6]) >>> 0);
    const bodyStart = offset + 11;
    if (bodyStart + size > file.length) throw new Error(`FLV tag at ${offset} truncated`);
    tags.push({ type, timestamp, body: file.subarray(bodyStart, bodyStart + size) });
    offset = bodyStart + size + 4;
  }
  return tags;
}
