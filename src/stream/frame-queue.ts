import { NovaError } from '../errors.js';
import { ByteRing } from './byte-ring.js';
import type { AudioTrackConfig, FrameSink, MediaFrame, StreamMetadata, VideoTrackConfig } from './media-frame.js';

/*
 * The per-stream frame queue: the media model serialised as typed records
 * over a ByteRing, so a consumer in another thread (transcode feeder,
 * recorder) sees exactly what the FrameSink of the demuxer saw.
 *
 * Every record starts with a fixed 24-byte little-endian header:
 *   0  kind     u8   RecordKind
 *   1  flags    u8   bit 0: keyframe
 *   2  reserved u16
 *   4  cts      i32  pts − dts, ms (frames only)
 *   8  dts      f64  ms (frames only; f64 holds integer ms exactly for 285 000 years)
 *   16 length   u32  payload bytes that follow
 *   20 reserved u32
 * Payloads: frame → the access unit bytes; video config → width u32,
 * height u32, frameRate f64, codecString (u8 length + ASCII), avcC (rest);
 * audio config → sampleRate u32, channels u32, codecString (u8 length +
 * ASCII), ASC (rest); metadata → JSON (UTF-8); end → reason (UTF-8);
 * segment start → msn u32, reserved u32, pts f64 (ms), programDateTime f64
 * (epoch ms). A segment start record comes right before the keyframe that
 * opens that segment of the source rendition, so a consumer packaging other
 * renditions (the transcoder) cuts at the same frames with the same msn.
 */
export const FRAME_RECORD_HEADER_BYTES = 24;

export const RecordKind = {
  VideoFrame: 1,
  AudioFrame: 2,
  VideoConfig: 3,
  AudioConfig: 4,
  Metadata: 5,
  End: 6,
  SegmentStart: 7,
} as const;
export type RecordKind = (typeof RecordKind)[keyof typeof RecordKind];

const FLAG_KEYFRAME = 1;
const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder();

/** What a frame queue delivers to: the media model plus the end of the stream. */
export interface FrameQueueSink extends FrameSink {
  end(reason: string): void;
  /** the source rendition's segment `msn` starts with the next video frame (pts ms, wall clock epoch ms) */
  segmentStart?(msn: number, pts: number, programDateTime: number): void;
}

const SEGMENT_START_BYTES = 24;

/**
 * Producer side. Every write returns false when the ring is full (nothing
 * written: the caller drops or retries) and wakes the reader when it succeeds.
 */
export class FrameQueueWriter {
  readonly ring: ByteRing;
  private readonly header = new Uint8Array(FRAME_RECORD_HEADER_BYTES);
  private readonly headerView = new DataView(this.header.buffer);
  private readonly segmentStartBytes = new Uint8Array(SEGMENT_START_BYTES);
  private readonly segmentStartView = new DataView(this.segmentStartBytes.buffer);

  constructor(ring: ByteRing) {
    this.ring = ring;
  }

  writeFrame(frame: MediaFrame): boolean {
    const cts = frame.pts - frame.dts;
    this.setHeader(
      frame.track === 'video' ? RecordKind.VideoFrame : RecordKind.AudioFrame,
      frame.keyframe ? FLAG_KEYFRAME : 0,
      cts,
      frame.dts,
      frame.data.length,
    );
    return this.commit(this.ring.tryWrite(this.header, frame.data));
  }

  writeVideoConfig(config: VideoTrackConfig): boolean {
    const codec = asciiBytes(config.codecString);
    const fields = new Uint8Array(16 + 1 + codec.length);
    const view = new DataView(fields.buffer);
    view.setUint32(0, config.width, true);
    view.setUint32(4, config.height, true);
    view.setFloat64(8, config.frameRate, true);
    fields[16] = codec.length;
    fields.set(codec, 17);
    this.setHeader(RecordKind.VideoConfig, 0, 0, 0, fields.length + config.avcC.length);
    return this.commit(this.ring.tryWrite(this.header, fields, config.avcC));
  }

