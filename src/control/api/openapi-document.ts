import { SCOPES, type Scope } from '../auth/scopes.js';
import { DURABLE_EVENT_TYPES } from '../events/stream-events.js';
import { MAX_WEBHOOK_URL_LENGTH } from '../webhooks/webhook-target.js';

/**
 * The REST API's one contract (OpenAPI 3.0.3). The router registers exactly
 * the operations listed here, reads each one's required scope from its
 * `security`, and validates parameters and bodies with ajv compiled from these
 * schemas; tests validate every response against them. So a route, its
 * scope and its schemas cannot drift from what the document says.
 */

export type JsonSchema = Record<string, unknown>;

export interface OpenApiOperation {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  security: Array<Record<string, string[]>>;
  parameters?: Array<Record<string, unknown>>;
  requestBody?: { required?: boolean; content: Record<string, { schema: JsonSchema; example?: unknown }> };
  responses: Record<string, unknown>;
}

export interface OpenApiDocument {
  openapi: '3.0.3';
  info: Record<string, unknown>;
  servers: Array<{ url: string }>;
  tags: Array<{ name: string; description: string }>;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: {
    schemas: Record<string, JsonSchema>;
    responses: Record<string, unknown>;
    parameters: Record<string, unknown>;
    securitySchemes: Record<string, unknown>;
  };
  externalDocs?: { description: string; url: string };
}

export const MAX_TITLE_LENGTH = 200;
export const MAX_CLIENT_NAME_LENGTH = 200;
export const MAX_DISPLAY_NAME_LENGTH = 64;
/** a viewer token lives at most a day: the signing key that made it stays published that long after it retires */
export const MAX_PLAYBACK_TOKEN_SECONDS = 86_400;
export const DEFAULT_PLAYBACK_TOKEN_SECONDS = 3600;
export const MAX_WEBHOOK_EVENT_TYPES = 20;
export const MAX_WEBHOOK_DESCRIPTION_LENGTH = 500;
export const MAX_PAGE_LIMIT = 500;
/** a consumer group's name (instance groups are "instance:<id>") */
export const EVENT_GROUP_PATTERN = '^[A-Za-z0-9:._-]{1,200}$';

