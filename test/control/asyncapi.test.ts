import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, it } from 'node:test';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { asyncApiDocument, WS_CHANNEL, wsMessagesSchemaFile, type WsMessagesSchema } from '../../src/control/api/asyncapi-document.js';
import * as wsMessages from '../../src/deliver/ws/ws-messages.js';
import type { StreamEndReason } from '../../src/ingest/stream-end-reason.js';
import type { RenditionInfo } from '../../src/package/rendition-info.js';
import { asyncApiMessageCheck } from '../support/asyncapi-messages.js';

/**
 * The AsyncAPI document of the WebSocket is valid AsyncAPI 2.6 (the
 * official JSON Schema of the spec, @asyncapi/specs), and describes exactly
 * what the hub sends: every message builder in ws-messages.ts produces a
 * message the document accepts, and the document lists no other.
 */

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
const wsSchema = JSON.parse(readFileSync(wsMessagesSchemaFile(), 'utf8')) as WsMessagesSchema;
const doc = asyncApiDocument(wsSchema, 'https://live.example.com');

const RENDITIONS: RenditionInfo[] = [
  { name: 'source', width: 1280, height: 720, bandwidth: 2_500_000, codecs: 'avc1.64001f,mp4a.40.2', frameRate: 30 },
  { name: 'audio', width: 0, height: 0, bandwidth: 128_000, codecs: 'mp4a.40.2', frameRate: 0 },
];
const STATE = { id: 'a1b2c3', status: 'ACTIVE' };
const ID = '0f8c2d7e-9a41-4c55-8d6e-3b2a1c0d9e8f';
/** every end reason (a reason added to the type fails to compile here until it is listed) */
const END_REASONS: Record<StreamEndReason, true> = { unpublished: true, disconnected: true, idle_timeout: true, taken_over: true, deleted: true, shutdown: true, error: true };

/** One or more sample messages from each builder ws-messages.ts exports. */
const SAMPLES: Record<string, () => string[]> = {
  streamStartedMessage: () => [wsMessages.streamStartedMessage(ID, 1, 1_700_000_000_000, RENDITIONS), wsMessages.streamStartedMessage(ID, 2, 1, [])],
  streamEndedMessage: () => Object.keys(END_REASONS).map((reason, i) => wsMessages.streamEndedMessage(ID, i + 1, 1_700_000_000_000, reason as StreamEndReason)),
  streamInterruptedMessage: () => [wsMessages.streamInterruptedMessage(ID, 3, 1_700_000_000_000, 2)],
  streamResumedMessage: () => [wsMessages.streamResumedMessage(ID, 4, 1_700_000_000_000)],
  qualityChangedMessage: () => [wsMessages.qualityChangedMessage(ID, 5, 1_700_000_000_000, RENDITIONS)],
  viewerCountMessage: () => [wsMessages.viewerCountMessage(ID, 6, 1_700_000_000_000, 3, 7)],
  streamMetricsMessage: () => [
    wsMessages.streamMetricsMessage(ID, 7, 1_700_000_000_000, 3, 2_345_678.5, 29.97, ['source', 'audio']),
    wsMessages.streamMetricsMessage(ID, 8, 1_700_000_000_000, 0, Number.NaN, Number.POSITIVE_INFINITY, []),
  ],
  snapshotMessage: () => [
    wsMessages.snapshotMessage(ID, 0, 1_700_000_000_000, { live: false, viewers: 1, peak: 1, interrupted: false, renditions: [], state: STATE }),
    wsMessages.snapshotMessage('legacy_id-1', 9, 1_700_000_000_000, { live: true, viewers: 2, peak: 5, interrupted: true, renditions: RENDITIONS, state: STATE }),
  ],
  pongMessage: () => [wsMessages.pongMessage(ID, 9, 1_700_000_000_000)],
};

describe('AsyncAPI document of the WebSocket', () => {
  const check = asyncApiMessageCheck(doc);

  it('is valid AsyncAPI 2.6.0 (the spec\'s own JSON Schema, @asyncapi/specs)', () => {
    const require = createRequire(import.meta.url);
    const specSchema = require('@asyncapi/specs/schemas/2.6.0.json') as Record<string, unknown>;
    // meta off: the spec's schema carries its own copy of the draft-07 meta-schema, under the same $id as ajv's.
    const ajv = new Ajv({ strict: false, allErrors: true, validateSchema: false, meta: false });
    addFormats(ajv);
    const validate = ajv.compile(specSchema);
    assert.equal(validate(structuredClone(doc)), true, JSON.stringify(validate.errors, null, 2));
    // the validator does check: a document whose server lacks its protocol is refused
    const broken = structuredClone(doc) as unknown as { servers: { nova: Record<string, unknown> } };
    delete broken.servers.nova.protocol;
    assert.equal(validate(broken), false);
    assert.equal(doc.asyncapi, '2.6.0');
    assert.deepEqual(doc.servers.nova, { url: 'live.example.com', protocol: 'wss', description: 'the same host and port as the REST API' });
    assert.ok(doc.channels[WS_CHANNEL]);
  });

  it('takes its message schemas from ws-messages.schema.json, not a copy typed again', () => {
    for (const [name, schema] of Object.entries(wsSchema.$defs)) {
      const rebased = JSON.parse(JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/')) as unknown;
      assert.deepEqual(doc.components.schemas[name], rebased, name);
    }
    assert.deepEqual(Object.keys(doc.components.schemas).sort(), Object.keys(wsSchema.$defs).sort());
  });

  it('every message builder in ws-messages.ts makes a message the document describes, and it lists no other', () => {
    const builders = Object.entries(wsMessages).filter(([name, value]) => typeof value === 'function' && name.endsWith('Message')).map(([name]) => name);
    assert.deepEqual(Object.keys(SAMPLES).sort(), builders.sort(), 'a sample for each builder (add one for a new message)');
    const typesSent = new Set<string>();
    for (const [builder, samples] of Object.entries(SAMPLES)) {
      for (const text of samples()) {
        const message = JSON.parse(text) as { type: string };
        assert.deepEqual(check.server(message), [], `${builder}: ${text}`);
        typesSent.add(message.type);
      }
    }
    // the document's server messages are exactly those types
    assert.deepEqual([...check.serverMessageNames].sort(), [...typesSent].sort());
  });

  it('rejects what the hub never sends, and accepts the client\'s ping only from the client', () => {
    const good = JSON.parse(wsMessages.viewerCountMessage(ID, 6, 1, 3, 7)) as Record<string, unknown>;
    assert.deepEqual(check.server(good), []);
    assert.notDeepEqual(check.server({ ...good, viewers: -1 }), []);
    assert.notDeepEqual(check.server({ ...good, extra: true }), []);
    assert.notDeepEqual(check.server({ ...good, type: 'chat' }), []);
    const { peak: _peak, ...withoutPeak } = good;
    assert.notDeepEqual(check.server(withoutPeak), []);
    assert.deepEqual(check.client({ type: 'ping' }), []);
    assert.notDeepEqual(check.server({ type: 'ping' }), []);
    assert.notDeepEqual(check.client({ type: 'pong' }), []);
  });
});
