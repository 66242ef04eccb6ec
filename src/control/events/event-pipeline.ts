import type { Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import type { Breakers } from '../../ops/breakers.js';
import type { Database } from '../db/database.js';
import { OutboxRepository } from '../db/outbox-repository.js';
import type { OutboxSettings } from '../db/outbox-append.js';
import { EventConsumer } from './event-consumer.js';
import type { EventLog } from './event-log.js';
import { MemoryEventLog } from './memory-event-log.js';
import { OutboxRelay } from './outbox-relay.js';
import { RedisEventLog } from './redis-event-log.js';
import { PostgresLeadership, SoleLeadership, type RelayLeadership } from './relay-leadership.js';
import type { EventBus } from './stream-events.js';

export interface EventPipelineConfig {
  instanceId: string;
  redisUrl: string | null;
  /** the event log's keys are `${redisKeyPrefix}events:…` */
  redisKeyPrefix?: string;
  /** PostgreSQL's URL when the database is PostgreSQL (the relay's lock and LISTEN session) */
  databaseUrl: string | null;
  events: {
    partitions: number;
    maxAttempts: number;
    streamMaxLength: number;
    outboxRetentionMs: number;
    outboxBatchSize: number;
  };
}

export interface EventPipeline {
  readonly log: EventLog;
  readonly relay: OutboxRelay;
  /** this instance's own consumer: hands durable events to the bus (and so to the WebSocket hub) */
  readonly instanceConsumer: EventConsumer;
  /** what repositories writing events are given (the relay's wake-up included) */
  readonly outboxSettings: OutboxSettings;
  /** starts another consumer on the same log (webhooks, tests) */
  consumer(options: Omit<ConstructorParameters<typeof EventConsumer>[0], 'log' | 'registry' | 'logger' | 'consumer' | 'maxAttempts'>): EventConsumer;
  close(): Promise<void>;
}

/**
 * The durable events' path on this instance: outbox (written by the
 * repositories) → relay (on the instance holding the lead) → event log
 * (Redis Streams, or in-process without REDIS_URL) → consumers, one of them
 * this instance's own, which hands every event to the local bus.
 */
export async function startEventPipeline(
  config: EventPipelineConfig,
  database: Database,
  bus: EventBus,
  registry: Registry,
  logger: Logger,
  /** the relay's "postgres" and "redis" breakers */
  breakers: Breakers | null = null,
): Promise<EventPipeline> {
  const { events } = config;
  const log: EventLog =
    config.redisUrl === null
      ? new MemoryEventLog({ partitions: events.partitions, maxLength: events.streamMaxLength })
      : new RedisEventLog({
          url: config.redisUrl,
          partitions: events.partitions,
          prefix: `${config.redisKeyPrefix ?? 'nova:'}events`,
          maxLength: events.streamMaxLength,
          log: logger.child({ component: 'event-log' }),
        });
  const leadership: RelayLeadership =
    database.kind === 'postgres' && config.databaseUrl !== null
      ? new PostgresLeadership({ url: config.databaseUrl, log: logger.child({ component: 'relay-leadership' }) })
      : new SoleLeadership();
  const relay = new OutboxRelay({
    outbox: new OutboxRepository(leadership.session ?? database.db),
    log,
    leadership,
    registry,
    breakers,
    logger: logger.child({ component: 'outbox-relay' }),
    batchSize: events.outboxBatchSize,
    retentionMs: events.outboxRetentionMs,
    // The embedded database has one process, whose every writer wakes the relay after its commit (onCommit below):
    // the poll only runs the prune schedule. On PostgreSQL it catches a NOTIFY lost while the session reconnected.
    pollMs: database.kind === 'pglite' ? 60_000 : 1000,
  });
  const consumers: EventConsumer[] = [];
  const consumer: EventPipeline['consumer'] = (options) => {
    const created = new EventConsumer({
      ...options,
      log,
      registry,
      logger: logger.child({ component: 'event-consumer', group: options.group }),
      consumer: config.instanceId,
      maxAttempts: events.maxAttempts,
    });
    consumers.push(created);
    return created;
  };
  const instanceConsumer = consumer({
    group: `instance:${config.instanceId}`,
    position: 'fresh',
    handle: (event) => bus.receive(event.event),
  });
  relay.start();
  // The group's position is fixed before the server takes requests, so nothing they cause is missed;
  // but a Redis that is away must not stop the server from starting (the consumer opens it when it returns).
  await Promise.race([instanceConsumer.start(), new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
  return {
    log,
    relay,
    instanceConsumer,
    outboxSettings: { instanceId: config.instanceId, partitions: events.partitions, onCommit: () => relay.wake() },
    consumer,
    close: async () => {
      const closing = consumers.map((c) => c.close());
      await relay.close();
      // closing the log ends the consumers' blocked reads
      await log.close();
      await Promise.all(closing);
      await leadership.close();
    },
  };
}
