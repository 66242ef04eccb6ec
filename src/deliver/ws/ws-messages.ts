import type { StreamEndReason } from '../../ingest/stream-end-reason.js';
import type { RenditionInfo } from '../../package/rendition-info.js';

/**
 * Server → client messages, serialised once per event and fanned out as the
 * same string to every subscriber. Shape (docs/schemas/ws-messages.schema.json):
 * {"type", "v":1, "ts": server epoch ms, "stream_id", "seq", ...payload}.
 * `seq` numbers the broadcasts of one stream on one server, so a client can
 * detect a lost message as a gap; the snapshot carries the last seq sent.
 */

export const WS_PROTOCOL_VERSION = 1;

/** Stream ids are embedded verbatim; the hub admits only ids matching this. */
export const STREAM_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$/;

export interface RenditionMessage {
  name: string;
  width: number;
  height: number;
  bandwidth: number;
  codecs: string;
  frame_rate: number;
}

export function renditionMessages(renditions: readonly RenditionInfo[]): RenditionMessage[] {
  return renditions.map((r) => ({ name: r.name, width: r.width, height: r.height, bandwidth: r.bandwidth, codecs: r.codecs, frame_rate: r.frameRate }));
}

function head(type: string, streamId: string, seq: number, ts: number): string {
  return `{"type":"${type}","v":${WS_PROTOCOL_VERSION},"ts":${ts},"stream_id":"${streamId}","seq":${seq}`;
}

export function streamStartedMessage(streamId: string, seq: number, ts: number, renditions: readonly RenditionInfo[]): string {
  return `${head('stream_started', streamId, seq, ts)},"renditions":${JSON.stringify(renditionMessages(renditions))}}`;
}

export function streamEndedMessage(streamId: string, seq: number, ts: number, reason: StreamEndReason): string {
  return `${head('stream_ended', streamId, seq, ts)},"reason":${JSON.stringify(reason)}}`;
}

export function streamInterruptedMessage(streamId: string, seq: number, ts: number, retryAfterSec: number): string {
  return `${head('stream_interrupted', streamId, seq, ts)},"reason":"origin_unreachable","retry_after":${retryAfterSec}}`;
}

export function streamResumedMessage(streamId: string, seq: number, ts: number): string {
  return `${head('stream_resumed', streamId, seq, ts)}}`;
}

export function qualityChangedMessage(streamId: string, seq: number, ts: number, renditions: readonly RenditionInfo[]): string {
  return `${head('quality_changed', streamId, seq, ts)},"renditions":${JSON.stringify(renditionMessages(renditions))}}`;
}

export function viewerCountMessage(streamId: string, seq: number, ts: number, viewers: number, peak: number): string {
  return `${head('viewer_count_changed', streamId, seq, ts)},"viewers":${viewers},"peak":${peak}}`;
}

export function streamMetricsMessage(
  streamId: string,
  seq: number,
  ts: number,
  viewers: number,
  ingressBitrate: number,
  fps: number,
  renditions: readonly string[],
): string {
  return `${head('stream_metrics', streamId, seq, ts)},"viewers":${viewers},"ingress_bitrate":${finite(ingressBitrate)},"fps":${finite(fps)},"renditions":${JSON.stringify(renditions)}}`;
}

export interface SnapshotFields {
  live: boolean;
  viewers: number;
  peak: number;
  /** this server lost the stream's origin and has not got it back (see stream_interrupted) */
  interrupted: boolean;
  renditions: readonly RenditionInfo[];
  state: object;
}

export function snapshotMessage(streamId: string, seq: number, ts: number, fields: SnapshotFields): string {
  return `${head('snapshot', streamId, seq, ts)},"live":${fields.live},"viewers":${fields.viewers},"peak":${fields.peak},"interrupted":${fields.interrupted},"renditions":${JSON.stringify(
    renditionMessages(fields.renditions),
  )},"state":${JSON.stringify(fields.state)}}`;
}

export function pongMessage(streamId: string, seq: number, ts: number): string {
  return `${head('pong', streamId, seq, ts)}}`;
}

function finite(value: number): number {
  return Number.isFinite(value) ? value : 0;
}
