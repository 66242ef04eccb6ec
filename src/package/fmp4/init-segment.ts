/**
 * CMAF header: ftyp + moov with an empty sample table and mvex/trex, so all
 * samples live in fragments.
 *
 * AAC priming: no edit list. Timestamps are presented exactly as the
 * encoder stamped them on the FLV timeline (the same integers go into the
 * MPEG-TS variant), so the two outputs and the playlists agree; the encoder
 * delay (typically 1024 samples) is simply audible as the first frame.
 * With B-frames the first video sample's pts is dts + composition offset and
 * is likewise not shifted by an edit list; players start at the earliest pts.
 */
import { BoxWriter } from './box-writer.js';
import type { CmafTrack } from './cmaf-track.js';

const MATRIX = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/** ISO-639-2 'und' packed as three 5-bit letters. */
const LANGUAGE_UND = 0x55c4;
/** Everything except the codec configuration records, generously rounded up. */
const INIT_FIXED_BOUND = 1024;

export function buildInitSegment(track: CmafTrack): Uint8Array {
  const recordLength = track.kind === 'video' ? track.config.avcC.byteLength : track.config.asc.byteLength;
  // Written once per stream, so bounding and copying out is cheaper in code than sizing every box.
  const scratch = new Uint8Array(INIT_FIXED_BOUND + recordLength);
  const w = new BoxWriter(scratch);

  w.open('ftyp');
  w.fourcc('cmfc');
  w.u32(0);
  w.fourcc('cmfc');
  w.fourcc('iso6');
  w.fourcc('mp41');
  w.close();

  w.open('moov');
  writeMvhd(w, track.trackId + 1);
  w.open('trak');
  writeTkhd(w, track);
  w.open('mdia');
  writeMdhd(w, track.timescale);
  writeHdlr(w, track.kind);
  w.open('minf');
  if (track.kind === 'video') {
    w.openFull('vmhd', 0, 1);
    w.zeros(8); // graphicsmode + opcolor
    w.close();
  } else {
    w.openFull('smhd', 0, 0);
    w.zeros(4); // balance + reserved
    w.close();
  }
  w.open('dinf');
  w.openFull('dref', 0, 0);
  w.u32(1);
  w.openFull('url ', 0, 1); // self-contained
  w.close();
  w.close();
  w.close();
  w.open('stbl');
  writeStsd(w, track);
  for (const empty of ['stts', 'stsc', 'stco']) {
    w.openFull(empty, 0, 0);
    w.u32(0);
    w.close();
  }
  w.openFull('stsz', 0, 0);
  w.u32(0);
  w.u32(0);
  w.close();
  w.close(); // stbl
  w.close(); // minf
  w.close(); // mdia
  w.close(); // trak
  w.open('mvex');
  w.openFull('trex', 0, 0);
  w.u32(track.trackId);
  w.u32(1); // default_sample_description_index
  w.u32(0);
  w.u32(0);
  w.u32(0);
  w.close();
  w.close(); // mvex
  w.close(); // moov
  return scratch.slice(0, w.offset);
}

function writeMvhd(w: BoxWriter, nextTrackId: number): void {
  w.openFull('mvhd', 0, 0);
  w.u32(0); // creation_time
  w.u32(0); // modification_time
  w.u32(1000);
  w.u32(0); // duration unknown (live)
  w.u32(0x0001_0000); // rate 1.0
  w.u16(0x0100); // volume 1.0
  w.zeros(10);
  for (const m of MATRIX) w.u32(m);
  w.zeros(24); // pre_defined
  w.u32(nextTrackId);
  w.close();
}

function writeTkhd(w: BoxWriter, track: CmafTrack): void {
  w.openFull('tkhd', 0, 0x000003); // enabled | in_movie
  w.u32(0);
  w.u32(0);
  w.u32(track.trackId);
  w.u32(0); // reserved
  w.u32(0); // duration
  w.zeros(8);
  w.u16(0); // layer
  w.u16(0); // alternate_group
  w.u16(track.kind === 'audio' ? 0x0100 : 0);
  w.u16(0);
  for (const m of MATRIX) w.u32(m);
  if (track.kind === 'video') {
    w.u32(track.config.width * 0x1_0000);
    w.u32(track.config.height * 0x1_0000);
  } else {
    w.u32(0);
    w.u32(0);
  }
  w.close();
}

function writeMdhd(w: BoxWriter, timescale: number): void {
  w.openFull('mdhd', 0, 0);
  w.u32(0);
  w.u32(0);
  w.u32(timescale);
  w.u32(0);
  w.u16(LANGUAGE_UND);
  w.u16(0);
  w.close();
}

function writeHdlr(w: BoxWriter, kind: CmafTrack['kind']): void {
  w.openFull('hdlr', 0, 0);
  w.u32(0);
  w.fourcc(kind === 'video' ? 'vide' : 'soun');
  w.zeros(12);
  const name = kind === 'video' ? 'VideoHandler' : 'SoundHandler';
  for (let i = 0; i < name.length; i++) w.u8(name.charCodeAt(i));
  w.u8(0);
  w.close();
}

function writeStsd(w: BoxWriter, track: CmafTrack): void {
  w.openFull('stsd', 0, 0);
  w.u32(1);
  if (track.kind === 'video') {
    w.open('avc1');
    w.zeros(6);
    w.u16(1); // data_reference_index
    w.zeros(16); // pre_defined + reserved
    w.u16(track.config.width);
    w.u16(track.config.height);
    w.u32(0x0048_0000); // 72 dpi
    w.u32(0x0048_0000);
    w.u32(0);
    w.u16(1); // frame_count
    w.zeros(32); // compressorname
    w.u16(0x0018); // depth
    w.u16(0xffff); // pre_defined = -1
    w.open('avcC');
    w.write(track.config.avcC);
    w.close();
    w.close();
  } else {
    w.open('mp4a');
    w.zeros(6);
    w.u16(1);
    w.zeros(8);
    w.u16(track.config.channels);
    w.u16(16); // samplesize
    w.u16(0);
    w.u16(0);
    // 16.16 fixed point; rates above 65535 Hz do not occur with AAC in FLV
    w.u32((track.config.sampleRate & 0xffff) * 0x1_0000);
    writeEsds(w, track.config.asc);
    w.close();
  }
  w.close();
}

/** MPEG-4 ES descriptor chain (ISO 14496-1) with one-byte lengths: an ASC is never near 128 bytes. */
function writeEsds(w: BoxWriter, asc: Uint8Array): void {
  const decoderSpecificLength = 2 + asc.byteLength;
  const decoderConfigLength = 13 + decoderSpecificLength;
  const slConfigLength = 3;
  const esLength = 3 + 2 + decoderConfigLength + slConfigLength;
  w.openFull('esds', 0, 0);
  w.u8(0x03); // ES_DescrTag
  w.u8(esLength);
  w.u16(0); // ES_ID
  w.u8(0); // flags
  w.u8(0x04); // DecoderConfigDescrTag
  w.u8(decoderConfigLength);
  w.u8(0x40); // objectTypeIndication: MPEG-4 Audio
  w.u8(0x15); // streamType audio (5) << 2 | reserved 1
  w.u24(0); // bufferSizeDB
  w.u32(0); // maxBitrate
  w.u32(0); // avgBitrate
  w.u8(0x05); // DecSpecificInfoTag
  w.u8(asc.byteLength);
  w.write(asc);
  w.u8(0x06); // SLConfigDescrTag
  w.u8(1);
  w.u8(0x02); // predefined: MP4
  w.close();
}
