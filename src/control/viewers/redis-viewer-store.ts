import { createClient, type RedisClientType } from 'redis';
import type { Logger } from '../../log.js';
import { reconnectDelay } from '../events/redis-bus.js';

/**
 * Where instances share their viewer counts.
 *
 * Each instance owns one hash `<prefix>viewers:<instanceId>` (stream → local
 * count) rewritten on every heartbeat with a TTL, and a member of the ZSET
 * `<prefix>viewer-instances` scored by its expiry time. The global count of a
 * stream is the sum over instances whose heartbeat has not expired, so an
 * instance that dies (kill -9) stops counting within one TTL without anyone
 * cleaning up after it.
 */
export interface ViewerCountStore {
  /** Writes this instance's counts and returns the other live instances' counts summed per stream. */
  exchange(localCounts: ReadonlyMap<string, number>): Promise<Map<string, number>>;
  close(): Promise<void>;
}

export interface RedisViewerStoreOptions {
  url: string;
  instanceId: string;
  /** Key prefix ("nova:"); tests use a unique one per run. */
  prefix?: string;
  /** Heartbeat TTL (10000 ms): how long a silent instance keeps counting. */
  ttlMs?: number;
  log: Logger;
}

export class RedisViewerStore implements ViewerCountStore {
  private readonly client: RedisClientType;
  private readonly instanceKey: string;
  private readonly instancesKey: string;
  private readonly prefix: string;
  private readonly instanceId: string;
  private readonly ttlMs: number;

  constructor(options: RedisViewerStoreOptions) {
    this.prefix = options.prefix ?? 'nova:';
    this.instanceId = options.instanceId;
    this.instanceKey = `${this.prefix}viewers:${options.instanceId}`;
    this.instancesKey = `${this.prefix}viewer-instances`;
    this.ttlMs = options.ttlMs ?? 10_000;
    this.client = createClient({
      url: options.url,
      socket: { reconnectStrategy: (retries: number) => reconnectDelay(retries, 2000), connectTimeout: 2000 },
      disableOfflineQueue: true,
    }) as RedisClientType;
    this.client.on('error', (err: Error) => options.log.debug({ err: err.message }, 'redis viewer store connection error'));
    void this.client.connect().catch((err: unknown) => options.log.warn({ err }, 'redis viewer store did not connect'));
  }

  get isReady(): boolean {
    return this.client.isReady;
  }

  async exchange(localCounts: ReadonlyMap<string, number>): Promise<Map<string, number>> {
    if (!this.client.isReady) throw new Error('redis viewer store not connected');
    const now = Date.now();
    const fields: Array<[string, string]> = [];
    for (const [streamId, count] of localCounts) if (count > 0) fields.push([streamId, String(count)]);
    const multi = this.client.multi().del(this.instanceKey);
    if (fields.length > 0) multi.hSet(this.instanceKey, fields);
    const replies = await multi
      .pExpire(this.instanceKey, this.ttlMs)
      .zAdd(this.instancesKey, { score: now + this.ttlMs, value: this.instanceId })
      .zRemRangeByScore(this.instancesKey, '-inf', now)
      .zRangeByScore(this.instancesKey, now, '+inf')
      .exec();
    const live = replies[replies.length - 1] as unknown as string[];
    const others = live.filter((id) => id !== this.instanceId);
    const remote = new Map<string, number>();
    if (others.length === 0) return remote;
    const pipeline = this.client.multi();
    for (const id of others) pipeline.hGetAll(`${this.prefix}viewers:${id}`);
    const hashes = (await pipeline.execAsPipeline()) as unknown as Array<Record<string, string>>;
    for (const hash of hashes) {
      for (const streamId in hash) {
        const count = Number(hash[streamId]);
        if (Number.isFinite(count) && count > 0) remote.set(streamId, (remote.get(streamId) ?? 0) + count);
      }
    }
    return remote;
  }

  async close(): Promise<void> {
    if (!this.client.isOpen) return;
    try {
      if (this.client.isReady) await this.client.multi().del(this.instanceKey).zRem(this.instancesKey, this.instanceId).exec();
    } catch {
      // best effort: the TTL removes us anyway
    }
    this.client.destroy();
  }
}