  writeAudioConfig(config: AudioTrackConfig): boolean {
    const codec = asciiBytes(config.codecString);
    const fields = new Uint8Array(8 + 1 + codec.length);
    const view = new DataView(fields.buffer);
    view.setUint32(0, config.sampleRate, true);
    view.setUint32(4, config.channels, true);
    fields[8] = codec.length;
    fields.set(codec, 9);
    this.setHeader(RecordKind.AudioConfig, 0, 0, 0, fields.length + config.asc.length);
    return this.commit(this.ring.tryWrite(this.header, fields, config.asc));
  }

  writeMetadata(meta: StreamMetadata): boolean {
    const json = textEncoder.encode(JSON.stringify(meta));
    this.setHeader(RecordKind.Metadata, 0, 0, 0, json.length);
    return this.commit(this.ring.tryWrite(this.header, json));
  }

  /** Marks that the next video frame opens segment `msn` of the source rendition (see the layout above). */
  writeSegmentStart(msn: number, pts: number, programDateTime: number): boolean {
    const view = this.segmentStartView;
    view.setUint32(0, msn, true);
    view.setFloat64(8, pts, true);
    view.setFloat64(16, programDateTime, true);
    this.setHeader(RecordKind.SegmentStart, 0, 0, 0, SEGMENT_START_BYTES);
    return this.commit(this.ring.tryWrite(this.header, this.segmentStartBytes));
  }

  /** Last record of the stream; also closes the ring so a waiting reader learns it is done. */
  writeEnd(reason: string): boolean {
    const text = textEncoder.encode(reason);
    this.setHeader(RecordKind.End, 0, 0, 0, text.length);
    const written = this.ring.tryWrite(this.header, text);
    if (written) this.ring.close();
    return written;
  }

  private setHeader(kind: RecordKind, flags: number, cts: number, dts: number, length: number): void {
    const view = this.headerView;
    view.setUint8(0, kind);
    view.setUint8(1, flags);
    view.setInt32(4, cts, true);
    view.setFloat64(8, dts, true);
    view.setUint32(16, length, true);
  }

  private commit(written: boolean): boolean {
    if (written) this.ring.notify();
    return written;
  }
}

function asciiBytes(text: string): Uint8Array {
  const bytes = textEncoder.encode(text);
  if (bytes.length > 255) throw new NovaError('NOVA_ERR_INTERNAL', 'codec string longer than 255 bytes');
  return bytes;
}

/**
 * Consumer side. Frames are delivered as one reused MediaFrame whose data is
 * a view into the ring, valid only during the sink call; configs and
 * metadata are fresh objects with copied bytes (rare, and kept by sinks).
 */
export class FrameQueueReader {
  readonly ring: ByteRing;
  private readonly frame: MediaFrame = { track: 'video', dts: 0, pts: 0, keyframe: false, data: new Uint8Array(0) };
  /** header numbers are assembled here rather than through a DataView per record */
  private readonly numberBytes = new Uint8Array(8);
  private readonly numberView = new DataView(this.numberBytes.buffer);

  constructor(ring: ByteRing) {
    this.ring = ring;
    ring.markConsumerAttached();
  }

  /** True once the writer closed the ring and every record has been read. */
  get done(): boolean {
    return this.ring.closed && this.ring.bytesUsed === 0;
  }

  /** Waits for records (see ByteRing.waitForData). */
  waitForData(timeoutMs: number): Promise<'ok' | 'timed-out'> {
    return this.ring.waitForData(timeoutMs);
  }

  /** Delivers up to `maxRecords` available records to the sink; returns how many. */
  read(sink: FrameQueueSink, maxRecords = Number.POSITIVE_INFINITY): number {
    let delivered = 0;
    while (delivered < maxRecords) {
      const record = this.ring.read();
      if (record === null) break;
      this.deliver(record, sink);
      delivered++;
    }
    this.ring.release();
    return delivered;
  }

