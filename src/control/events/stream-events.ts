import type { StreamEndReason } from '../../ingest/stream-end-reason.js';
import type { RenditionInfo } from '../../package/rendition-info.js';

/**
 * Events of a stream's life, carried by the event bus (in-process or Redis).
 * The WebSocket hub turns them into client messages; other instances learn
 * of streams ingested elsewhere through them.
 */

export type StreamEvent =
  | { type: 'stream_started'; streamId: string; instanceId: string; at: number; renditions: RenditionInfo[] }
  | { type: 'stream_ended'; streamId: string; instanceId: string; at: number; reason: StreamEndReason }
  | { type: 'quality_changed'; streamId: string; instanceId: string; at: number; renditions: RenditionInfo[] }
  | {
      type: 'stream_metrics';
      streamId: string;
      instanceId: string;
      at: number;
      ingressBitrate: number;
      fps: number;
      renditions: string[];
    }
  | { type: 'viewer_count_changed'; streamId: string; instanceId: string; at: number; viewers: number; peak: number };

export type StreamEventType = StreamEvent['type'];

export interface EventBus {
  publish(event: StreamEvent): void;
  /** Returns the unsubscribe function. Handlers must not throw; a throwing handler is logged and counted. */
  subscribe(handler: (event: StreamEvent) => void): () => void;
  close(): Promise<void>;
}
