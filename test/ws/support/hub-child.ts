/**
 * A hub in its own process, for tests that kill an instance with SIGKILL.
 * argv: redisUrl channel prefix instanceId ttlMs syncMs. Prints "PORT <n>" once listening.
 */
import { RedisEventBus } from '../../../src/control/events/redis-bus.js';
import { RedisViewerStore } from '../../../src/control/viewers/redis-viewer-store.js';
import { silentLog, startHub } from './hub-fixture.js';

const [redisUrl, channel, prefix, instanceId, ttlMs, syncMs] = process.argv.slice(2);
const bus = new RedisEventBus({ url: redisUrl!, instanceId: instanceId!, channel: channel!, log: silentLog });
const store = new RedisViewerStore({ url: redisUrl!, instanceId: instanceId!, prefix: prefix!, ttlMs: Number(ttlMs), log: silentLog });
await bus.waitConnected();
const fixture = await startHub({ instanceId, bus, store, viewerOptions: { tickMs: 100, syncIntervalMs: Number(syncMs) } });
process.stdout.write(`PORT ${fixture.port}\n`);
process.on('SIGTERM', () => {
  void fixture.close().then(() => bus.close()).then(() => process.exit(0));
});
