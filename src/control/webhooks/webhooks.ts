import type { Registry } from 'prom-client';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import type { Breakers } from '../../ops/breakers.js';
import { registerWebhookRoutes } from '../api/webhooks-routes.js';
import type { Database } from '../db/database.js';
import type { EventConsumer } from '../events/event-consumer.js';
import type { EventPipeline } from '../events/event-pipeline.js';
import { WebhookDispatcher, breakerName } from './webhook-dispatcher.js';
import { WebhookRepository } from './webhook-repository.js';

export interface Webhooks {
  readonly repo: WebhookRepository;
  readonly dispatcher: WebhookDispatcher;
  readonly consumer: EventConsumer;
  close(): Promise<void>;
}

/**
 * Webhooks on this instance: the "webhooks" consumer group (shared by every
 * instance: each event is turned into deliveries once), the dispatcher that
 * sends due deliveries, and the API.
 */
export function startWebhooks(
  app: TemplatedApp,
  config: Pick<Config, 'webhooks'>,
  adminToken: string,
  database: Database,
  events: EventPipeline,
  breakers: Breakers,
  registry: Registry,
  log: Logger,
): Webhooks {
  const repo = new WebhookRepository(database.db, events.outboxSettings);
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
    ...(database.kind === 'pglite' ? {} : { maxSleepMs: 500 }),
  });
  const consumer = events.consumer({ group: 'webhooks', position: 'resume', handle: (event) => dispatcher.handle(event) });
  void consumer.start();
  dispatcher.start();
  registerWebhookRoutes(app, {
    repo,
    adminToken,
    allowInternal: config.webhooks.allowPrivate,
    onDeleted: (id) => breakers.remove(breakerName(id)),
    onEnabled: () => dispatcher.wake(),
    logger: log.child({ component: 'webhooks-api' }),
  });
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
