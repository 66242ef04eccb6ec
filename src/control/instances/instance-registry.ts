import { createClient, type RedisClientType } from 'redis';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import { reconnectDelay } from '../events/redis-bus.js';

/** Where a stream's media left off on the instance that last ingested it, for the next one to continue. */
export interface SharedContinuity {
  nextMsn: number;
  discontinuitySequence: number;
  /** ms on the stream's timeline where the media ended */
  endPtsMs: number;
  timelineOriginMs: number | null;
  /** past every init version the stream used */
  nextInitVersion: number;
  /** epoch ms when it was written: the timeline continues by the time since */
  at: number;
  instanceId: string;
}

export interface InstanceRegistryOptions {
  url: string;
  instanceId: string;
  /** base URL other instances reach this one's internal listener at */
  internalUrl: string;
  /** key prefix ("nova:"); tests use their own */
  prefix?: string;
  /** how long an instance that stops refreshing stays listed (5000 ms, at least 3000): a SIGKILLed origin drops out within it */
  ttlMs?: number;
  log: Logger;
}

const CONTINUITY_TTL_MS = 3_600_000;

/**
 * Instances advertise their internal address in Redis under a short TTL,
 * refreshed a few times per TTL, and delete it when they stop: an instance
 * that died stops being an origin anyone connects to within one TTL. Which
 * instance ingests a stream is PostgreSQL's record (streams.instance_id);
 * this answers where that instance can be reached, and keeps each stream's
 * continuity for a publisher that moves.
 */
export class InstanceRegistry {
  private readonly client: RedisClientType;
  private readonly prefix: string;
  private readonly ttlMs: number;
  private readonly heartbeat: PeriodicTask;
  private readonly addresses = new Map<string, { url: string | null; until: number }>();

  constructor(private readonly options: InstanceRegistryOptions) {
    this.prefix = options.prefix ?? 'nova:';
    this.ttlMs = Math.max(3000, options.ttlMs ?? 5000);
    this.client = createClient({
      url: options.url,
      socket: { reconnectStrategy: (retries: number) => reconnectDelay(retries, 2000), connectTimeout: 2000 },
      disableOfflineQueue: true,
    }) as RedisClientType;
    this.client.on('error', (err: Error) => options.log.debug({ err: err.message }, 'instance registry connection error'));
    // every second, on the wake-ups the other 1 s tasks share; several refreshes per TTL
    this.heartbeat = every(1000, () => void this.advertise());
  }

  async start(): Promise<void> {
    await this.client.connect();
    await this.advertise();
  }

  /** The internal base URL of a live instance, or null when it does not advertise itself (it is gone). Cached for a moment. */
  async address(instanceId: string): Promise<string | null> {
    const now = Date.now();
    const cached = this.addresses.get(instanceId);
    if (cached && cached.until > now) return cached.url;
    const url = await this.client.get(this.key(instanceId));
    this.addresses.set(instanceId, { url, until: now + 250 });
    if (this.addresses.size > 1024) this.addresses.clear();
    return url;
  }

  /** Records where a stream's media left off here (fire and forget: a write lost costs a gap in numbering at worst). */
  writeContinuity(streamId: string, state: Omit<SharedContinuity, 'at' | 'instanceId'>): void {
    if (!this.client.isReady) return;
    const value: SharedContinuity = { ...state, at: Date.now(), instanceId: this.options.instanceId };
    this.client.set(this.continuityKey(streamId), JSON.stringify(value), { PX: CONTINUITY_TTL_MS }).catch((err: unknown) => {
      this.options.log.warn({ err, stream: streamId }, 'writing stream continuity failed');
    });
  }

  async readContinuity(streamId: string): Promise<SharedContinuity | null> {
    const raw = await this.client.get(this.continuityKey(streamId));
    if (raw === null) return null;
    try {
      const value = JSON.parse(raw) as SharedContinuity;
      return Number.isSafeInteger(value.nextMsn) && Number.isSafeInteger(value.discontinuitySequence) && Number.isFinite(value.endPtsMs) ? value : null;
    } catch {
      return null;
    }
  }

  async close(): Promise<void> {
    this.heartbeat.cancel();
    if (!this.client.isOpen) return;
    try {
      if (this.client.isReady) await this.client.del(this.key(this.options.instanceId));
    } finally {
      await this.client.quit().catch(() => this.client.disconnect());
    }
  }

  private async advertise(): Promise<void> {
    if (!this.client.isReady) return;
    try {
      await this.client.set(this.key(this.options.instanceId), this.options.internalUrl, { PX: this.ttlMs });
    } catch (err) {
      this.options.log.warn({ err }, 'advertising this instance failed');
    }
  }

  private key(instanceId: string): string {
    return `${this.prefix}instance:${instanceId}`;
  }

  private continuityKey(streamId: string): string {
    return `${this.prefix}stream-continuity:${streamId}`;
  }
}
