import { performance } from 'node:perf_hooks';
import { NovaError } from '../errors.js';
import { RtmpServerSession } from './rtmp/rtmp-server-session.js';
import { CapsExMask } from './rtmp/reconnect-request.js';
import { FlvDemuxer } from '../demux/flv/flv-demuxer.js';
import { FrameQueueWriter } from '../stream/frame-queue.js';
import { ByteRing } from '../stream/byte-ring.js';
import { PartArenaWriter } from '../stream/part-arena.js';
import { mediaMessageOf, mediaTransferList } from '../package/media-message.js';
import { Segmenter } from '../package/segmenter.js';
import type { PackagedMedia } from '../package/packaged-media.js';
import type {
  AudioTrackConfig,
  FrameSink,
  MediaFrame,
  StreamMetadata,
  VideoTrackConfig,
} from '../stream/media-frame.js';
import type { IngestLimits, MainToWorker, StreamResumeState, WorkerToMain } from './ingest-messages.js';

const MAX_LATENCY_SAMPLES = 4096;
/** the new session's first frame lands this far after the old one's last: about one frame */
const RESUME_GAP_MS = 40;
/**
 * One RTMP publisher's whole pipeline, socket bytes in, packaged media out:
 * RTMP session → FLV demuxer → (per-stream frame queue, packager).
 * A plain class: the pool task (workers/ingest-connection.worker.ts) is a
 * thin adapter around it, and tests run it inline.
 */
export class IngestConnection implements FrameSink {
  private readonly session: RtmpServerSession;
  private readonly demuxer: FlvDemuxer;
  private segmenter: Segmenter | null = null;
  /** only for a stream a consumer reads frame by frame (the transcoder), fed from its first frame */
  private frameQueue: FrameQueueWriter | null = null;
  private video: VideoTrackConfig | null = null;
  private audio: AudioTrackConfig | null = null;
  private publishing = false;
  /**
   * Asked to reconnect elsewhere (a drain) and able to: the next keyframe starts the publisher's
   * segment on the other instance, which numbers on from the segment in progress here (the stream's
   * shared continuity). Packaging stops at that keyframe (handedOff), so this instance never begins
   * a segment the other one begins too: an edge following the stream would keep the first it got
   * and drop the other's, discontinuity and all.
   */
  private handingOff = false;
  private handedOff = false;
  private closed = false;
  private chunkReceivedAt = 0;
  /** true while socket bytes are processed: a segment emitted then was completed by those bytes */
  private inPush = false;

  // per-stats-interval counters
  private bytes = 0;
  private videoFrames = 0;
  private audioFrames = 0;
  private droppedFrames = 0;
  private latencies = new Float64Array(MAX_LATENCY_SAMPLES);
  private latencyCount = 0;
  private lastPtsMs = 0;
  private nextMsn = 0;
  /** added to every timestamp so a republish continues the stream's timeline */
  private timelineOffsetMs = 0;
  private timelineStartMs: number | null = null;
  private unpublished = false;
  /** where parts are written for the main thread to serve */
  private readonly parts: PartArenaWriter;
  /** per track, when (epoch ms, the record's receive time) the bytes that completed its latest part arrived; NaN before the track's config */
  private videoPartReadAt = Number.NaN;
  private audioPartReadAt = Number.NaN;

  constructor(
    private readonly limits: IngestLimits,
    private readonly emit: (message: WorkerToMain, transfer?: ArrayBuffer[]) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.session = new RtmpServerSession(
      {
        send: (bytes) => this.emit({ type: 'send', bytes }),
        onPublishRequest: (app, streamName, tcUrl) => this.emit({ type: 'publish', app, streamName, tcUrl, capsEx: this.session.peerCapsEx }),
        onUnpublish: () => this.unpublish(),
        onMetadata: (meta) => this.demuxer.metadata(meta),
        onVideo: (timestamp, body) => {
          if (!this.publishing || this.handedOff) return;
          if (this.handingOff && isKeyframe(body)) {
            this.handedOff = true;
            return;
          }
          this.demuxer.video(timestamp, body);
        },
        onAudio: (timestamp, body) => {
          if (this.publishing && !this.handedOff) this.demuxer.audio(timestamp, body);
        },
      },
      { maxMessageBytes: limits.maxMessageBytes, maxChunkSize: limits.maxChunkSize },
    );
    this.demuxer = new FlvDemuxer(this);
    this.parts = new PartArenaWriter(limits.partArena, (buffer) => this.emit({ type: 'part_arena', buffer }), undefined, now);
  }

  get state(): RtmpServerSession['state'] {
    return this.session.state;
  }

  /** Socket bytes pushed so far, handshake included. */
  get bytesReceived(): number {
    return this.session.bytesReceived;
  }

