/**
 * Consumers of the event log in the whole server, on the in-process log and
 * on Redis Streams: a poison event goes to the group's dead letters after
 * EVENT_MAX_ATTEMPTS (counted), the partition goes on past it, and once the
 * handler is fixed the admin API hands it back and it is handled once; a
 * consumer that dies holding entries has them taken over by another one of
 * its group (XAUTOCLAIM) and handled once. The admin API's answers are
 * checked against the OpenAPI document.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DurableEvent } from '../../src/control/events/durable-event.js';
import { checkAgainstDocument } from '../support/control-api.js';
import { startNova, type NovaFixture } from '../support/nova-server.js';
import { waitFor } from '../support/tools.js';
import { metricValue } from '../ws/support/hub-fixture.js';
import { SHARED_REDIS_URL, deleteKeys, redisReachable, uniqueNamespace } from '../ws/support/redis-helpers.js';

const MAX_ATTEMPTS = 3;

for (const kind of ['memory', 'redis'] as const) {
  describe(`event consumers on the ${kind} event log`, () => {
    let nova: NovaFixture;
    const namespace = uniqueNamespace();

    before(async () => {
      const env: Record<string, string> = { EVENT_MAX_ATTEMPTS: String(MAX_ATTEMPTS), LOG_LEVEL: 'silent' };
      if (kind === 'redis') {
        if (!(await redisReachable(6379))) throw new Error(`Redis is required at ${SHARED_REDIS_URL}`);
        Object.assign(env, { REDIS_URL: SHARED_REDIS_URL, REDIS_KEY_PREFIX: namespace.prefix });
      }
      nova = await startNova({ env });
    });
    /** the admin token's answer, checked against the document */
    const api = async (method: string, path: string): Promise<{ status: number; body: unknown }> => {
      const answer = await nova.api(method, path);
      checkAgainstDocument(method, path, answer.status, answer.body);
      return answer;
    };

    after(async () => {
      await nova?.stop();
      if (kind === 'redis') await deleteKeys(SHARED_REDIS_URL, namespace.prefix);
    });

    it('a poison event is dead-lettered after its attempts, the stream\'s later events go on, and it replays once fixed', async () => {
      let fixed = false;
      const attempts = new Map<string, number>();
      const handled: DurableEvent[] = [];
      const consumer = nova.server.events.consumer({
        group: 'poison-test',
        position: 'fresh',
        retryDelayMs: 10,
        handle: (event) => {
          attempts.set(event.id, (attempts.get(event.id) ?? 0) + 1);
          if (!fixed && event.event.type === 'stream_created' && event.event.title === 'poison') throw new Error('cannot digest this');
          handled.push(event);
        },
      });
      await consumer.start();
      const poison = await nova.createStream({ title: 'poison' });
      assert.equal((await nova.api('DELETE', `/api/v1/streams/${poison.id}`)).status, 200);
      await waitFor('the stream\'s later events', 5000, () => handled.some((e) => e.streamId === poison.id && e.type === 'key_revoked'));
      assert.deepEqual(handled.filter((e) => e.streamId === poison.id).map((e) => e.type), ['stream_ended', 'key_revoked'], 'the partition went on past it');
      const poisonEvent = [...attempts].find(([id]) => !handled.some((e) => e.id === id));
      assert.ok(poisonEvent, 'the poison event was tried');
      assert.equal(poisonEvent[1], MAX_ATTEMPTS);
      assert.equal(await metricValue(nova.server.registry, 'nova_streaming_dlq_messages_total', { group: 'poison-test' }), 1);

      const listed = await api('GET', '/api/v1/events/groups/poison-test/dead-letters');
      assert.equal(listed.status, 200);
      const items = (listed.body as { items: Array<Record<string, unknown>> }).items;
      assert.equal(items.length, 1);
      assert.equal(items[0]!.event_id, poisonEvent[0]);
      assert.equal(items[0]!.type, 'stream_created');
      assert.equal(items[0]!.stream_id, poison.id);
      assert.equal(items[0]!.attempts, MAX_ATTEMPTS);
      assert.match(String(items[0]!.error), /cannot digest this/);
      const groups = await api('GET', '/api/v1/events/groups');
      assert.ok((groups.body as { items: Array<{ group: string }> }).items.some((g) => g.group === 'poison-test'));

      fixed = true;
      const id = String(items[0]!.id);
      assert.equal((await api('POST', `/api/v1/events/groups/poison-test/dead-letters/${id}/replay`)).status, 200);
      await waitFor('the replayed event', 5000, () => handled.some((e) => e.id === poisonEvent[0]));
      assert.equal((await api('POST', `/api/v1/events/groups/poison-test/dead-letters/${id}/replay`)).status, 404, 'replayed once');
      assert.deepEqual((await api('GET', '/api/v1/events/groups/poison-test/dead-letters')).body, { items: [], next_after: null });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(handled.filter((e) => e.id === poisonEvent[0]).length, 1, 'handled once');

      // bad input: coded errors, nothing else touched
      assert.equal((await api('GET', '/api/v1/events/groups/no%20spaces/dead-letters')).status, 400);
      assert.equal((await api('GET', '/api/v1/events/groups/poison-test/dead-letters?limit=0')).status, 400);
      assert.equal((await api('POST', '/api/v1/events/groups/poison-test/dead-letters/not-an-id/replay')).status, 404);
      const anonymous = await fetch(`${nova.http}/api/v1/events/groups`);
      assert.equal(anonymous.status, 401);
      const refused = (await anonymous.json()) as { error: { code: string } };
      checkAgainstDocument('GET', '/api/v1/events/groups', 401, refused);
      assert.equal(refused.error.code, 'NOVA_ERR_UNAUTHORIZED');
      await consumer.close();
    });

    it('entries a dead consumer held are claimed by another consumer of its group and handled once', async () => {
      const log = nova.server.events.log;
      await log.openGroup('shared-test', 'resume');
      const created = await Promise.all([1, 2, 3].map((i) => nova.createStream({ title: `shared ${i}` })));
      // the dead consumer takes the entries and never acknowledges them
      const taken: string[] = [];
      await waitFor('the dead consumer to take the three creations', 5000, async () => {
        for (const entry of await log.read('shared-test', 'dead-consumer', 100, 0)) if (entry.event?.type === 'stream_created') taken.push(entry.event.streamId);
        return created.every((s) => taken.includes(s.id));
      });
      const handled: DurableEvent[] = [];
      const live = nova.server.events.consumer({ group: 'shared-test', position: 'resume', claimIdleMs: 300, handle: (e) => void handled.push(e) });
      await live.start();
      await waitFor('the live consumer to claim and handle them', 5000, () => created.every((s) => handled.some((e) => e.streamId === s.id && e.type === 'stream_created')));
      await new Promise((resolve) => setTimeout(resolve, 700));
      for (const s of created) assert.equal(handled.filter((e) => e.streamId === s.id && e.type === 'stream_created').length, 1);
      assert.deepEqual(await log.claim('shared-test', 'someone-else', 0, 100), [], 'nothing left pending');
      await live.close();
    });
  });
}
