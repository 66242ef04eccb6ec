import { targetDurationSeconds } from '../hls/playlist-builder.js';
import type { SegmentStore, TrackStore } from '../store/segment-store.js';
import type { CorsPolicy } from './cors.js';
import { notFound } from './http-problem.js';
import type { MediaResponder } from './media-responder.js';
import { JoinedSegments } from './joined-segments.js';
import { holdRequest } from './request-hold.js';
import type { StreamRequest } from './stream-request.js';

const SEGMENT_FILE = /^seg-(\d{1,15})\.(m4s|ts)$/;
const PART_FILE = /^part-(\d{1,15})-(\d{1,6})\.m4s$/;
const INIT_FILE = /^init(?:-v(\d{1,6}))?\.mp4$/;
/** joined copies of live segments kept per route set (see joined-segments.ts): ten of ~800 KB, the newest few of a handful of renditions */
const JOINED_SEGMENT_BYTES = 8 * 1024 * 1024;

/**
 * The immutable files of a track, the same for HLS and DASH:
 * init.mp4 / init-vN.mp4, seg-N.m4s (or seg-N.ts), part-N-M.m4s. ETags name
 * the object's generation (its origin's), rendition, track and position, so a URL's tag
 * never changes while it serves bytes. Throws HttpProblem for what is not there.
 */
export class MediaFiles {
  private readonly joined = new JoinedSegments(JOINED_SEGMENT_BYTES);

  constructor(
    private readonly store: SegmentStore,
    private readonly respond: MediaResponder,
    private readonly cors: CorsPolicy,
    private readonly targetDurationMs: number,
  ) {}

  serve(req: StreamRequest, renditionName: string, trackName: string, file: string): void {
    const { res, ctx, stream } = req;
    const rendition = stream.renditions.get(renditionName);
    const track = trackName === 'video' || trackName === 'audio' || trackName === 'ts' ? rendition?.tracks.get(trackName) : undefined;
    if (!rendition || !track) throw notFound(`no ${trackName} track in ${stream.id}/${renditionName}`);
    const contentType = track.track === 'ts' ? 'video/mp2t' : track.track === 'audio' ? 'audio/mp4' : 'video/mp4';
    // each object names the generation it was produced under: the same on every instance serving it
    const tag = `${encodeURIComponent(renditionName)}-${track.track}`;
    // one track per rendition counts toward the quality distribution: video (or muxed TS), audio only without video
    const counted = track.track !== 'audio' || !rendition.tracks.has('video');

    const segmentMatch = SEGMENT_FILE.exec(file);
    if (segmentMatch && (segmentMatch[2] === 'ts') === (track.track === 'ts')) {
      const msn = Number(segmentMatch[1]);
      // built when needed only: most requests find what they ask for
      const missing = (): string => `segment ${msn} of ${stream.id}/${renditionName}/${track.track} is not (or no longer) available`;
      const send = (): void => {
        const segment = track.findSegment(msn);
        if (!segment) {
          this.respond.problem(res, ctx, notFound(missing()));
          return;
        }
        this.respond.bytes(res, ctx, stream, 'segment', contentType, `"${segment.generation}-${tag}-${msn}"`, this.joined.body(segment), counted ? { rendition: renditionName, seconds: segment.duration } : undefined);
      };
      if (track.findSegment(msn) !== undefined || !isUpcomingSegment(track, msn) || stream.ended) {
        send();
        return;
      }
      // the segment in progress: listed already by a delivery thread a moment ahead of this one, or asked for early
      holdRequest(
        res,
        ctx,
        this.cors,
        (onDone) => this.store.waitFor(stream.id, renditionName, track.track, msn, -1, targetDurationSeconds(track, this.targetDurationMs) * 1500, onDone),
        { kind: 'segment', timeouts: this.respond, late: `segment ${msn} not produced in time`, gone: missing(), streamId: stream.id },
        send,
      );
      return;
    }
    if (track.track === 'ts') throw notFound(`no such file ${file}`);
    const initMatch = INIT_FILE.exec(file);
    if (initMatch) {
      const version = initMatch[1] === undefined ? 0 : Number(initMatch[1]);
      const init = track.findInit(version);
      if (!init) throw notFound(`init ${file} of ${stream.id}/${renditionName}/${track.track} is not available`);
      this.respond.bytes(res, ctx, stream, 'init', contentType, `"${init.generation}-${tag}-init-${version}"`, init.bytes);
      return;
    }
    const partMatch = PART_FILE.exec(file);
    if (!partMatch) throw notFound(`no such file ${file}`);
    const msn = Number(partMatch[1]);
    const index = Number(partMatch[2]);
    const missing = (): string => `part ${msn}.${index} of ${stream.id}/${renditionName}/${track.track} is not (or no longer) available`;
    const send = (): void => {
      const part = track.findPart(msn, index);
      if (!part || !part.bytes) {
        this.respond.problem(res, ctx, notFound(missing()));
        return;
      }
      this.respond.bytes(res, ctx, stream, 'part', contentType, `"${part.generation}-${tag}-${msn}-${index}"`, part.bytes, counted ? { rendition: renditionName, seconds: part.duration } : undefined);
    };
    if (!isUpcomingPart(track, msn, index) || stream.ended) {
      send();
      return;
    }
    // EXT-X-PRELOAD-HINT: the player asks before the part exists (or a delivery thread a moment ahead of this one listed it); hold the request until it does
    const timeoutMs = targetDurationSeconds(track, this.targetDurationMs) * 3000;
    holdRequest(
      res,
      ctx,
      this.cors,
      (onDone) => this.store.waitFor(stream.id, renditionName, track.track, msn, index, timeoutMs, onDone),
      { kind: 'part', timeouts: this.respond, late: `part ${msn}.${index} not produced in time`, gone: missing(), streamId: stream.id },
      send,
    );
  }
}

/** parts after the newest one a request may wait for: the preload hint, and one more for a delivery thread a moment behind another */
const UPCOMING_PARTS = 2;

/**
 * Whether part `index` of `msn` is among the next ones the packager will
 * produce: what EXT-X-PRELOAD-HINT names, or the part after it (a delivery
 * thread's copy of the store may be a batch behind the thread whose playlist
 * the player read), counting across the segment boundary.
 */
export function isUpcomingPart(track: TrackStore, msn: number, index: number): boolean {
  if (track.pendingParts.length > 0) {
    const newest = track.pendingParts[track.pendingParts.length - 1]!.index;
    if (msn === track.pendingMsn) return index > newest && index <= newest + UPCOMING_PARTS;
    return msn === track.pendingMsn + 1 && index < UPCOMING_PARTS - 1;
  }
  const last = track.lastSegment();
  return msn === (last ? last.msn + 1 : 0) && index < UPCOMING_PARTS;
}

/** Whether segment `msn` is the one in progress (its parts, if any, still coming). */
export function isUpcomingSegment(track: TrackStore, msn: number): boolean {
  const last = track.lastSegment();
  return msn === (last ? last.msn + 1 : 0);
}
