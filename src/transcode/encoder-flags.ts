/**
 * THE table of per-encoder FFmpeg flags. Everything encoder-specific lives
 * here, so adding an encoder is one entry plus one golden test case.
 */

/** H.264 encoders in probe order: hardware first, libx264 last (always works where FFmpeg does). */
export const ENCODER_CANDIDATES = ['h264_nvenc', 'h264_qsv', 'h264_vaapi', 'h264_videotoolbox', 'libx264'] as const;
export type EncoderName = (typeof ENCODER_CANDIDATES)[number];

export function isEncoderName(value: string): value is EncoderName {
  return (ENCODER_CANDIDATES as readonly string[]).includes(value);
}

/** the one device path the VAAPI entry uses; a host with several GPUs would make this configurable */
export const VAAPI_DEVICE = '/dev/dri/renderD128';

export type KeyframePolicy =
  /** keyframes exactly where the source has them (`-force_key_frames source`): segments of every rendition line up with the source's */
  | { kind: 'source' }
  /** a keyframe every `seconds` (forced by expression, GOP = the same) */
  | { kind: 'interval'; seconds: number };

export type RateControl =
  /** capped average: -b:v with -maxrate = bitrate and a VBV of `bufferSeconds` */
  | 'vbv'
  /** strict constant bit rate (x264 nal-hrd=cbr pads with filler, hardware CBR modes) */
  | 'cbr';

export interface RenditionEncodeSettings {
  width: number;
  height: number;
  bitrateKbps: number;
  /** source frame rate (0 = unknown: 30 assumed for GOP sizing) */
  frameRate: number;
  keyframes: KeyframePolicy;
  /** longest GOP the source is expected to have, seconds; sets -g under the 'source' policy so the encoder adds none of its own */
  maxGopSeconds: number;
  rateControl: RateControl;
  /** VBV buffer in seconds of bitrate (bufsize = bitrate × this) */
  bufferSeconds: number;
  /** 0 keeps output DTS = PTS (lowest latency, simplest timelines) */
  bFrames: number;
  profile: 'baseline' | 'main' | 'high';
  /** encoder speed preset; each encoder maps it to its own scale (x264 names are the lingua franca) */
  preset: 'ultrafast' | 'superfast' | 'veryfast' | 'faster' | 'fast' | 'medium';
  /** x264 -tune zerolatency (no lookahead, sliced threads); hardware encoders get their low-latency modes regardless */
  lowLatency: boolean;
}

export const DEFAULT_ENCODE_SETTINGS: Omit<RenditionEncodeSettings, 'width' | 'height' | 'bitrateKbps' | 'frameRate'> = {
  keyframes: { kind: 'source' },
  maxGopSeconds: 10,
  rateControl: 'vbv',
  bufferSeconds: 2,
  bFrames: 0,
  profile: 'high',
  preset: 'veryfast',
  lowLatency: false,
};

/** What one encoder needs around the shared command. */
export interface EncoderFlagSet {
  /** before the inputs (device setup) */
  globalArgs: readonly string[];
  /** appended to each rendition's filter chain after scaling (upload to the device) */
  filterSuffix: string;
  /** output options for one rendition */
  outputArgs(settings: RenditionEncodeSettings): string[];
}

/** H.264 level from the macroblock rate (Table A-1), smallest that fits: players reject levels below the stream. */
export function h264LevelFor(width: number, height: number, frameRate: number): string {
  const macroblocks = Math.ceil(width / 16) * Math.ceil(height / 16);
  const rate = macroblocks * (frameRate > 0 ? frameRate : 30);
  const levels: ReadonlyArray<readonly [string, number, number]> = [
    ['3.0', 1620, 40500],
    ['3.1', 3600, 108000],
    ['3.2', 5120, 216000],
    ['4.0', 8192, 245760],
    ['4.2', 8704, 522240],
    ['5.1', 36864, 983040],
  ];
  for (const [level, maxFrame, maxRate] of levels) {
    if (macroblocks <= maxFrame && rate <= maxRate) return level;
  }
  return '5.2';
}

function gopFrames(settings: RenditionEncodeSettings): number {
  const fps = settings.frameRate > 0 ? settings.frameRate : 30;
  const seconds = settings.keyframes.kind === 'interval' ? settings.keyframes.seconds : settings.maxGopSeconds;
  return Math.max(1, Math.round(fps * seconds));
}

function forceKeyframes(settings: RenditionEncodeSettings): string {
  return settings.keyframes.kind === 'source' ? 'source' : `expr:gte(t,n_forced*${settings.keyframes.seconds})`;
}

