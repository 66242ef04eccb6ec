import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes, type RateLimiterAbstract } from 'rate-limiter-flexible';
import { createClient, type RedisClientType } from 'redis';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { reconnectDelay } from '../events/redis-bus.js';
import type { ApiRateLimiter } from './api-router.js';

/**
 * REST API rate limits with rate-limiter-flexible: per client, writes
 * (POST, DELETE) and reads (GET) counted apart, and per source address for
 * everything not authenticated as a client (the token endpoint, failed
 * authentication, the public documents). The library counts fixed windows
 * of a minute, not a token bucket: a client can spend a minute's allowance
 * in a burst, never more than twice it across a window edge.
 *
 * With REDIS_URL the counters live in Redis, shared by every instance;
 * while Redis is unreachable each instance counts on its own (the
 * insurance limiter), so losing Redis loosens the limits, never the API.
 * Answers carry the IETF draft's RateLimit and RateLimit-Policy fields
 * (draft-ietf-httpapi-ratelimit-headers-10).
 */

type Policy = 'writes' | 'reads' | 'anonymous';

interface Limiter {
  policy: Policy;
  quota: number;
  limiter: RateLimiterAbstract;
  policyHeader: string;
}

const WINDOW_S = 60;

export class RateLimits implements ApiRateLimiter {
  readonly #limiters: Record<Policy, Limiter>;
  readonly #redis: RedisClientType | null;

  private constructor(limiters: Record<Policy, Limiter>, redis: RedisClientType | null) {
    this.#limiters = limiters;
    this.#redis = redis;
  }

  /** Null when RATE_LIMIT=off. */
  static create(config: Pick<Config, 'rateLimit' | 'redisUrl'>, log: Logger): RateLimits | null {
    const settings = config.rateLimit;
    if (!settings.enabled) return null;
    let redis: RedisClientType | null = null;
    if (config.redisUrl !== null) {
      redis = createClient({
        url: config.redisUrl,
        socket: { reconnectStrategy: (retries: number) => reconnectDelay(retries, 2000), connectTimeout: 2000 },
        disableOfflineQueue: true,
      }) as RedisClientType;
      redis.on('error', (err: Error) => log.debug({ err: err.message }, 'rate limit redis connection error'));
      // Not awaited: the API serves (with per-instance counts) while Redis is away.
      redis.connect().catch((err: unknown) => log.warn({ err }, 'rate limits: redis unreachable, counting per instance'));
    }
    const make = (policy: Policy, quota: number): Limiter => {
      const options = { points: quota, duration: WINDOW_S, keyPrefix: `${settings.redisPrefix}:${policy}` };
      const memory = new RateLimiterMemory(options);
      const limiter =
        redis === null
          ? memory
          : new RateLimiterRedis({ ...options, storeClient: redis, useRedisPackage: true, rejectIfRedisNotReady: true, insuranceLimiter: memory });
      return { policy, quota, limiter, policyHeader: `"${policy}";q=${quota};w=${WINDOW_S}` };
    };
    return new RateLimits(
      {
        writes: make('writes', settings.writesPerMinute),
        reads: make('reads', settings.readsPerMinute),
        anonymous: make('anonymous', settings.anonymousPerMinute),
      },
      redis,
    );
  }

  async consume(key: string, kind: 'read' | 'write'): Promise<{ allowed: boolean; headers: Record<string, string>; retryAfterS: number }> {
    const { policy, quota, limiter, policyHeader } = key.startsWith('ip:') ? this.#limiters.anonymous : kind === 'read' ? this.#limiters.reads : this.#limiters.writes;
    let result: RateLimiterRes;
    let allowed = true;
    try {
      result = await limiter.consume(key, 1);
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      result = err;
      allowed = false;
    }
    const resetS = Math.max(0, Math.ceil(result.msBeforeNext / 1000));
    const remaining = Math.max(0, Math.min(quota, result.remainingPoints));
    return {
      allowed,
      retryAfterS: Math.max(1, resetS),
      headers: { 'ratelimit-policy': policyHeader, ratelimit: `"${policy}";r=${remaining};t=${resetS}` },
    };
  }

  async close(): Promise<void> {
    // quit() waits for a connection that may never come: only a ready client says goodbye.
    if (this.#redis?.isReady) await this.#redis.quit().catch(() => {});
    else if (this.#redis?.isOpen) this.#redis.destroy();
  }
}
