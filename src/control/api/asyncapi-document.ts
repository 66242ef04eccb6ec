import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { STREAM_ID_PATTERN, WS_PROTOCOL_VERSION } from '../../deliver/ws/ws-messages.js';
import type { JsonSchema } from './openapi-document.js';

/**
 * The WebSocket channel (GET /api/v1/streams/{id}/ws) as an AsyncAPI 2.6
 * document. Its message schemas are not written here: they are the `$defs`
 * of docs/schemas/ws-messages.schema.json, copied in with their `$ref`s
 * pointed at components/schemas, so the JSON Schema stays the one source.
 */

export const ASYNCAPI_VERSION = '2.6.0';
export const WS_CHANNEL = '/api/v1/streams/{id}/ws';
/** what a client may send; every other message in the schema is the server's (its top-level oneOf) */
const CLIENT_MESSAGES = ['ping'] as const;

export interface WsMessagesSchema {
  $id?: string;
  description?: string;
  oneOf: Array<{ $ref: string }>;
  $defs: Record<string, JsonSchema>;
}

export interface AsyncApiMessage {
  name: string;
  title: string;
  summary?: string;
  contentType: string;
  payload: { $ref: string };
}

export interface AsyncApiDocument {
  asyncapi: typeof ASYNCAPI_VERSION;
  id: string;
  info: Record<string, unknown>;
  servers: Record<string, { url: string; protocol: string; description: string }>;
  defaultContentType: string;
  channels: Record<string, Record<string, unknown>>;
  components: { schemas: Record<string, JsonSchema>; messages: Record<string, AsyncApiMessage> };
  externalDocs: { description: string; url: string };
}

/** The schema file, from src/ (tsx) or dist/src/ (built, run from the repository root), as migrations are found. */
export function wsMessagesSchemaFile(): string {
  const besideSource = join(dirname(fileURLToPath(import.meta.url)), '../../../docs/schemas/ws-messages.schema.json');
  return existsSync(besideSource) ? besideSource : resolve('docs/schemas/ws-messages.schema.json');
}

const DEFS = '#/$defs/';
const COMPONENT_SCHEMAS = '#/components/schemas/';

/** `#/$defs/x` → `#/components/schemas/x`, everywhere in a schema (a deep copy). */
function rebase(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(rebase);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(schema)) {
    if (key === '$ref' && typeof value === 'string') {
      if (!value.startsWith(DEFS)) throw new Error(`ws-messages schema: only local $defs references can be carried over, not ${value}`);
      out[key] = COMPONENT_SCHEMAS + value.slice(DEFS.length);
    } else {
      out[key] = rebase(value);
    }
  }
  return out;
}

function message(name: string, schema: JsonSchema): AsyncApiMessage {
  return {
    name,
    title: name,
    ...(typeof schema.description === 'string' ? { summary: schema.description } : {}),
    contentType: 'application/json',
    payload: { $ref: COMPONENT_SCHEMAS + name },
  };
}

/** The document for a server whose public HTTP base is `httpBase` (e.g. https://live.example.com). */
export function asyncApiDocument(wsSchema: WsMessagesSchema, httpBase: string): AsyncApiDocument {
  const base = new URL(httpBase.replace(/\/+$/, '') || 'http://localhost');
  const secure = base.protocol === 'https:';
  const schemas: Record<string, JsonSchema> = {};
  for (const [name, schema] of Object.entries(wsSchema.$defs)) schemas[name] = rebase(schema) as JsonSchema;

  const serverMessages = wsSchema.oneOf.map(({ $ref }) => {
    if (!$ref.startsWith(DEFS) || !Object.hasOwn(wsSchema.$defs, $ref.slice(DEFS.length))) throw new Error(`ws-messages schema: oneOf entry ${$ref} is not one of its $defs`);
    return $ref.slice(DEFS.length);
  });
  for (const name of CLIENT_MESSAGES) if (!Object.hasOwn(wsSchema.$defs, name)) throw new Error(`ws-messages schema: no $defs/${name}`);
  const messages: Record<string, AsyncApiMessage> = {};
  for (const name of [...serverMessages, ...CLIENT_MESSAGES]) messages[name] = message(name, wsSchema.$defs[name]!);
  const messageRef = (name: string) => ({ $ref: `#/components/messages/${name}` });

  return {
    asyncapi: ASYNCAPI_VERSION,
    id: 'urn:nova-streaming:ws',
    info: {
      title: 'nova-streaming WebSocket',
      version: `${WS_PROTOCOL_VERSION}.0.0`,
      description:
        'Live status of one stream: a `snapshot` on join, then what happens to the stream (went live, ended, ladder changed, ' +
        'viewer count, per-second metrics). Private streams need a viewer token (`POST /api/v1/streams/{id}/playback-tokens`) ' +
        'as `?token=` or as a `bearer.<token>` entry of Sec-WebSocket-Protocol. Before the upgrade: HTTP 400 bad stream id, 429 too many ' +
        'connections from one address, 503 shutting down. Close codes: 4404 no such stream, 1013 stream lookup failed (try again), ' +
        '4401 no or bad token, 4403 token for another stream, 1003 binary frame, 1007 not JSON, 1008 unsupported message or flood, 1009 message too big, 1001 shutting down. ' +
        'The message schemas are those of /api/v1/schemas/ws-messages.schema.json.',
    },
    servers: {
      nova: {
        url: base.host + base.pathname.replace(/\/+$/, ''),
        protocol: secure ? 'wss' : 'ws',
        description: 'the same host and port as the REST API',
      },
    },
    defaultContentType: 'application/json',
    channels: {
      [WS_CHANNEL]: {
        description: 'One stream\'s status; the REST API\'s `ws_url` for the stream.',
        parameters: { id: { description: 'stream id (a UUID)', schema: { type: 'string', pattern: STREAM_ID_PATTERN.source } } },
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: { token: { type: 'string', description: 'viewer token: required for a private stream' } },
            },
            bindingVersion: '0.1.0',
          },
        },
        // AsyncAPI 2 names operations from the client's side: it subscribes to what the server sends.
        subscribe: {
          operationId: 'receiveStreamStatus',
          summary: 'What the server sends (JSON text frames)',
          message: { oneOf: serverMessages.map(messageRef) },
        },
        publish: {
          operationId: 'sendPing',
          summary: 'What a client may send: anything else closes the socket (1008)',
          message: { oneOf: CLIENT_MESSAGES.map(messageRef) },
        },
      },
    },
    components: { schemas, messages },
    externalDocs: { description: 'The REST API (OpenAPI 3.0.3)', url: `${base.origin}${base.pathname.replace(/\/+$/, '')}/api/v1/openapi.json` },
  };
}