/** -b:v / -maxrate / -bufsize: identical meaning for every encoder (AVCodecContext options). */
function rateArgs(settings: RenditionEncodeSettings): string[] {
  const kbps = settings.bitrateKbps;
  return ['-b:v', `${kbps}k`, '-maxrate', `${kbps}k`, '-bufsize', `${Math.round(kbps * settings.bufferSeconds)}k`];
}

function commonTail(settings: RenditionEncodeSettings): string[] {
  return ['-force_key_frames', forceKeyframes(settings), '-bf', String(settings.bFrames)];
}

/** NVENC presets p1 (fastest) … p7; x264's veryfast sits near p4 in quality per bit. */
const NVENC_PRESET: Record<RenditionEncodeSettings['preset'], string> = {
  ultrafast: 'p1',
  superfast: 'p2',
  veryfast: 'p4',
  faster: 'p4',
  fast: 'p5',
  medium: 'p6',
};

export const ENCODER_FLAGS: Readonly<Record<EncoderName, EncoderFlagSet>> = {
  libx264: {
    globalArgs: [],
    filterSuffix: '',
    outputArgs: (s) => {
      const gop = gopFrames(s);
      const params = ['scenecut=0'];
      if (s.rateControl === 'cbr') params.push('nal-hrd=cbr', 'force-cfr=1');
      return [
        '-c:v', 'libx264',
        '-preset', s.preset,
        ...(s.lowLatency ? ['-tune', 'zerolatency'] : []),
        '-profile:v', s.profile,
        '-level:v', h264LevelFor(s.width, s.height, s.frameRate),
        '-pix_fmt', 'yuv420p',
        ...rateArgs(s),
        '-g', String(gop),
        '-keyint_min', String(gop),
        '-sc_threshold', '0',
        '-forced-idr', '1',
        '-x264-params', params.join(':'),
        ...commonTail(s),
      ];
    },
  },
  h264_nvenc: {
    globalArgs: [],
    filterSuffix: '',
    outputArgs: (s) => [
      '-c:v', 'h264_nvenc',
      '-preset', NVENC_PRESET[s.preset],
      '-tune', 'll',
      '-rc', 'cbr',
      '-profile:v', s.profile,
      '-level:v', h264LevelFor(s.width, s.height, s.frameRate),
      '-pix_fmt', 'yuv420p',
      ...rateArgs(s),
      '-g', String(gopFrames(s)),
      '-no-scenecut', '1',
      '-forced-idr', '1',
      '-zerolatency', '1',
      ...commonTail(s),
    ],
  },
  h264_qsv: {
    globalArgs: [],
    filterSuffix: '',
    outputArgs: (s) => [
      '-c:v', 'h264_qsv',
      '-preset', s.preset === 'ultrafast' || s.preset === 'superfast' ? 'veryfast' : s.preset,
      '-look_ahead', '0',
      '-profile:v', s.profile,
      '-pix_fmt', 'nv12',
      ...rateArgs(s),
      '-g', String(gopFrames(s)),
      '-idr_interval', '0',
      '-forced_idr', '1',
      ...commonTail(s),
    ],
  },
  h264_vaapi: {
    globalArgs: ['-vaapi_device', VAAPI_DEVICE],
    filterSuffix: ',format=nv12,hwupload',
    outputArgs: (s) => [
      '-c:v', 'h264_vaapi',
      '-rc_mode', 'CBR',
      '-profile:v', s.profile,
      ...rateArgs(s),
      '-g', String(gopFrames(s)),
      '-idr_interval', '0',
      ...commonTail(s),
    ],
  },
  h264_videotoolbox: {
    globalArgs: [],
    filterSuffix: '',
    outputArgs: (s) => [
      '-c:v', 'h264_videotoolbox',
      '-realtime', '1',
      '-allow_sw', '0',
      '-profile:v', s.profile,
      '-pix_fmt', 'yuv420p',
      ...rateArgs(s),
      '-g', String(gopFrames(s)),
      ...commonTail(s),
    ],
  },
};

/** The one-frame trial encode for the probe: the same device setup as real use, on a tiny synthetic picture. */
export function trialEncodeArgs(encoder: EncoderName): string[] {
  const flags = ENCODER_FLAGS[encoder];
  const filter = flags.filterSuffix === '' ? [] : ['-vf', flags.filterSuffix.slice(1)];
  return [
    '-hide_banner', '-nostdin', '-loglevel', 'error',
    ...flags.globalArgs,
    '-f', 'lavfi', '-i', 'color=size=256x144:rate=30',
    '-frames:v', '1',
    ...filter,
    '-c:v', encoder,
    '-f', 'null', '-',
  ];
}
