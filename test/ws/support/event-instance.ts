import { Registry } from 'prom-client';
import type { Database } from '../../../src/control/db/database.js';
import { StreamRepository } from '../../../src/control/db/stream-repository.js';
import { startEventPipeline, type EventPipeline } from '../../../src/control/events/event-pipeline.js';
import { RedisEventBus } from '../../../src/control/events/redis-bus.js';
import { silentLog, startHub, type HubFixture } from './hub-fixture.js';

/** What one instance needs to take part in the durable events: its bus, pipeline, repository and WebSocket hub. */
export interface EventInstance extends HubFixture {
  redisBus: RedisEventBus;
  events: EventPipeline;
  repo: StreamRepository;
  close(): Promise<void>;
}

/**
 * An instance as the server composes it (bus, event pipeline, repository writing the outbox, hub),
 * on a shared PostgreSQL database and Redis, in this process.
 */
export async function startEventInstance(options: {
  instanceId: string;
  redisUrl: string;
  databaseUrl: string;
  database: Database;
  namespace: { channel: string; prefix: string };
  partitions?: number;
}): Promise<EventInstance> {
  const bus = new RedisEventBus({ url: options.redisUrl, instanceId: options.instanceId, channel: options.namespace.channel, log: silentLog, maxReconnectDelayMs: 200 });
  await bus.waitConnected();
  const registry = new Registry();
  const events = await startEventPipeline(
    {
      instanceId: options.instanceId,
      redisUrl: options.redisUrl,
      redisKeyPrefix: options.namespace.prefix,
      databaseUrl: options.databaseUrl,
      events: {
        partitions: options.partitions ?? 4,
        maxAttempts: 3,
        streamMaxLength: 10_000,
        outboxRetentionMs: 3_600_000,
        outboxBatchSize: 100,
      },
    },
    options.database,
    bus,
    registry,
    silentLog,
  );
  const repo = new StreamRepository(options.database.db, undefined, events.outboxSettings);
  const fixture = await startHub({ instanceId: options.instanceId, bus, viewerOptions: { tickMs: 100 } });
  return {
    ...fixture,
    redisBus: bus,
    events,
    repo,
    async close() {
      await fixture.close();
      await events.close();
      await bus.close();
    },
  };
}