const ref = (name: string): JsonSchema => ({ $ref: `#/components/schemas/${name}` });
const json = (schema: JsonSchema, example?: unknown) => ({ 'application/json': example === undefined ? { schema } : { schema, example } });
const nullable = (schema: JsonSchema): JsonSchema => ({ ...schema, nullable: true });
const dateTime = { type: 'string', format: 'date-time' } as const;
const uuid = { type: 'string', format: 'uuid' } as const;
const url = { type: 'string', format: 'uri' } as const;
/** Postgres text cannot hold NUL; control characters have no place in a title either. */
const printable = (maxLength: number): JsonSchema => ({ type: 'string', maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]*$' });

/** Client credentials or the admin token, needing `scope` (the admin token holds every scope). */
function bearer(scope: Scope): Array<Record<string, string[]>> {
  return scope === 'admin' ? [{ adminToken: [] }, { oauth2: ['admin'] }] : [{ adminToken: [] }, { oauth2: [scope] }];
}

function errors(...statuses: number[]): Record<string, unknown> {
  const names: Record<number, string> = {
    400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 409: 'Conflict',
    413: 'PayloadTooLarge', 422: 'Unprocessable', 429: 'TooManyRequests',
  };
  const out: Record<string, unknown> = {};
  for (const status of statuses) out[String(status)] = { $ref: `#/components/responses/${names[status]}` };
  return out;
}

/** What every bearer-authenticated route can answer besides its success. */
const BEARER_ERRORS = [401, 403, 429] as const;
const IDEMPOTENCY_KEY = { $ref: '#/components/parameters/IdempotencyKey' };
const STREAM_ID = { $ref: '#/components/parameters/StreamId' };
const CLIENT_ID = { $ref: '#/components/parameters/ClientId' };
const WEBHOOK_ID = { $ref: '#/components/parameters/WebhookId' };
const EVENT_GROUP = { $ref: '#/components/parameters/EventGroup' };
const WEBHOOK_EVENT_TYPES = ['*', ...DURABLE_EVENT_TYPES];

const streamProperties = {
  id: uuid,
  title: { type: 'string' },
  status: { type: 'string', enum: ['PENDING', 'ACTIVE', 'ENDED', 'ERROR'] },
  private: { type: 'boolean' },
  owner_client_id: { ...nullable(uuid), description: 'the API client that created it; null when the admin token did' },
  created_at: dateTime,
  started_at: nullable(dateTime),
  ended_at: nullable(dateTime),
  end_reason: nullable({ type: 'string' }),
  viewers: { type: 'integer', minimum: 0 },
  peak_viewers: { type: 'integer', minimum: 0 },
  renditions: { type: 'array', items: ref('Rendition') },
  warnings: { type: 'array', items: ref('StreamWarning') },
  hls_url: url,
  ll_hls_url: url,
  dash_url: url,
  ws_url: url,
  rtmp_url: url,
};
const streamRequired = Object.keys(streamProperties);

const clientProperties = {
  client_id: uuid,
  name: { type: 'string' },
  scopes: { type: 'array', items: { type: 'string', enum: [...SCOPES] } },
  created_at: dateTime,
  revoked_at: nullable(dateTime),
};

const webhookProperties = {
  id: uuid,
  url,
  event_types: { type: 'array', items: { type: 'string', enum: WEBHOOK_EVENT_TYPES } },
  description: { type: 'string' },
  enabled: { type: 'boolean', description: 'false once every attempt of a delivery failed for the retry window' },
  disabled_reason: nullable({ type: 'string' }),
  owner_client_id: { ...nullable(uuid), description: 'the API client that registered it; null when the admin token did' },
  created_at: dateTime,
};

const deadLetterProperties = {
  id: { type: 'string', description: 'its id in the group\'s dead letters (pass to replay, or as `after`)' },
  group: { type: 'string' },
  event_id: nullable({ type: 'string' }),
  type: nullable({ type: 'string' }),
  stream_id: nullable({ type: 'string' }),
  seq: nullable({ type: 'integer' }),
  error: { type: 'string', description: 'the last failure' },
  attempts: { type: 'integer', minimum: 0 },
  dead_at: dateTime,
  event: { ...nullable({ type: 'object' }), description: 'the event as it was raised; null when the entry was not an event' },
  raw: { type: 'string', description: 'only for an entry that was not an event: its first 1000 characters' },
};

const tokenRequestProperties = {
  // Not an enum: an unknown grant is unsupported_grant_type (RFC 6749 §5.2), not a malformed request.
  grant_type: { type: 'string', maxLength: 64, description: '`client_credentials` or `refresh_token`' },
  scope: { type: 'string', maxLength: 512, description: 'space-delimited subset of the client\'s scopes (default: all of them)' },
  refresh_token: { type: 'string', maxLength: 512 },
  client_id: { type: 'string', maxLength: 128, description: 'with client_secret, instead of HTTP Basic' },
  client_secret: { type: 'string', maxLength: 256 },
};

const revokeRequestProperties = {
  token: { type: 'string', maxLength: 4096 },
  token_type_hint: { type: 'string', maxLength: 64 },
  client_id: { type: 'string', maxLength: 128 },
  client_secret: { type: 'string', maxLength: 256 },
};

/** The document for a server whose public base is `serverUrl` (the `servers` entry and the token URL). */
export function openApiDocument(serverUrl = ''): OpenApiDocument {
  const tokenUrl = `${serverUrl}/api/v1/auth/token`;
  return {
    openapi: '3.0.3',
    info: {
      title: 'nova-streaming API',
      version: '1.0.0',
      description:
        'Live streams, API clients and OAuth2 tokens, webhooks, and the event log\'s dead letters. Authenticate with an access token from `POST /api/v1/auth/token` ' +
        '(OAuth2 client credentials) or with the admin token. Errors are `{"error":{"code":"NOVA_ERR_…","message","request_id"}}`, ' +
        'except on the OAuth2 endpoints, which answer as RFC 6749 §5.2 says. Every `POST` takes an `Idempotency-Key`. ' +
        'Requests past a rate limit get 429 with `Retry-After`, `RateLimit` and `RateLimit-Policy`. ' +
        'The WebSocket `GET /api/v1/streams/{id}/ws` is described by the AsyncAPI document at `/api/v1/asyncapi.json`, ' +
        'whose messages are the JSON Schema at `/api/v1/schemas/ws-messages.schema.json`.',
    },
    servers: [{ url: serverUrl === '' ? '/' : serverUrl }],
    tags: [
      { name: 'streams', description: 'Live streams: create, read, end, and viewer tokens for private ones' },
      { name: 'analytics', description: 'A stream\'s history: its per-second metrics, rolled up on request' },
      { name: 'discover', description: 'Public listing of live streams (no credentials)' },
      { name: 'clients', description: 'API clients (admin only)' },
      { name: 'webhooks', description: 'Signed HTTP callbacks for stream events (Standard Webhooks); a client\'s webhooks hear only its own streams' },
      { name: 'events', description: 'The durable event log\'s consumer groups and dead letters (admin only)' },
      { name: 'auth', description: 'OAuth2 client credentials (RFC 6749 §4.4), revocation (RFC 7009), keys (JWKS) and metadata (RFC 8414)' },
      { name: 'docs', description: 'This document and its rendering' },
    ],
    externalDocs: { description: 'The WebSocket channel and its messages (AsyncAPI 2.6)', url: `${serverUrl}/api/v1/asyncapi.json` },
    paths: {
      '/api/v1/streams': {
        post: {
          operationId: 'createStream',
          summary: 'Create a stream',
          description: 'The only response that carries `stream_key` and `publish_url`. The stream belongs to the calling client.',
          tags: ['streams'],
          security: bearer('streams:write'),
          parameters: [IDEMPOTENCY_KEY],
          requestBody: { required: false, content: json(ref('CreateStreamRequest'), { title: 'Keynote', private: false }) },
          responses: { '201': { description: 'created', content: json(ref('CreatedStream')) }, ...errors(400, ...BEARER_ERRORS, 409, 413, 422) },
        },
        get: {
          operationId: 'listStreams',
          summary: 'List streams, newest first',
          description: 'A client sees its own streams; the admin token and `admin` clients see all.',
          tags: ['streams'],
          security: bearer('streams:read'),
          parameters: [
            { name: 'status', in: 'query', required: false, schema: { type: 'string', enum: ['PENDING', 'ACTIVE', 'ENDED', 'ERROR'] } },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' }, description: '`next_cursor` of the previous page' },
          ],
          responses: { '200': { description: 'a page', content: json(ref('StreamList')) }, ...errors(400, ...BEARER_ERRORS) },
        },
      },
      '/api/v1/streams/{id}': {
        get: {
          operationId: 'getStream',
          summary: 'One stream, with live viewers and renditions',
          tags: ['streams'],
          security: bearer('streams:read'),
          parameters: [STREAM_ID],
          responses: { '200': { description: 'the stream', content: json(ref('Stream')) }, ...errors(...BEARER_ERRORS, 404) },
        },
        delete: {
          operationId: 'deleteStream',
          summary: 'End a stream, revoke its keys and drop its publisher',
          tags: ['streams'],
          security: bearer('streams:write'),
          parameters: [STREAM_ID],
          responses: { '200': { description: 'the ended stream', content: json(ref('Stream')) }, ...errors(...BEARER_ERRORS, 404) },
        },
      },
      '/api/v1/streams/{id}/playback-tokens': {
        post: {
          operationId: 'createPlaybackToken',
          summary: 'Mint a viewer token for one stream',
          description:
            'An RS256 JWT (same keys as the JWKS) bound to this stream. A private stream needs it on HLS, LL-HLS, DASH and the WebSocket, ' +
            'as `?token=`; the playlists carry it into every URI they list.',
          tags: ['streams'],
          security: bearer('streams:write'),
          parameters: [STREAM_ID, IDEMPOTENCY_KEY],
          requestBody: { required: false, content: json(ref('PlaybackTokenRequest'), { expires_in: 3600, display_name: 'Ada' }) },
          responses: { '201': { description: 'the token and URLs that carry it', content: json(ref('PlaybackToken')) }, ...errors(400, ...BEARER_ERRORS, 404, 409, 413, 422) },
        },
      },
      '/api/v1/streams/{id}/metrics': {
        get: {
          operationId: 'getStreamMetrics',
          summary: 'A stream\'s metrics and health over a window, at 1 s or rolled up',
          description:
            'The stream\'s history in [from, to): viewers, ingress bitrate, frame rate, its viewers\' rebuffering ratio, the egress bitrate ' +
            'served to them and how they spread over the renditions (the quality distribution), with a health score. ' +
            'Which table answers depends on `step`. A `step` that is not a whole number of minutes reads the per-second rows (`stream_metrics`, ' +
            'kept `STREAM_METRICS_RETENTION_DAYS`): at `step=1` one point per stored second; at a larger step one point per step with samples, ' +
            'aligned on multiples of the step since the epoch. A `step` of whole minutes (60, 120, … 86,400) reads the one-minute roll-ups ' +
            '(`stream_metrics_1m`, kept `STREAM_METRICS_ROLLUP_RETENTION_DAYS`, so long windows stay cheap and outlive the per-second rows), ' +
            'with the newest minutes, not rolled up yet (about the last one to two), taken from the per-second rows in the same shape; the window then ' +
            'covers the whole minutes it touches (`from` rounded down, `to` up, as the answer says). `resolution` says which: 1 or 60. ' +
            'Each point has the mean viewers, bitrate and frame rate, the peak viewers, the mean and peak egress bitrate, each rendition\'s mean ' +
            'viewers, how many seconds had a sample, and its `health_score`; egress and the distribution are null where not measured ' +
            '(`VIEWER_SESSIONS=off`, rows from before they were recorded). ' +
            'seconds without a sample have no point. `health` scores the whole window (the same from either table: roll-ups keep what it needs). ' +
            'The score, 0–100, combines ingest continuity, bitrate and frame-rate steadiness and viewer rebuffering; see docs/operations.md, ' +
            '"Stream health score". Default window: the hour before `to` (default now). At most 10,800 steps a window. Owner or admin only.',
          tags: ['analytics'],
          security: bearer('analytics:read'),
          parameters: [
            STREAM_ID,
            { name: 'from', in: 'query', required: false, schema: { type: 'string', format: 'date-time', maxLength: 64 }, description: 'inclusive (RFC 3339)' },
            { name: 'to', in: 'query', required: false, schema: { type: 'string', format: 'date-time', maxLength: 64 }, description: 'exclusive (RFC 3339)' },
            { name: 'step', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 86_400, default: 1 }, description: 'seconds per point' },
          ],
          responses: { '200': { description: 'the series', content: json(ref('StreamMetricsSeries')) }, ...errors(400, ...BEARER_ERRORS, 404) },
        },
      },
      '/api/v1/streams/{id}/viewers': {
        get: {
          operationId: 'listStreamViewers',
          summary: 'A stream\'s viewer sessions, newest first',
          description:
            'One item per viewer session the delivery layer tracked (HLS, LL-HLS, DASH, WebSocket): what it fetched and what its player reported through CMCD. ' +
            'Rows are written in batches while a session lives, so a live session\'s figures lag by up to the flush interval. ' +
            'Newest first (by start); pages follow `next_cursor` while `has_more`. `live=true`: only sessions not ended. Owner or admin only.',
          tags: ['analytics'],
          security: bearer('analytics:read'),
          parameters: [
            STREAM_ID,
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 50 } },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' }, description: '`next_cursor` of the previous page' },
            { name: 'live', in: 'query', required: false, schema: { type: 'boolean', default: false }, description: 'only sessions that have not ended' },
          ],
          responses: {
            '200': {
              description: 'a page',
              content: json(ref('ViewerSessionPage'), {
                stream_id: '6f1c2b8e-3d4a-4e5f-9a0b-1c2d3e4f5a6b',
                items: [
                  {
                    id: '9b2e4c7a-5d1f-4a3b-8e6c-2f7a9d0b1c3e',
                    kind: 'hls',
                    instance_id: 'nova-0',
                    started_at: '2030-01-01T00:00:00.000Z',
                    last_seen_at: '2030-01-01T00:10:00.000Z',
                    ended_at: null,
                    renditions: ['720p', '480p'],
                    rendition_switches: 1,
                    bytes_served: 187_500_000,
                    startup_ms: 850,
                    watch_ms: 598_000,
                    cmcd: true,
                    cmcd_sid: '3f9a0c51-2b7d-4e1a-8c6f-0d4e5a6b7c8d',
                    content_id: 'keynote',
                    stream_format: 'h',
                    avg_bitrate_kbps: 2480,
                    avg_throughput_kbps: 14_000,
                    buffer_length_ms: 6200,
                    rebuffer_count: 1,
                    rebuffer_ms: 1200,
                    rebuffer_ratio: 0.002,
                  },
                ],
                has_more: true,
                next_cursor: 'WzE4OTM0NTYwMDAwMDAsImhsczozZjlhIl0',
              }),
            },
            ...errors(400, ...BEARER_ERRORS, 404),
          },
        },
      },
      '/api/v1/analytics/summary': {
        get: {
          operationId: 'getAnalyticsSummary',
          summary: 'Viewing over a window: minutes watched, viewers, peak concurrency, QoE',
          description:
            'Over the caller\'s streams (a client: its own; the admin token and `admin` clients: every stream) in [from, to) ' +
            '(default: the 24 hours before `to`, default now; at most 31 days, 400 beyond). ' +
            'A session counts when it overlaps the window, with all its watch time: `minutes_watched` is the sum of those sessions\' `watch_ms`, ' +
            'not clipped to the window (a session that crosses an edge counts whole). ' +
            '`unique_viewers`: distinct viewer keys (the CMCD session id, else the client key), a session without one counting once. ' +
            '`peak_concurrent_viewers`: the most viewers in one second of the window, summed over the streams in scope (stream_metrics); ' +
            'each stream\'s `peak_viewers` is its own most in one second. QoE: `mean_startup_ms` over sessions that reported one; ' +
            '`rebuffer_ratio` = stalled time over watch time of the CMCD sessions; `avg_bitrate_kbps` = the players\' reported bitrate weighted by watch time. ' +
            '`streams`: the top 50 by minutes watched.',
          tags: ['analytics'],
          security: bearer('analytics:read'),
          parameters: [
            { name: 'from', in: 'query', required: false, schema: { type: 'string', format: 'date-time', maxLength: 64 }, description: 'inclusive (RFC 3339)' },
            { name: 'to', in: 'query', required: false, schema: { type: 'string', format: 'date-time', maxLength: 64 }, description: 'exclusive (RFC 3339)' },
          ],
          responses: {
            '200': {
              description: 'the summary',
              content: json(ref('AnalyticsSummary'), {
                from: '2030-01-01T00:00:00.000Z',
                to: '2030-01-02T00:00:00.000Z',
                minutes_watched: 1250.5,
                sessions: 180,
                unique_viewers: 142,
                qoe: { mean_startup_ms: 910.2, rebuffer_ratio: 0.004, avg_bitrate_kbps: 2310.7, cmcd_sessions: 120 },
                peak_concurrent_viewers: 64,
                streams: [
                  {
                    stream_id: '6f1c2b8e-3d4a-4e5f-9a0b-1c2d3e4f5a6b',
                    title: 'Keynote',
                    minutes_watched: 1250.5,
                    sessions: 180,
                    unique_viewers: 142,
                    qoe: { mean_startup_ms: 910.2, rebuffer_ratio: 0.004, avg_bitrate_kbps: 2310.7, cmcd_sessions: 120 },
                    peak_viewers: 64,
                  },
                ],
              }),
            },
            ...errors(400, ...BEARER_ERRORS),
          },
        },
      },
      '/api/v1/discover/live': {
        get: {
          operationId: 'discoverLive',
          summary: 'Live public streams, by viewers or most recent first',
          description:
            'Public: no credentials. Non-private live streams with title, viewers, start time and playback URLs. ' +
            'Each instance reads the list from the database at most once a second and answers every request of that second from it ' +
            '(viewer counts as they were then; a stream that just started or ended shows up or leaves within a second); ' +
            'answers may be cached for a second (`Cache-Control: public, max-age=1`). ' +
            'Pages follow `next_cursor` while `has_more`; a cursor belongs to its `sort`. ' +
            '`thumbnail_url` is the stream\'s newest JPEG (`/hls/{id}/thumbnail.jpg`, refreshed every few seconds from the ladder\'s decode), null while it has none.',
          tags: ['discover'],
          security: [{}],
          parameters: [
            { name: 'sort', in: 'query', required: false, schema: { type: 'string', enum: ['viewers', 'recent'], default: 'viewers' }, description: '`viewers`: most watched first; `recent`: most recently started first' },
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: 50, default: 20 } },
            { name: 'cursor', in: 'query', required: false, schema: { type: 'string', maxLength: 512, pattern: '^[A-Za-z0-9_-]+$' }, description: '`next_cursor` of the previous page (same `sort`)' },
          ],
          responses: { '200': { description: 'a page', content: json(ref('DiscoverLivePage')) }, ...errors(400, 429) },
        },
      },
      '/api/v1/clients': {
        post: {
          operationId: 'createClient',
          summary: 'Create an API client',
          description: 'The only response that carries `client_secret`: only its scrypt hash is stored.',
          tags: ['clients'],
          security: bearer('admin'),
          parameters: [IDEMPOTENCY_KEY],
          requestBody: { required: true, content: json(ref('CreateClientRequest'), { name: 'broadcaster backend', scopes: ['streams:read', 'streams:write'] }) },
          responses: { '201': { description: 'created', content: json(ref('CreatedClient')) }, ...errors(400, ...BEARER_ERRORS, 409, 413, 422) },
        },
        get: {
          operationId: 'listClients',
          summary: 'List API clients',
          tags: ['clients'],
          security: bearer('admin'),
          responses: { '200': { description: 'all clients', content: json(ref('ClientList')) }, ...errors(...BEARER_ERRORS) },
        },
      },
      '/api/v1/clients/{id}': {
        get: {
          operationId: 'getClient',
          summary: 'One API client',
          tags: ['clients'],
          security: bearer('admin'),
          parameters: [CLIENT_ID],
          responses: { '200': { description: 'the client', content: json(ref('Client')) }, ...errors(...BEARER_ERRORS, 404) },
        },
        delete: {
          operationId: 'revokeClient',
          summary: 'Revoke an API client and every token it holds',
          tags: ['clients'],
          security: bearer('admin'),
          parameters: [CLIENT_ID],
          responses: { '200': { description: 'the revoked client', content: json(ref('Client')) }, ...errors(...BEARER_ERRORS, 404) },
        },
      },
      '/api/v1/webhooks': {
        post: {
          operationId: 'createWebhook',
          summary: 'Register a webhook for event types',
          description:
            'The only response that carries `secret` (Standard Webhooks `whsec_…`): verify each delivery\'s `webhook-signature` with it. ' +
            'The webhook belongs to the calling client and is sent only the events of that client\'s streams (and the `webhook_disabled` notices of its own webhooks); ' +
            'one registered with the admin token, or by a client holding `admin`, hears every stream. ' +
            'A target on a private, loopback or link-local address is refused with 403 `NOVA_ERR_FORBIDDEN` unless `WEBHOOK_ALLOW_PRIVATE=on`; ' +
            'a host that does not resolve is a 400.',
          tags: ['webhooks'],
          security: bearer('streams:write'),
          parameters: [IDEMPOTENCY_KEY],
          requestBody: {
            required: true,
            content: json(ref('CreateWebhookRequest'), { url: 'https://hooks.example.com/nova', event_types: ['stream_started', 'stream_ended'], description: 'go-live alerts' }),
          },
          responses: { '201': { description: 'registered', content: json(ref('CreatedWebhook')) }, ...errors(400, ...BEARER_ERRORS, 409, 413, 422) },
        },
        get: {
          operationId: 'listWebhooks',
          summary: 'List webhooks, oldest first',
          description: 'A client sees its own; the admin token and `admin` clients see all.',
          tags: ['webhooks'],
          security: bearer('streams:read'),
          responses: { '200': { description: 'the webhooks', content: json(ref('WebhookList')) }, ...errors(...BEARER_ERRORS) },
        },
      },
      '/api/v1/webhooks/{id}': {
        get: {
          operationId: 'getWebhook',
          summary: 'One webhook (disabled_reason says why it stopped)',
          tags: ['webhooks'],
          security: bearer('streams:read'),
          parameters: [WEBHOOK_ID],
          responses: { '200': { description: 'the webhook', content: json(ref('Webhook')) }, ...errors(400, ...BEARER_ERRORS, 404) },
        },
        delete: {
          operationId: 'deleteWebhook',
          summary: 'Delete a webhook, with its pending deliveries and its attempts',
          tags: ['webhooks'],
          security: bearer('streams:write'),
          parameters: [WEBHOOK_ID],
          responses: { '200': { description: 'the deleted webhook', content: json(ref('Webhook')) }, ...errors(400, ...BEARER_ERRORS, 404) },
        },
      },
      '/api/v1/webhooks/{id}/enable': {
        post: {
          operationId: 'enableWebhook',
          summary: 'Enable a webhook again after it was disabled',
          description: 'Deliveries that failed while it was disabled are not resent. No body.',
          tags: ['webhooks'],
          security: bearer('streams:write'),
          parameters: [WEBHOOK_ID, IDEMPOTENCY_KEY],
          responses: { '200': { description: 'the webhook, enabled', content: json(ref('Webhook')) }, ...errors(400, ...BEARER_ERRORS, 404, 409, 422) },
        },
      },
      '/api/v1/webhooks/{id}/attempts': {
        get: {
          operationId: 'listWebhookAttempts',
          summary: 'A webhook\'s delivery attempts, newest first',
          description: 'Every attempt with the receiver\'s status, the error and its duration. Pages follow `next_before`.',
          tags: ['webhooks'],
          security: bearer('streams:read'),
          parameters: [
            WEBHOOK_ID,
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: 50 } },
            { name: 'before', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: Number.MAX_SAFE_INTEGER }, description: '`next_before` of the previous page' },
          ],
          responses: { '200': { description: 'a page', content: json(ref('WebhookAttemptList')) }, ...errors(400, ...BEARER_ERRORS, 404) },
        },
      },
      '/api/v1/events/groups': {
        get: {
          operationId: 'listEventGroups',
          summary: 'The event log\'s consumer groups',
          description: '`webhooks` (shared by every instance), `instance:<INSTANCE_ID>` (one per instance) and any other ever opened.',
          tags: ['events'],
          security: bearer('admin'),
          responses: { '200': { description: 'the groups', content: json(ref('EventGroupList')) }, ...errors(...BEARER_ERRORS) },
        },
      },
      '/api/v1/events/groups/{group}/dead-letters': {
        get: {
          operationId: 'listDeadLetters',
          summary: 'A group\'s dead letters, oldest first',
          description: 'Events its handler failed `EVENT_MAX_ATTEMPTS` times, with the last error. Pages follow `next_after`.',
          tags: ['events'],
          security: bearer('admin'),
          parameters: [
            EVENT_GROUP,
            { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 1, maximum: MAX_PAGE_LIMIT, default: 50 } },
            { name: 'after', in: 'query', required: false, schema: { type: 'string', pattern: '^[0-9]{1,20}(-[0-9]{1,20})?$' }, description: '`next_after` of the previous page' },
          ],
          responses: { '200': { description: 'a page', content: json(ref('DeadLetterList')) }, ...errors(400, ...BEARER_ERRORS) },
        },
      },
      '/api/v1/events/groups/{group}/dead-letters/{id}/replay': {
        post: {
          operationId: 'replayDeadLetter',
          summary: 'Hand a dead letter back to its group, once',
          description: 'The event is handled again after the events that came since; the dead letter is gone. A second replay of it is a 404. No body.',
          tags: ['events'],
          security: bearer('admin'),
          parameters: [EVENT_GROUP, { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 }, description: 'a dead letter\'s `id`' }, IDEMPOTENCY_KEY],
          responses: { '200': { description: 'handed back', content: json(ref('ReplayedDeadLetter')) }, ...errors(400, ...BEARER_ERRORS, 404, 409, 422) },
        },
      },
      '/api/v1/auth/token': {
        post: {
          operationId: 'issueToken',
          summary: 'OAuth2 token endpoint: client credentials and refresh',
          description:
            'Form-encoded (RFC 6749) or JSON. Client credentials by HTTP Basic or as `client_id`/`client_secret` in the body. ' +
            'Returns a 15-minute RS256 access token and a refresh token; each refresh token works once (it rotates), and presenting a used one revokes its whole family.',
          tags: ['auth'],
          security: [{ clientBasic: [] }, {}],
          parameters: [IDEMPOTENCY_KEY],
          requestBody: {
            required: true,
            content: {
              'application/x-www-form-urlencoded': { schema: ref('TokenRequest') },
              'application/json': { schema: ref('TokenRequest'), example: { grant_type: 'client_credentials', scope: 'streams:read streams:write' } },
            },
          },
          responses: {
            '200': { description: 'tokens', content: json(ref('TokenResponse')) },
            '400': { description: 'RFC 6749 §5.2 error', content: json(ref('OAuthError')) },
            '401': { description: 'invalid_client', content: json(ref('OAuthError')) },
            ...errors(409, 413, 422, 429),
          },
        },
      },
      '/api/v1/auth/revoke': {
        post: {
          operationId: 'revokeToken',
          summary: 'OAuth2 token revocation (RFC 7009)',
          description: 'Revoking a refresh token revokes its family and the access tokens issued from it. An unknown or foreign token still answers 200.',
          tags: ['auth'],
          security: [{ clientBasic: [] }, {}],
          parameters: [IDEMPOTENCY_KEY],
          requestBody: {
            required: true,
            content: { 'application/x-www-form-urlencoded': { schema: ref('RevokeRequest') }, 'application/json': { schema: ref('RevokeRequest') } },
          },
          responses: {
            '200': { description: 'revoked (or nothing to revoke)' },
            '400': { description: 'RFC 6749 §5.2 error', content: json(ref('OAuthError')) },
            '401': { description: 'invalid_client', content: json(ref('OAuthError')) },
            ...errors(409, 413, 422, 429),
          },
        },
      },
      '/api/v1/auth/signing-keys/rotate': {
        post: {
          operationId: 'rotateSigningKey',
          summary: 'Start signing with a new key',
          description: 'The new key is published at once and signs once every instance has had time to load it; the old one stays in the JWKS until its last token expires.',
          tags: ['auth'],
          security: bearer('admin'),
          parameters: [IDEMPOTENCY_KEY],
          responses: { '201': { description: 'the new key', content: json(ref('SigningKey')) }, ...errors(...BEARER_ERRORS, 409, 422) },
        },
      },
      '/.well-known/jwks.json': {
        get: {
          operationId: 'getJwks',
          summary: 'Public keys that verify access and viewer tokens (RFC 7517)',
          tags: ['auth'],
          security: [{}],
          responses: { '200': { description: 'the key set', content: json(ref('Jwks')) } },
        },
      },
      '/.well-known/oauth-authorization-server': {
        get: {
          operationId: 'getAuthorizationServerMetadata',
          summary: 'Authorization server metadata (RFC 8414)',
          tags: ['auth'],
          security: [{}],
          responses: { '200': { description: 'metadata', content: json(ref('AuthorizationServerMetadata')) } },
        },
      },
      '/api/v1/openapi.json': {
        get: {
          operationId: 'getOpenApi',
          summary: 'This document',
          tags: ['docs'],
          security: [{}],
          responses: { '200': { description: 'OpenAPI 3.0.3', content: json({ type: 'object' }) } },
        },
      },
      '/api/v1/schemas/ws-messages.schema.json': {
        get: {
          operationId: 'getWebSocketSchema',
          summary: 'JSON Schema of the WebSocket messages',
          tags: ['docs'],
          security: [{}],
          responses: { '200': { description: 'JSON Schema (2020-12)', content: { 'application/schema+json': { schema: { type: 'object' } } } } },
        },
      },
      '/api/v1/asyncapi.json': {
        get: {
          operationId: 'getAsyncApi',
          summary: 'The WebSocket channel and its messages (AsyncAPI 2.6, schemas from ws-messages.schema.json)',
          tags: ['docs'],
          security: [{}],
          responses: { '200': { description: 'AsyncAPI 2.6.0', content: json({ type: 'object' }) } },
        },
      },
      '/api/docs': {
        get: {
          operationId: 'getApiDocs',
          summary: 'This document, rendered (Swagger UI)',
          tags: ['docs'],
          security: [{}],
          responses: { '200': { description: 'HTML', content: { 'text/html': { schema: { type: 'string' } } } } },
        },
      },
      '/api/docs/{asset}': {
        get: {
          operationId: 'getApiDocsAsset',
          summary: 'The rendering\'s static files',
          tags: ['docs'],
          security: [{}],
          parameters: [{ name: 'asset', in: 'path', required: true, schema: { type: 'string', maxLength: 64 } }],
          responses: { '200': { description: 'a script, style sheet or image', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } }, ...errors(404) },
        },
      },
    },
    components: {
      securitySchemes: {
        adminToken: { type: 'http', scheme: 'bearer', description: 'The admin token (ADMIN_TOKEN): every scope, every stream.' },
        oauth2: {
          type: 'oauth2',
          description: 'RS256 access tokens from the token endpoint (keys at /.well-known/jwks.json).',
          flows: {
            clientCredentials: {
              tokenUrl,
              refreshUrl: tokenUrl,
              scopes: {
                'streams:read': 'read your streams',
                'streams:write': 'create and end your streams, mint viewer tokens',
                'analytics:read': 'read viewing analytics',
                'chat:write': 'post chat messages',
                'chat:moderate': 'moderate chat',
                admin: 'everything, every client\'s streams, client management',
              },
            },
          },
        },
        clientBasic: { type: 'http', scheme: 'basic', description: 'client_id and client_secret (form-urlencoded, then Basic), at the token and revocation endpoints' },
      },
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description: 'Retries with the same key and body within 24 h replay the first response; another body gets 422; a retry while the first is still running gets 409.',
          schema: { type: 'string', minLength: 1, maxLength: 255 },
        },
        StreamId: { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 }, description: 'stream id (a UUID)' },
        ClientId: { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 }, description: 'client id (a UUID)' },
        WebhookId: { name: 'id', in: 'path', required: true, schema: { type: 'string', maxLength: 64 }, description: 'webhook id (a UUID)' },
        EventGroup: {
          name: 'group',
          in: 'path',
          required: true,
          schema: { type: 'string', pattern: EVENT_GROUP_PATTERN },
          description: 'a consumer group, URL-encoded (`instance%3Anova-0`)',
          example: 'webhooks',
        },
      },
      responses: {
        BadRequest: { description: 'invalid parameters or body', content: json(ref('Error'), { error: { code: 'NOVA_ERR_BAD_REQUEST', message: 'title must be a string', request_id: '0b7c…' } }) },
        Unauthorized: { description: 'missing, invalid, expired or revoked credentials (WWW-Authenticate says which)', content: json(ref('Error')) },
        Forbidden: {
          description: 'the token lacks the scope (WWW-Authenticate: error="insufficient_scope"), or the request is refused (a webhook target on a private address)',
          content: json(ref('Error')),
        },
        NotFound: { description: 'no such resource, or not yours', content: json(ref('Error')) },
        Conflict: { description: 'a request with this Idempotency-Key is still running', content: json(ref('Error')) },
        PayloadTooLarge: { description: 'body over 16 KiB', content: json(ref('Error')) },
        Unprocessable: { description: 'this Idempotency-Key was used with another request', content: json(ref('Error')) },
        TooManyRequests: { description: 'rate limited: see Retry-After, RateLimit and RateLimit-Policy', content: json(ref('Error')) },
      },
      schemas: {
        Error: {
          type: 'object',
          required: ['error'],
          additionalProperties: false,
          properties: {
            error: {
              type: 'object',
              required: ['code', 'message', 'request_id'],
              additionalProperties: false,
              properties: { code: { type: 'string', pattern: '^NOVA_ERR_[A-Z_]+$' }, message: { type: 'string' }, request_id: { type: 'string' } },
            },
          },
        },
        OAuthError: {
          type: 'object',
          required: ['error'],
          additionalProperties: false,
          properties: {
            error: { type: 'string', enum: ['invalid_request', 'invalid_client', 'invalid_grant', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'unsupported_token_type'] },
            error_description: { type: 'string' },
            request_id: { type: 'string' },
          },
        },
        Rendition: {
          type: 'object',
          required: ['name'],
          properties: {
            name: { type: 'string' },
            width: { type: 'integer' },
            height: { type: 'integer' },
            bandwidth: { type: 'number' },
            codecs: { type: 'string' },
            frameRate: { type: 'number' },
          },
        },
        StreamWarning: {
          type: 'object',
          required: ['code', 'message'],
          properties: { code: { type: 'string', enum: ['long_keyframe_interval'] }, message: { type: 'string' }, keyframe_interval_ms: { type: 'integer' } },
        },
        Stream: { type: 'object', required: streamRequired, additionalProperties: false, properties: streamProperties },
        CreatedStream: {
          type: 'object',
          required: [...streamRequired, 'stream_key', 'publish_url'],
          additionalProperties: false,
          properties: {
            ...streamProperties,
            stream_key: { type: 'string', pattern: '^nsk_[A-Za-z0-9_-]{43}$', description: 'shown once; only its hash is stored' },
            publish_url: { type: 'string', description: 'rtmp_url + "/" + stream_key' },
          },
        },
        StreamList: {
          type: 'object',
          required: ['items', 'next_cursor'],
          additionalProperties: false,
          properties: { items: { type: 'array', items: ref('Stream') }, next_cursor: nullable({ type: 'string' }) },
        },
        StreamMetricsSeries: {
          type: 'object',
          required: ['stream_id', 'from', 'to', 'step', 'resolution', 'health', 'points'],
          additionalProperties: false,
          properties: {
            stream_id: uuid,
            from: dateTime,
            to: dateTime,
            step: { type: 'integer', minimum: 1 },
            resolution: {
              type: 'integer',
              enum: [1, 60],
              description: 'seconds per row read: 1, the per-second rows (stream_metrics); 60, the one-minute roll-ups (stream_metrics_1m, a step of whole minutes)',
            },
            health: {
              ...nullable({
                type: 'object',
                required: ['score', 'components'],
                additionalProperties: false,
                properties: {
                  score: { type: 'number', minimum: 0, maximum: 100 },
                  components: {
                    type: 'object',
                    description: "each component's own score (0-100); null when nothing measures it (no CMCD viewer, no video; dropped frames and transcode lag are not recorded)",
                    required: ['ingest_continuity', 'bitrate_steadiness', 'frame_rate_steadiness', 'dropped_frames', 'transcode_lag', 'rebuffering'],
                    additionalProperties: false,
                    properties: Object.fromEntries(
                      ['ingest_continuity', 'bitrate_steadiness', 'frame_rate_steadiness', 'dropped_frames', 'transcode_lag', 'rebuffering'].map((name) => [
                        name,
                        nullable({ type: 'number', minimum: 0, maximum: 100 }),
                      ]),
                    ),
                  },
                },
              }),
              description: 'the health of the whole window; null when it has no sample',
            },
            points: {
              type: 'array',
              items: {
                type: 'object',
                required: [
                  'at', 'viewers', 'peak_viewers', 'ingress_bitrate', 'fps', 'rebuffer_ratio', 'egress_bitrate', 'peak_egress_bitrate', 'viewers_by_rendition',
                  'samples', 'health_score',
                ],
                additionalProperties: false,
                properties: {
                  at: dateTime,
                  viewers: { type: 'number', minimum: 0, description: 'mean over the step' },
                  peak_viewers: { type: 'integer', minimum: 0 },
                  ingress_bitrate: { type: 'number', minimum: 0, description: 'bits per second, mean over the step' },
                  fps: { type: 'number', minimum: 0 },
                  rebuffer_ratio: {
                    ...nullable({ type: 'number', minimum: 0, maximum: 1 }),
                    description: "the CMCD-reporting viewers' stalled time over their watch time, mean over the step; null when none reported",
                  },
                  egress_bitrate: {
                    ...nullable({ type: 'number', minimum: 0 }),
                    description:
                      'bits per second served to the stream\'s HLS, LL-HLS and DASH viewers by the instance ingesting it (response bodies, playlists included), ' +
                      'mean over the step\'s seconds that measured it; null when none did (viewer sessions off). Bursty at 1 s: a segment counts in the second its response completed',
                  },
                  peak_egress_bitrate: { ...nullable({ type: 'number', minimum: 0 }), description: 'the largest per-second egress bitrate of the step; null when none measured' },
                  viewers_by_rendition: {
                    ...nullable({ type: 'object', additionalProperties: { type: 'number', minimum: 0 } }),
                    description:
                      'the quality distribution: the stream\'s HLS/DASH viewers by the rendition of the last segment or part they fetched, e.g. {"720p": 12, "source": 3}; ' +
                      'each rendition\'s mean over the step\'s seconds that measured it (a whole count at 1 s). Viewers who fetched no media yet and WebSocket-only viewers are not in it. ' +
                      'Null when no second measured it (viewer sessions off)',
                  },
                  samples: { type: 'integer', minimum: 1, description: 'seconds of the step with a sample' },
                  health_score: {
                    type: 'number',
                    minimum: 0,
                    maximum: 100,
                    description: "the step's health (as `health.score`); a 1 s point has no spread or gap to judge, only rebuffering moves it",
                  },
                },
              },
            },
          },
        },
        ViewerSession: {
          type: 'object',
          required: [
            'id', 'kind', 'instance_id', 'started_at', 'last_seen_at', 'ended_at', 'renditions', 'rendition_switches', 'bytes_served', 'startup_ms', 'watch_ms',
            'cmcd', 'cmcd_sid', 'content_id', 'stream_format', 'avg_bitrate_kbps', 'avg_throughput_kbps', 'buffer_length_ms', 'rebuffer_count', 'rebuffer_ms', 'rebuffer_ratio',
          ],
          additionalProperties: false,
          properties: {
            id: { type: 'string' },
            kind: { type: 'string', enum: ['ws', 'hls', 'llhls', 'dash'] },
            instance_id: { ...nullable({ type: 'string' }), description: 'the instance that served it' },
            started_at: dateTime,
            last_seen_at: { ...nullable(dateTime), description: 'its last request as of the last flush' },
            ended_at: { ...nullable(dateTime), description: 'null while live' },
            renditions: { type: 'array', items: { type: 'string' }, description: 'renditions in the order first watched' },
            rendition_switches: { type: 'integer', minimum: 0 },
            bytes_served: { type: 'integer', minimum: 0 },
            startup_ms: { ...nullable({ type: 'integer', minimum: 0 }), description: 'first request to the first media served; null before any' },
            watch_ms: { type: 'integer', minimum: 0, description: 'first media served to the last request' },
            cmcd: { type: 'boolean', description: 'whether the player sent CMCD' },
            cmcd_sid: { ...nullable({ type: 'string' }), description: 'CMCD `sid`' },
            content_id: { ...nullable({ type: 'string' }), description: 'CMCD `cid`' },
            stream_format: { ...nullable({ type: 'string' }), description: 'CMCD `sf` (h: HLS, d: DASH, …)' },
            avg_bitrate_kbps: { ...nullable({ type: 'number', minimum: 0 }), description: 'mean of the CMCD `br` reported' },
            avg_throughput_kbps: { ...nullable({ type: 'number', minimum: 0 }), description: 'mean of the CMCD `mtp` reported' },
            buffer_length_ms: { ...nullable({ type: 'number', minimum: 0 }), description: 'the last CMCD `bl`' },
            rebuffer_count: { type: 'integer', minimum: 0, description: 'stalls reported (CMCD `bs`)' },
            rebuffer_ms: { type: 'integer', minimum: 0 },
            rebuffer_ratio: { ...nullable({ type: 'number', minimum: 0, maximum: 1 }), description: 'stalled time over watch time; null without CMCD' },
          },
        },
        ViewerSessionPage: {
          type: 'object',
          required: ['stream_id', 'items', 'has_more', 'next_cursor'],
          additionalProperties: false,
          properties: {
            stream_id: uuid,
            items: { type: 'array', items: ref('ViewerSession') },
            has_more: { type: 'boolean' },
            next_cursor: { ...nullable({ type: 'string' }), description: 'pass as `cursor` for the next page; null when `has_more` is false' },
          },
        },
        ViewerQoe: {
          type: 'object',
          required: ['mean_startup_ms', 'rebuffer_ratio', 'avg_bitrate_kbps', 'cmcd_sessions'],
          additionalProperties: false,
          properties: {
            mean_startup_ms: { ...nullable({ type: 'number', minimum: 0 }), description: 'null: no session reported a startup time' },
            rebuffer_ratio: { ...nullable({ type: 'number', minimum: 0 }), description: 'the CMCD sessions\' stalled time over their watch time; null without CMCD watch time' },
            avg_bitrate_kbps: { ...nullable({ type: 'number', minimum: 0 }), description: 'reported bitrate weighted by watch time; null when no player reported one' },
            cmcd_sessions: { type: 'integer', minimum: 0 },
          },
        },
        StreamViewingSummary: {
          type: 'object',
          required: ['stream_id', 'title', 'minutes_watched', 'sessions', 'unique_viewers', 'qoe', 'peak_viewers'],
          additionalProperties: false,
          properties: {
            stream_id: uuid,
            title: { type: 'string' },
            minutes_watched: { type: 'number', minimum: 0 },
            sessions: { type: 'integer', minimum: 0 },
            unique_viewers: { type: 'integer', minimum: 0 },
            qoe: ref('ViewerQoe'),
            peak_viewers: { type: 'integer', minimum: 0, description: 'the stream\'s most viewers in one second of the window' },
          },
        },
        AnalyticsSummary: {
          type: 'object',
          required: ['from', 'to', 'minutes_watched', 'sessions', 'unique_viewers', 'qoe', 'peak_concurrent_viewers', 'streams'],
          additionalProperties: false,
          properties: {
            from: dateTime,
            to: dateTime,
            minutes_watched: { type: 'number', minimum: 0 },
            sessions: { type: 'integer', minimum: 0 },
            unique_viewers: { type: 'integer', minimum: 0 },
            qoe: ref('ViewerQoe'),
            peak_concurrent_viewers: { type: 'integer', minimum: 0, description: 'per second, summed over the streams in scope; the window\'s most' },
            streams: { type: 'array', maxItems: 50, items: ref('StreamViewingSummary'), description: 'the top 50 by minutes watched' },
          },
        },
        DiscoveredStream: {
          type: 'object',
          required: ['id', 'title', 'viewers', 'started_at', 'thumbnail_url', 'hls_url', 'dash_url', 'ws_url'],
          additionalProperties: false,
          properties: {
            id: uuid,
            title: { type: 'string' },
            viewers: { type: 'integer', minimum: 0 },
            started_at: dateTime,
            thumbnail_url: { ...nullable(url), description: 'the newest JPEG of the stream (cacheable for the refresh interval, ETag); null: no thumbnail yet, or none made (transcoding off)' },
            hls_url: url,
            dash_url: url,
            ws_url: url,
          },
        },
        DiscoverLivePage: {
          type: 'object',
          required: ['items', 'has_more', 'next_cursor'],
          additionalProperties: false,
          properties: {
            items: { type: 'array', items: ref('DiscoveredStream') },
            has_more: { type: 'boolean' },
            next_cursor: { ...nullable({ type: 'string' }), description: 'pass as `cursor` for the next page; null when `has_more` is false' },
          },
        },
        CreateStreamRequest: {
          type: 'object',
          additionalProperties: false,
          properties: { title: { ...printable(MAX_TITLE_LENGTH), default: '' }, private: { type: 'boolean', default: false } },
        },
        PlaybackTokenRequest: {
          type: 'object',
          additionalProperties: false,
          properties: {
            expires_in: { type: 'integer', minimum: 10, maximum: MAX_PLAYBACK_TOKEN_SECONDS, default: DEFAULT_PLAYBACK_TOKEN_SECONDS, description: 'seconds' },
            display_name: { ...printable(MAX_DISPLAY_NAME_LENGTH), description: 'the viewer\'s name in chat' },
            viewer_id: { type: 'string', maxLength: 128, pattern: '^[A-Za-z0-9._:@-]+$', description: 'your id for the viewer (the token\'s `sub`); random when absent' },
          },
        },
        PlaybackToken: {
          type: 'object',
          required: ['token', 'token_type', 'expires_at', 'stream_id', 'hls_url', 'll_hls_url', 'dash_url', 'ws_url'],
          additionalProperties: false,
          properties: {
            token: { type: 'string' },
            token_type: { type: 'string', enum: ['viewer'] },
            stream_id: uuid,
            expires_at: dateTime,
            hls_url: url,
            ll_hls_url: url,
            dash_url: url,
            ws_url: url,
          },
        },
        Client: { type: 'object', required: Object.keys(clientProperties), additionalProperties: false, properties: clientProperties },
        CreatedClient: {
          type: 'object',
          required: [...Object.keys(clientProperties), 'client_secret'],
          additionalProperties: false,
          properties: { ...clientProperties, client_secret: { type: 'string', pattern: '^ncs_[A-Za-z0-9_-]{43}$', description: 'shown once; only its scrypt hash is stored' } },
        },
        ClientList: { type: 'object', required: ['items'], additionalProperties: false, properties: { items: { type: 'array', items: ref('Client') } } },
        CreateClientRequest: {
          type: 'object',
          required: ['scopes'],
          additionalProperties: false,
          properties: {
            name: { ...printable(MAX_CLIENT_NAME_LENGTH), default: '' },
            scopes: { type: 'array', minItems: 1, maxItems: SCOPES.length, uniqueItems: true, items: { type: 'string', enum: [...SCOPES] } },
          },
        },
        Webhook: { type: 'object', required: Object.keys(webhookProperties), additionalProperties: false, properties: webhookProperties },
        CreatedWebhook: {
          type: 'object',
          required: [...Object.keys(webhookProperties), 'secret'],
          additionalProperties: false,
          properties: { ...webhookProperties, secret: { type: 'string', pattern: '^whsec_[A-Za-z0-9+/]{32}$', description: 'the Standard Webhooks signing secret; shown once' } },
        },
        WebhookList: { type: 'object', required: ['items'], additionalProperties: false, properties: { items: { type: 'array', items: ref('Webhook') } } },
        CreateWebhookRequest: {
          type: 'object',
          required: ['url', 'event_types'],
          additionalProperties: false,
          properties: {
            url: { type: 'string', minLength: 1, maxLength: MAX_WEBHOOK_URL_LENGTH, description: 'http or https, without credentials' },
            event_types: {
              type: 'array',
              minItems: 1,
              maxItems: MAX_WEBHOOK_EVENT_TYPES,
              items: { type: 'string', enum: WEBHOOK_EVENT_TYPES },
              description: 'the durable event types it wants, or `["*"]` for all',
            },
            // Not `printable`: a description may span lines; PostgreSQL text cannot hold NUL.
            description: { type: 'string', maxLength: MAX_WEBHOOK_DESCRIPTION_LENGTH, pattern: '^[^\\u0000]*$', default: '' },
          },
        },
        WebhookAttempt: {
          type: 'object',
          required: ['id', 'delivery_id', 'event_id', 'attempt', 'at', 'status_code', 'error', 'duration_ms'],
          additionalProperties: false,
          properties: {
            id: { type: 'integer', minimum: 1, description: 'pass as `before` for older attempts' },
            delivery_id: { type: 'string' },
            event_id: { type: 'string', description: 'the webhook-id header of the delivery' },
            attempt: { type: 'integer', minimum: 1 },
            at: dateTime,
            status_code: { ...nullable({ type: 'integer' }), description: 'the receiver\'s HTTP status; null when it did not answer' },
            error: { ...nullable({ type: 'string' }), description: 'why it failed; null when delivered' },
            duration_ms: { type: 'integer', minimum: 0 },
          },
        },
        WebhookAttemptList: {
          type: 'object',
          required: ['items', 'next_before'],
          additionalProperties: false,
          properties: { items: { type: 'array', items: ref('WebhookAttempt') }, next_before: nullable({ type: 'integer' }) },
        },
        EventGroupList: {
          type: 'object',
          required: ['items'],
          additionalProperties: false,
          properties: { items: { type: 'array', items: { type: 'object', required: ['group'], additionalProperties: false, properties: { group: { type: 'string' } } } } },
        },
        DeadLetter: {
          type: 'object',
          required: Object.keys(deadLetterProperties).filter((key) => key !== 'raw'),
          additionalProperties: false,
          properties: deadLetterProperties,
        },
        DeadLetterList: {
          type: 'object',
          required: ['items', 'next_after'],
          additionalProperties: false,
          properties: { items: { type: 'array', items: ref('DeadLetter') }, next_after: nullable({ type: 'string' }) },
        },
        ReplayedDeadLetter: {
          type: 'object',
          required: ['replayed', 'group'],
          additionalProperties: false,
          properties: { replayed: { type: 'string' }, group: { type: 'string' } },
        },
        // The OAuth endpoints ignore parameters they do not know (RFC 6749 §3.2).
        TokenRequest: { type: 'object', required: ['grant_type'], properties: tokenRequestProperties },
        RevokeRequest: { type: 'object', required: ['token'], properties: revokeRequestProperties },
        TokenResponse: {
          type: 'object',
          required: ['access_token', 'token_type', 'expires_in', 'refresh_token', 'scope'],
          additionalProperties: false,
          properties: {
            access_token: { type: 'string' },
            token_type: { type: 'string', enum: ['Bearer'] },
            expires_in: { type: 'integer', minimum: 1 },
            refresh_token: { type: 'string' },
            scope: { type: 'string' },
          },
        },
        SigningKey: {
          type: 'object',
          required: ['kid', 'activates_at'],
          additionalProperties: false,
          properties: { kid: { type: 'string' }, activates_at: dateTime },
        },
        Jwks: {
          type: 'object',
          required: ['keys'],
          additionalProperties: false,
          properties: {
            keys: {
              type: 'array',
              items: {
                type: 'object',
                required: ['kty', 'kid', 'use', 'alg', 'n', 'e'],
                additionalProperties: false,
                properties: {
                  kty: { type: 'string', enum: ['RSA'] },
                  kid: { type: 'string' },
                  use: { type: 'string', enum: ['sig'] },
                  alg: { type: 'string', enum: ['RS256'] },
                  n: { type: 'string' },
                  e: { type: 'string' },
                },
              },
            },
          },
        },
        AuthorizationServerMetadata: {
          type: 'object',
          required: ['issuer', 'token_endpoint', 'jwks_uri', 'grant_types_supported', 'response_types_supported'],
          properties: {
            issuer: url,
            token_endpoint: url,
            revocation_endpoint: url,
            jwks_uri: url,
            scopes_supported: { type: 'array', items: { type: 'string' } },
            response_types_supported: { type: 'array', items: { type: 'string' } },
            grant_types_supported: { type: 'array', items: { type: 'string' } },
            token_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string' } },
            revocation_endpoint_auth_methods_supported: { type: 'array', items: { type: 'string' } },
            token_endpoint_auth_signing_alg_values_supported: { type: 'array', items: { type: 'string' } },
          },
        },
      },
    },
  };
}

/** Every operation of the document, with its method and path. */
export function listOperations(doc: OpenApiDocument): Array<{ method: string; path: string; operation: OpenApiOperation }> {
  const out: Array<{ method: string; path: string; operation: OpenApiOperation }> = [];
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) out.push({ method: method.toUpperCase(), path, operation });
  }
  return out;
}
