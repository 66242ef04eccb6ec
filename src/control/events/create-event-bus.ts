import type { Logger } from '../../log.js';
import { LocalEventBus } from './local-bus.js';
import { RedisEventBus } from './redis-bus.js';

/** The bus the configuration asks for: Redis pub/sub across instances when REDIS_URL is set, in-process otherwise. */
export function createEventBus(
  config: { redisUrl: string | null; instanceId: string },
  log: Logger,
  options: { channel?: string; onHandlerError?: (err: unknown) => void } = {},
): LocalEventBus | RedisEventBus {
  const onHandlerError = options.onHandlerError ?? ((err: unknown) => log.error({ err }, 'event handler threw'));
  if (config.redisUrl === null) return new LocalEventBus(onHandlerError);
  return new RedisEventBus({
    url: config.redisUrl,
    instanceId: config.instanceId,
    channel: options.channel ?? 'nova:events',
    log: log.child({ component: 'redis-bus' }),
    onHandlerError,
  });
}
