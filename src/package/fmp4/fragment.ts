/**
 * CMAF fragment (one LL-HLS part / DASH chunk): moof + mdat.
 *
 * moof = mfhd + traf(tfhd default-base-is-moof, tfdt v1, trun v1). The size
 * is a function of the sample count only, so it is computed first and the
 * whole fragment is written into one buffer in a single pass.
 */
import { BoxWriter } from './box-writer.js';
import type { CmafTrack } from './cmaf-track.js';
import { copyBytes } from '../../stream/shared-copy.js';

/**
 * The samples of one fragment as parallel arrays (struct of arrays, so a
 * packager can keep them in reused typed arrays). Index 0..count-1 is read;
 * longer arrays are fine.
 */
export interface FragmentSamples {
  count: number;
  /** decode time of sample 0, in the track timescale */
  baseMediaDecodeTime: number;
  durations: ArrayLike<number>;
  sizes: ArrayLike<number>;
  /** pts - dts in the track timescale (video; ignored for audio) */
  compositionOffsets: ArrayLike<number>;
  /** 1 for sync samples (video; audio samples are all sync) */
  keyframes: ArrayLike<number>;
  /** sample bytes back to back, starting at sample 0 */
  payload: Uint8Array;
}

const TFHD_DEFAULT_BASE_IS_MOOF = 0x02_0000;
const TFHD_DEFAULT_SAMPLE_FLAGS = 0x00_0020;
const TRUN_DATA_OFFSET = 0x00_0001;
const TRUN_DURATION = 0x00_0100;
const TRUN_SIZE = 0x00_0200;
const TRUN_FLAGS = 0x00_0400;
const TRUN_COMPOSITION_OFFSET = 0x00_0800;
const VIDEO_TRUN_FLAGS = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | TRUN_COMPOSITION_OFFSET;
const AUDIO_TRUN_FLAGS = TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE;

/** sample_depends_on = 2 (an I picture) */
export const SAMPLE_FLAGS_SYNC = 0x0200_0000;
/** sample_depends_on = 1, sample_is_non_sync_sample = 1 */
export const SAMPLE_FLAGS_NON_SYNC = 0x0101_0000;

const MFHD_SIZE = 16;
const TFDT_SIZE = 20;
const TRUN_HEADER_SIZE = 20; // header + version/flags + sample_count + data_offset
const MDAT_HEADER_SIZE = 8;

function perSampleBytes(track: CmafTrack): number {
  return track.kind === 'video' ? 16 : 8;
}

function tfhdSize(track: CmafTrack): number {
  return track.kind === 'video' ? 16 : 20;
}

export function moofSize(track: CmafTrack, sampleCount: number): number {
  const trafSize = 8 + tfhdSize(track) + TFDT_SIZE + TRUN_HEADER_SIZE + sampleCount * perSampleBytes(track);
  return 8 + MFHD_SIZE + trafSize;
}

export function payloadSize(samples: FragmentSamples): number {
  let total = 0;
  for (let i = 0; i < samples.count; i++) total += samples.sizes[i];
  return total;
}

/** Bytes the fragment will take: moof + mdat header + payload. */
export function fragmentSize(track: CmafTrack, samples: FragmentSamples): number {
  return moofSize(track, samples.count) + MDAT_HEADER_SIZE + payloadSize(samples);
}

/**
 * Writes the fragment at `offset` into `target` (which must have room for
 * fragmentSize()) and returns the offset after it.
 */
export function writeFragment(
  target: Uint8Array,
  offset: number,
  sequenceNumber: number,
  track: CmafTrack,
  samples: FragmentSamples,
): number {
  const count = samples.count;
  const moofBytes = moofSize(track, count);
  const payloadBytes = payloadSize(samples);
  const w = new BoxWriter(target, offset);
  const isVideo = track.kind === 'video';

  w.open('moof');
  w.openFull('mfhd', 0, 0);
  w.u32(sequenceNumber);
  w.close();
  w.open('traf');
  if (isVideo) {
    w.openFull('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF);
    w.u32(track.trackId);
  } else {
    w.openFull('tfhd', 0, TFHD_DEFAULT_BASE_IS_MOOF | TFHD_DEFAULT_SAMPLE_FLAGS);
    w.u32(track.trackId);
    w.u32(SAMPLE_FLAGS_SYNC);
  }
  w.close();
  w.openFull('tfdt', 1, 0);
  w.u64(samples.baseMediaDecodeTime);
  w.close();
  // version 1: signed composition offsets, so streams whose pts < dts still work
  w.openFull('trun', 1, isVideo ? VIDEO_TRUN_FLAGS : AUDIO_TRUN_FLAGS);
  w.u32(count);
  w.i32(moofBytes + MDAT_HEADER_SIZE); // data_offset from the moof start
  if (isVideo) {
    for (let i = 0; i < count; i++) {
      w.u32(samples.durations[i]);
      w.u32(samples.sizes[i]);
      w.u32(samples.keyframes[i] ? SAMPLE_FLAGS_SYNC : SAMPLE_FLAGS_NON_SYNC);
      w.i32(samples.compositionOffsets[i]);
    }
  } else {
    for (let i = 0; i < count; i++) {
      w.u32(samples.durations[i]);
      w.u32(samples.sizes[i]);
    }
  }
  w.close(); // trun
  w.close(); // traf
  w.close(); // moof

  w.u32(MDAT_HEADER_SIZE + payloadBytes);
  w.fourcc('mdat');
  copyBytes(target, w.offset, samples.payload.subarray(0, payloadBytes));
  return w.offset + payloadBytes;
}

/** Allocating convenience over writeFragment(). */
export function buildFragment(sequenceNumber: number, track: CmafTrack, samples: FragmentSamples): Uint8Array {
  const bytes = new Uint8Array(fragmentSize(track, samples));
  writeFragment(bytes, 0, sequenceNumber, track, samples);
  return bytes;
}