  /** Socket bytes; receivedAt is when they arrived, epoch ms (the native reader's estimate, or the read in JavaScript). Throws NovaError on a protocol violation. */
  push(bytes: Uint8Array, receivedAt: number): void {
    this.chunkReceivedAt = receivedAt;
    this.bytes += bytes.byteLength;
    this.inPush = true;
    try {
      this.session.push(bytes);
    } finally {
      this.inPush = false;
    }
  }

  handle(message: MainToWorker): void {
    if (message.type === 'publish_accepted') {
      this.frameQueue = message.frameQueue !== null ? new FrameQueueWriter(ByteRing.attach(message.frameQueue)) : null;
      this.startPackaging(message.resume, message.tsWanted);
      this.publishing = true;
      this.session.acceptPublish();
    } else if (message.type === 'publish_rejected') {
      this.session.rejectPublish(message.code, message.description);
    } else if (message.type === 'ts_wanted') {
      // sent only for a live stream, so after publish_accepted on this port: the segmenter exists
      this.segmenter?.enableTs();
    } else if (message.type === 'reconnect_request') {
      // a client that announced Reconnect support moves at its next keyframe: packaging stops there
      if (this.session.requestReconnect(message.request) && (this.session.peerCapsEx & CapsExMask.reconnect) !== 0 && !this.handingOff) {
        this.handingOff = true;
        this.emit({ type: 'handing_off', openMsn: this.segmenter?.currentVideoMsn ?? -1 });
      }
    }
  }

  private startPackaging(resume: StreamResumeState | null, tsWanted: boolean): void {
    this.nextMsn = resume?.nextMsn ?? 0;
    this.timelineStartMs = resume?.timelineStartMs ?? null;
    this.segmenter = new Segmenter(
      {
        rendition: 'source',
        targetDurationMs: this.limits.targetDurationMs,
        partTargetMs: this.limits.partTargetMs,
        now: this.now,
        startMsn: this.nextMsn,
        // the segment store serves CMAF segments from the parts it already holds: each byte crosses threads once
        cmafSegmentBytes: false,
        allocatePart: this.parts.allocate,
        // MPEG-TS only once a TS client asks (MediaMTX's default too): a quarter of the packaging work otherwise wasted
        outputs: { ts: tsWanted },
        onLongGop: (observedMs: number) => this.emit({ type: 'long_gop', observedMs }),
      },
      (media: PackagedMedia) => this.forwardMedia(media),
    );
    if (resume?.discontinuity) this.segmenter.discontinuity();
  }

  private forwardMedia(media: PackagedMedia): void {
    if (media.kind === 'part' && this.inPush) {
      if (media.track === 'video') this.videoPartReadAt = this.chunkReceivedAt;
      else this.audioPartReadAt = this.chunkReceivedAt;
    }
    if (media.kind === 'segment') {
      this.nextMsn = media.msn + 1;
      // segment generation time starts at the arrival of what completed it (not at an idle timeout's flush)
      if (this.inPush) media.completedReceivedAt = this.chunkReceivedAt;
    }
    const message = mediaMessageOf(this.parts, media);
    this.emit({ type: 'media', ...message }, mediaTransferList(message));
  }

  // FrameSink ---------------------------------------------------------------

  videoConfig(config: VideoTrackConfig): void {
    if (this.video === null) this.videoPartReadAt = this.chunkReceivedAt;
    this.video = { ...config, avcC: config.avcC.slice() };
    this.frameQueue?.writeVideoConfig(config);
    this.segmenter?.videoConfig(config);
    this.emit({ type: 'tracks', video: this.video, audio: this.audio });
  }

  audioConfig(config: AudioTrackConfig): void {
    if (this.audio === null) this.audioPartReadAt = this.chunkReceivedAt;
    this.audio = { ...config, asc: config.asc.slice() };
    this.frameQueue?.writeAudioConfig(config);
    this.segmenter?.audioConfig(config);
    this.emit({ type: 'tracks', video: this.video, audio: this.audio });
  }

  metadata(meta: StreamMetadata): void {
    this.frameQueue?.writeMetadata(meta);
    this.segmenter?.metadata(meta);
  }

