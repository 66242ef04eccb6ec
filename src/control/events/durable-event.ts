import { DURABLE_EVENT_TYPES, type DurableStreamEvent } from './stream-events.js';

/**
 * A durable event as the outbox stores it and the event log carries it. Its
 * place is (partition, seq): one partition holds every event of a stream,
 * and seq numbers them 1, 2, 3… in commit order without gaps, which is what
 * lets the relay refuse duplicates and consumers see order and loss.
 */
export interface DurableEvent {
  /** UUID: the identity consumers deduplicate by (a webhook's webhook-id) */
  id: string;
  partition: number;
  seq: number;
  streamId: string;
  type: DurableStreamEvent['type'];
  /** when the change was committed (ms, the writer's clock) */
  createdAt: number;
  event: DurableStreamEvent;
}

/**
 * The partition of a stream: FNV-1a of its id, so every instance computes the
 * same one. The count is fixed for a deployment: changing it moves streams
 * between partitions and their order across the change is not kept.
 */
export function partitionOf(streamId: string, partitions: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < streamId.length; i++) {
    hash ^= streamId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

export function encodeDurableEvent(event: DurableEvent): string {
  return JSON.stringify(event);
}

/** The event in `text`, or null when it is not one (a foreign or corrupt entry goes to the dead letters, never crashes a consumer). */
export function decodeDurableEvent(text: string): DurableEvent | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const e = value as Record<string, unknown>;
  const inner = e.event as Record<string, unknown> | null | undefined;
  if (
    typeof e.id !== 'string' ||
    !Number.isSafeInteger(e.partition) ||
    !Number.isSafeInteger(e.seq) ||
    typeof e.streamId !== 'string' ||
    typeof e.type !== 'string' ||
    !DURABLE_EVENT_TYPES.has(e.type as DurableStreamEvent['type']) ||
    typeof e.createdAt !== 'number' ||
    typeof inner !== 'object' ||
    inner === null ||
    inner.type !== e.type ||
    inner.streamId !== e.streamId
  ) {
    return null;
  }
  return value as DurableEvent;
}
