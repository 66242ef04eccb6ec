import type { StreamEndReason } from '../../ingest/stream-end-reason.js';
import type { RenditionInfo } from '../../package/rendition-info.js';

/**
 * Events of a stream's life, carried by the event bus (in-process or Redis).
 * The WebSocket hub turns them into client messages; other instances learn
 * of streams ingested elsewhere through them.
 */

export type StreamEvent =
  | { type: 'stream_created'; streamId: string; instanceId: string; at: number; title: string; private: boolean }
  | { type: 'stream_started'; streamId: string; instanceId: string; at: number; renditions: RenditionInfo[] }
  | { type: 'stream_ended'; streamId: string; instanceId: string; at: number; reason: StreamEndReason }
  | { type: 'quality_changed'; streamId: string; instanceId: string; at: number; renditions: RenditionInfo[] }
  | { type: 'stream_errored'; streamId: string; instanceId: string; at: number; reason: string }
  | { type: 'key_revoked'; streamId: string; instanceId: string; at: number }
  /** a webhook endpoint disabled after failing for its whole retry window; streamId holds the webhook's id (its partition key) */
  | { type: 'webhook_disabled'; streamId: string; instanceId: string; at: number; url: string; reason: string }
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

/**
 * The events others must not miss: written to the outbox in the transaction of
 * the change they announce and carried by the event log (consumer groups, DLQ).
 * The rest (metrics, viewer counts) are ephemeral: a stale one replayed later
 * is worse than none, so they stay on the bus alone.
 */
export type DurableStreamEvent = Extract<
  StreamEvent,
  { type: 'stream_created' | 'stream_started' | 'stream_ended' | 'stream_errored' | 'quality_changed' | 'key_revoked' | 'webhook_disabled' }
>;

export const DURABLE_EVENT_TYPES: ReadonlySet<StreamEventType> = new Set<DurableStreamEvent['type']>([
  'stream_created',
  'stream_started',
  'stream_ended',
  'stream_errored',
  'quality_changed',
  'key_revoked',
  'webhook_disabled',
]);

export interface EventBus {
  publish(event: StreamEvent): void;
  /**
   * Hands local subscribers an event that crossed instances by another path
   * (the event log's consumer for this instance): delivered here only, never
   * sent on. Redis' bus also learns from it which streams live where.
   */
  receive(event: StreamEvent): void;
  /** Returns the unsubscribe function. Handlers must not throw; a throwing handler is logged and counted. */
  subscribe(handler: (event: StreamEvent) => void): () => void;
  close(): Promise<void>;
}
