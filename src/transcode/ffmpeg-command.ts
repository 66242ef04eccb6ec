import ffmpeg from 'fluent-ffmpeg';
import { ENCODER_FLAGS, DEFAULT_ENCODE_SETTINGS, type EncoderName, type RenditionEncodeSettings } from './encoder-flags.js';
import type { PlannedRendition } from './ladder.js';

/** The first extra stdio slot: 0 stdin (FLV in), 1 unused, 2 stderr (diagnostics), 3.. one FLV output per rendition, then the thumbnail's JPEGs. */
export const FIRST_OUTPUT_FD = 3;

export type EncodeOptions = Omit<RenditionEncodeSettings, 'width' | 'height' | 'bitrateKbps' | 'frameRate'>;

export interface TranscodeCommandSpec {
  ffmpegPath: string;
  encoder: EncoderName;
  /** transcoded renditions only (not "source"), in output-fd order */
  renditions: readonly PlannedRendition[];
  /** source frame rate, 0 when unknown */
  frameRate: number;
  encode?: Partial<EncodeOptions>;
  /** FFmpeg -loglevel (warning: errors and real warnings on stderr, no progress lines) */
  logLevel?: string;
  /** also a JPEG from the same decode, on the fd after the renditions' */
  thumbnail?: ThumbnailSpec;
}

export interface ThumbnailSpec {
  /** pixels, even; the height follows the source's aspect ratio */
  width: number;
  /** a JPEG at the first keyframe at least this long after the previous JPEG */
  intervalSec: number;
}

export interface TranscodeCommand {
  ffmpegPath: string;
  args: string[];
  /** stdio slot of each rendition's FLV output, same order as `renditions` */
  outputFds: number[];
  /** stdio slot of the JPEG output (image2pipe), null without a thumbnail */
  thumbnailFd: number | null;
}

/** fluent-ffmpeg's argument builder; private in its typings but the stable core of 2.x (run() calls nothing else to build argv). */
interface ArgumentBuilder {
  _getArguments(): string[];
}

/**
 * `[0:v]split=N[s0]…;[s0]scale=W:H[v0];…` — one decode, one scaler per
 * rendition. (A cascade 1080→720→480 would scale less but couples the
 * renditions' quality; the plain fan-out keeps each scale from the source.)
 */
export function buildFilterGraph(renditions: readonly PlannedRendition[], filterSuffix: string, thumbnail?: ThumbnailSpec): string {
  const branches = renditions.map((r, i) => ({ filter: `scale=${r.width}:${r.height}${filterSuffix}`, label: `v${i}` }));
  if (thumbnail !== undefined) branches.push({ filter: thumbnailFilter(thumbnail), label: 'thumb' });
  if (branches.length === 1) return `[0:v]${branches[0]!.filter}[${branches[0]!.label}]`;
  const chains = [`[0:v]split=${branches.length}${branches.map((_, i) => `[s${i}]`).join('')}`];
  branches.forEach((b, i) => chains.push(`[s${i}]${b.filter}[${b.label}]`));
  return chains.join(';');
}

/**
 * The thumbnail branch: `select` passes a keyframe (the first one, then the
 * first at least intervalSec after the last picked), so the scaler and the
 * JPEG encoder run once per interval on a frame the decoder made anyway.
 * Full-range yuvj420p is what JPEG viewers expect (and mjpeg wants).
 */
export function thumbnailFilter(thumbnail: ThumbnailSpec): string {
  return `select='key*(isnan(prev_selected_t)+gte(t-prev_selected_t,${thumbnail.intervalSec}))',scale=${thumbnail.width}:-2:out_range=full,format=yuvj420p`;
}

/**
 * One FFmpeg for the whole ladder of a stream: FLV (video only) on stdin,
 * split + scale per rendition, one FLV per rendition on fds 3, 4, …
 *
 * Timestamps: -copyts keeps the input's (= source DTS/PTS) instead of
 * starting at 0, and -fps_mode passthrough neither drops nor duplicates
 * frames, so rendition frame N has source frame N's PTS. -force_key_frames
 * source (from the flag table) puts keyframes where the source has them,
 * which makes every rendition's segments start at the source's segment PTS.
 *
 * Why fluent-ffmpeg only builds the argv: its run() spawns with stdio
 * [stdin, stdout, stderr] and offers no way to add pipes (run() passes only
 * niceness/cwd/windowsHide to its spawn), and a ladder needs one pipe per
 * rendition (fds 3+). Its first run() in a process also spawns
 * `ffmpeg -formats` and `-encoders` for capability checks (cached after;
 * transcode-bench measures the cost). So fluent-ffmpeg builds the argv here
 * (_getArguments, the same builder run() uses) and TranscodeProcess spawns
 * it with node:child_process and the fds it needs.
 */
export function buildTranscodeCommand(spec: TranscodeCommandSpec): TranscodeCommand {
  const flags = ENCODER_FLAGS[spec.encoder];
  const encode: EncodeOptions = { ...DEFAULT_ENCODE_SETTINGS, ...spec.encode };
  const command = ffmpeg().setFfmpegPath(spec.ffmpegPath);
  command
    .input('pipe:0')
    .inputFormat('flv')
    .inputOptions(
      '-hide_banner',
      '-nostdin',
      '-loglevel', spec.logLevel ?? 'warning',
      ...flags.globalArgs,
      '-copyts',
      // The first tags carry the avcC: no need to analyse seconds of input before starting.
      // (Not -fflags nobuffer: measured, it makes FFmpeg 5.1 discard the whole first GOP.)
      '-probesize', '32768',
      '-analyzeduration', '0',
    )
    .complexFilter(buildFilterGraph(spec.renditions, flags.filterSuffix, spec.thumbnail));
  const outputFds: number[] = [];
  spec.renditions.forEach((rendition, index) => {
    const fd = FIRST_OUTPUT_FD + index;
    outputFds.push(fd);
    const settings: RenditionEncodeSettings = {
      ...encode,
      width: rendition.width,
      height: rendition.height,
      bitrateKbps: rendition.bitrateKbps,
      frameRate: spec.frameRate,
    };
    command
      .output(`pipe:${fd}`)
      .outputOptions(
        '-map', `[v${index}]`,
        '-an',
        ...flags.outputArgs(settings),
        '-fps_mode', 'passthrough',
        '-muxdelay', '0',
        '-flush_packets', '1',
        '-flvflags', 'no_duration_filesize',
        '-f', 'flv',
      );
  });
  let thumbnailFd: number | null = null;
  if (spec.thumbnail !== undefined) {
    thumbnailFd = FIRST_OUTPUT_FD + spec.renditions.length;
    // one whole JPEG per selected frame, written as it is encoded
    command
      .output(`pipe:${thumbnailFd}`)
      .outputOptions('-map', '[thumb]', '-an', '-fps_mode', 'passthrough', '-c:v', 'mjpeg', '-q:v', '5', '-flush_packets', '1', '-f', 'image2pipe');
  }
  const args = (command as unknown as ArgumentBuilder)._getArguments();
  return { ffmpegPath: spec.ffmpegPath, args, outputFds, thumbnailFd };
}
