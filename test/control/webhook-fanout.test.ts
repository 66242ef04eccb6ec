/**
 * Which webhooks an event becomes deliveries for (WebhookRepository.enqueue),
 * on both backends: a client's webhook only for its own streams and the
 * notices of its own webhooks; the admin token's and an `admin` client's for
 * everything; a revoked client's for nothing; none twice for one event.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { ClientRepository } from '../../src/control/db/client-repository.js';
import { DEFAULT_OUTBOX_SETTINGS } from '../../src/control/db/outbox-append.js';
import { StreamRepository } from '../../src/control/db/stream-repository.js';
import { WebhookRepository } from '../../src/control/webhooks/webhook-repository.js';
import { TEST_SCRYPT } from '../support/control-api.js';
import { BACKENDS, openBackend } from './database-fixture.js';

for (const backend of BACKENDS) {
  describe(`webhook fan-out on ${backend}`, () => {
    it("sends a client's webhook only its own streams' events", async (t) => {
      const handle = await openBackend(backend);
      if (!handle) return t.skip('PostgreSQL not reachable (required under CI=true)');
      try {
        const db = handle.database.db;
        const clients = new ClientRepository(db, undefined, TEST_SCRYPT);
        const streams = new StreamRepository(db);
        const webhooks = new WebhookRepository(db, DEFAULT_OUTBOX_SETTINGS);
        const client = async (scopes: Array<'streams:write' | 'admin'>) => (await clients.create({ name: 'fan-out', scopes: new Set(scopes) })).client.id;
        const owners = { admin: null, a: await client(['streams:write']), b: await client(['streams:write']), boss: await client(['admin']), gone: await client(['streams:write']) };
        const past = new Date(Date.now() - 60_000);
        const hooks: Record<string, string> = {};
        for (const [name, ownerClientId] of Object.entries(owners)) {
          hooks[name] = (await webhooks.create({ url: 'https://93.184.216.34/hook', eventTypes: ['*'], description: name, ownerClientId }, past)).webhook.id;
        }
        await clients.revoke(owners.gone);
        const streamOf = async (ownerClientId: string | null) => (await streams.create({ title: 'fan-out', ownerClientId })).stream.id;
        const ofA = await streamOf(owners.a);
        const ofB = await streamOf(owners.b);
        const ofAdmin = await streamOf(null);
        const ofGone = await streamOf(owners.gone);

        /** the webhooks (by name) the event became deliveries for */
        const fanOut = async (type: string, streamId: string): Promise<string[]> => {
          const id = randomUUID();
          const event = { id, type, streamId, createdAt: new Date() };
          const added = await webhooks.enqueue(event, '{}', new Date());
          assert.equal(await webhooks.enqueue(event, '{}', new Date()), 0, 'the same event again adds nothing');
          const rows = await db.selectFrom('webhook_deliveries').select('webhook_id').where('event_id', '=', id).execute();
          assert.equal(rows.length, added);
          return rows.map((row) => Object.keys(hooks).find((name) => hooks[name] === row.webhook_id)!).sort();
        };
        assert.deepEqual(await fanOut('stream_started', ofA), ['a', 'admin', 'boss']);
        assert.deepEqual(await fanOut('stream_started', ofB), ['admin', 'b', 'boss']);
        assert.deepEqual(await fanOut('stream_ended', ofAdmin), ['admin', 'boss']);
        assert.deepEqual(await fanOut('stream_ended', ofGone), ['admin', 'boss'], "a revoked client's webhook hears nothing");
        assert.deepEqual(await fanOut('stream_started', randomUUID()), ['admin', 'boss'], 'an unknown stream: only those who see everything');
        // a webhook_disabled notice's streamId is the webhook's id: its owner's webhooks hear it
        assert.deepEqual(await fanOut('webhook_disabled', hooks.a!), ['a', 'admin', 'boss']);
        assert.deepEqual(await fanOut('webhook_disabled', hooks.admin!), ['admin', 'boss']);
      } finally {
        await handle.dispose();
      }
    });
  });
}