  frame(frame: MediaFrame): void {
    if (this.timelineStartMs !== null) {
      this.timelineOffsetMs = this.timelineStartMs - frame.dts;
      this.timelineStartMs = null;
    }
    if (this.timelineOffsetMs !== 0) {
      frame.dts += this.timelineOffsetMs;
      frame.pts += this.timelineOffsetMs;
    }
    if (frame.track === 'video') this.videoFrames++;
    else this.audioFrames++;
    if (frame.pts > this.lastPtsMs) this.lastPtsMs = frame.pts;
    // Package first: whether this frame opens a segment is then known, and the frame
    // queue tells its consumer (the transcoder) so every rendition cuts at the same frame.
    const segmenter = this.segmenter;
    const segmentsBefore = segmenter !== null ? segmenter.videoSegmentsOpened : 0;
    segmenter?.frame(frame);
    const frameQueue = this.frameQueue;
    if (frameQueue !== null) {
      if (segmenter !== null && segmenter.videoSegmentsOpened !== segmentsBefore) {
        frameQueue.writeSegmentStart(segmenter.currentVideoMsn, frame.pts, segmenter.wallClockAt(frame.pts));
      }
      // The frame queue is for consumers that may lag (the transcoder): when it is full the
      // frame is dropped for them and counted; packaging above never waits on it.
      if (!frameQueue.writeFrame(frame)) this.droppedFrames++;
    }
    if (this.latencyCount < MAX_LATENCY_SAMPLES) {
      this.latencies[this.latencyCount++] = performance.timeOrigin + performance.now() - this.chunkReceivedAt;
    }
  }

  // -------------------------------------------------------------------------

  /** Sends the counters gathered since the last call. */
  flushStats(): void {
    const latencies = this.latencies.slice(0, this.latencyCount);
    this.emit(
      {
        type: 'stats',
        bytes: this.bytes,
        videoFrames: this.videoFrames,
        audioFrames: this.audioFrames,
        latencies,
        timestampRepairs: this.demuxer.stats.timestampRepairs,
        droppedFrames: this.droppedFrames,
        partArenaFallbacks: this.parts.fallbacks,
        lastPtsMs: this.lastPtsMs,
        nextMsn: this.nextMsn,
      },
      [latencies.buffer],
    );
    this.bytes = 0;
    this.videoFrames = 0;
    this.audioFrames = 0;
    this.droppedFrames = 0;
    this.parts.fallbacks = 0;
    this.latencyCount = 0;
  }

  private unpublish(): void {
    if (!this.publishing) return;
    this.publishing = false;
    this.unpublished = true;
    this.finishStream('unpublished');
    this.emit({ type: 'unpublish' });
  }

  /** Ends packaging (flushes the last partial segment) and the frame queue. Idempotent. */
  finishStream(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.segmenter?.end();
    this.parts.close(); // after the last part
    this.frameQueue?.writeEnd(reason);
    this.flushStats();
    // A republish on the same key continues numbering and timeline after a discontinuity.
    this.emit({
      type: 'resume_state',
      state: { nextMsn: this.nextMsn, timelineStartMs: this.lastPtsMs + RESUME_GAP_MS, discontinuity: true },
    });
  }

  /**
   * When the bytes completing the stream's next part should have arrived (epoch ms): a
   * publisher sends in real time, so a track's next part is cut about a part target after
   * the bytes that cut its last one; the later of the two tracks', or at once when an audio
   * part waits only on the next frames (see Segmenter.audioCutPending). The later, not the
   * earlier: a player needs a part of each track to play that stretch, so cutting the first
   * track's part on its own look delivered nothing sooner and cost a second wake-up of both
   * threads per part target (CPU per 10 s stream 132/129 -> 104/91 ms, worker ~11 -> ~7.5
   * wake-ups a second). NaN when frames are wanted
   * one by one: before packaging starts, or while a consumer reads the frame queue (the
   * transcoder feeds FFmpeg as frames come). Until a part is due nobody can see the frames
   * in between (players get parts, not frames), so the worker may leave them in the socket or ring.
   */
  nextPartDueAt(): number {
    const segmenter = this.segmenter;
    if (segmenter === null || this.frameQueue !== null) return Number.NaN;
    // an audio part or segment waits on the next frames only: due as soon as they are read
    if (segmenter.audioCutPending) return this.chunkReceivedAt;
    const partMs = this.limits.partTargetMs;
    const video = this.videoPartReadAt + partMs;
    const audio = this.audioPartReadAt + partMs;
    if (Number.isNaN(video)) return audio;
    return Number.isNaN(audio) ? video : Math.max(video, audio);
  }

  wasUnpublished(): boolean {
    return this.unpublished;
  }

  isPublishing(): boolean {
    return this.publishing;
  }
}

export function isProtocolError(err: unknown): err is NovaError {
  return err instanceof NovaError;
}

/**
 * An FLV video tag body is a keyframe's coded picture: its frame type (bits 4-6 of the first byte,
 * the same place in legacy and Enhanced RTMP tags) is 1, and it is not a sequence header (legacy:
 * AVCPacketType 1, NALUs; Enhanced: packet type CodedFrames or CodedFramesX).
 */
function isKeyframe(body: Uint8Array): boolean {
  if (body.byteLength < 2 || ((body[0]! >> 4) & 0x07) !== 1) return false;
  if ((body[0]! & 0x80) === 0) return body[1] === 1;
  const packetType = body[0]! & 0x0f;
  return packetType === 1 || packetType === 3;
}