  private deliver(record: Uint8Array, sink: FrameQueueSink): void {
    if (record.length < FRAME_RECORD_HEADER_BYTES) {
      throw new NovaError('NOVA_ERR_INTERNAL', `frame queue record of ${record.length} bytes is shorter than its header`);
    }
    const kind = record[0];
    const length = (record[16] | (record[17] << 8) | (record[18] << 16) | (record[19] << 24)) >>> 0;
    if (FRAME_RECORD_HEADER_BYTES + length !== record.length) {
      throw new NovaError('NOVA_ERR_INTERNAL', 'frame queue record length mismatch');
    }
    switch (kind) {
      case RecordKind.VideoFrame:
      case RecordKind.AudioFrame: {
        const bytes = this.numberBytes;
        for (let i = 0; i < 8; i++) bytes[i] = record[8 + i];
        const frame = this.frame;
        frame.track = kind === RecordKind.VideoFrame ? 'video' : 'audio';
        frame.dts = this.numberView.getFloat64(0, true);
        frame.pts = frame.dts + (record[4] | (record[5] << 8) | (record[6] << 16) | (record[7] << 24));
        frame.keyframe = (record[1] & FLAG_KEYFRAME) !== 0;
        frame.data = record.subarray(FRAME_RECORD_HEADER_BYTES);
        sink.frame(frame);
        return;
      }
      default:
        // TextDecoder refuses views of shared memory in some runtimes: copy the rare non-frame records out first.
        this.deliverControl(kind, record.slice(FRAME_RECORD_HEADER_BYTES), sink);
    }
  }

  private deliverControl(kind: number, payload: Uint8Array, sink: FrameQueueSink): void {
    switch (kind) {
      case RecordKind.VideoConfig: {
        const fields = new DataView(payload.buffer, payload.byteOffset, payload.length);
        const codecLength = payload[16];
        if (payload.length < 17 || payload.length < 17 + codecLength) throw new NovaError('NOVA_ERR_INTERNAL', 'video config record truncated');
        sink.videoConfig({
          codec: 'h264',
          width: fields.getUint32(0, true),
          height: fields.getUint32(4, true),
          frameRate: fields.getFloat64(8, true),
          codecString: textDecoder.decode(payload.subarray(17, 17 + codecLength)),
          avcC: payload.subarray(17 + codecLength),
        });
        return;
      }
      case RecordKind.AudioConfig: {
        const fields = new DataView(payload.buffer, payload.byteOffset, payload.length);
        const codecLength = payload[8];
        if (payload.length < 9 || payload.length < 9 + codecLength) throw new NovaError('NOVA_ERR_INTERNAL', 'audio config record truncated');
        sink.audioConfig({
          codec: 'aac',
          sampleRate: fields.getUint32(0, true),
          channels: fields.getUint32(4, true),
          codecString: textDecoder.decode(payload.subarray(9, 9 + codecLength)),
          asc: payload.subarray(9 + codecLength),
        });
        return;
      }
      case RecordKind.Metadata:
        sink.metadata(JSON.parse(textDecoder.decode(payload)) as StreamMetadata);
        return;
      case RecordKind.End:
        sink.end(textDecoder.decode(payload));
        return;
      case RecordKind.SegmentStart: {
        if (payload.length !== SEGMENT_START_BYTES) throw new NovaError('NOVA_ERR_INTERNAL', 'segment start record of the wrong size');
        const fields = new DataView(payload.buffer, payload.byteOffset, payload.length);
        sink.segmentStart?.(fields.getUint32(0, true), fields.getFloat64(8, true), fields.getFloat64(16, true));
        return;
      }
      default:
        throw new NovaError('NOVA_ERR_INTERNAL', `unknown frame queue record kind ${kind}`);
    }
  }
}
