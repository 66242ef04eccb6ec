import type { Registry } from 'prom-client';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { Breakers } from '../../ops/breakers.js';
import type { EventConsumer } from '../events/event-consumer.js';
import type { EventPipeline } from '../events/event-pipeline.js';
import { WebhookDispatcher } from './webhook-dispatcher.js';
import type { WebhookRepository } from './webhook-repository.js';

export interface Webhooks {
  readonly repo: WebhookRepository;
  readonly dispatcher: WebhookDispatcher;
  readonly consumer: EventConsumer;
  close(): Promise<void>;
}

/**
 * Webhooks on this instance: the "webhooks" consumer group (shared by every
 * instance: each event is turned into deliveries once) and the dispatcher that
 * sends due deliveries. The API is the REST router's (src/control/api/webhooks-routes.ts).
 */
export function startWebhooks(
  config: Pick<Config, 'webhooks'>,
  repo: WebhookRepository,
  /** the embedded database's one instance wakes its own dispatcher; with PostgreSQL others enqueue too */
  databaseKind: 'pglite' | 'postgres',
  events: EventPipeline,
  breakers: Breakers,
  registry: Registry,
  log: Logger,
): Webhooks {
  const dispatcher = new WebhookDispatcher({
    repo,
    breakers,
    registry,
    logger: log.child({ component: 'webhook-dispatcher' }),
    allowInternal: config.webhooks.allowPrivate,
    timeoutMs: config.webhooks.timeoutMs,
    retryWindowMs: config.webhooks.retryWindowMs,
    retryBaseMs: config.webhooks.retryBaseMs,
    concurrency: config.webhooks.concurrency,
    breakerResetMs: config.webhooks.breakerResetMs,
    // the embedded database has one instance, which wakes its own dispatcher; on PostgreSQL others may enqueue
    ...(databaseKind === 'pglite' ? {} : { maxSleepMs: 500 }),
  });
  const consumer = events.consumer({ group: 'webhooks', position: 'resume', handle: (event) => dispatcher.handle(event) });
  void consumer.start();
  dispatcher.start();
  return {
    repo,
    dispatcher,
    consumer,
    close: async () => {
      await consumer.close();
      await dispatcher.close();
    },
  };
}
