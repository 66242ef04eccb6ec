import type { ColumnType, Insertable, Selectable } from 'kysely';
import type { RenditionInfo } from '../../package/rendition-info.js';

/**
 * Kysely's view of the tables in migrations/. Timestamps come back as Date
 * from both pg and PGlite; jsonb goes in as JSON text (pg would otherwise
 * send a JS array as a Postgres array) and comes back parsed.
 */

export type StreamStatus = 'PENDING' | 'ACTIVE' | 'ENDED' | 'ERROR';
export const STREAM_STATUSES: readonly StreamStatus[] = ['PENDING', 'ACTIVE', 'ENDED', 'ERROR'];

export type ViewerSessionKind = 'ws' | 'hls' | 'llhls' | 'dash';

type Defaulted<T> = ColumnType<T, T | undefined, T>;
type Nullable<T> = ColumnType<T | null, T | null | undefined, T | null>;
type JsonText<T> = ColumnType<T, string | undefined, string>;

export interface StreamsTable {
  id: string;
  title: Defaulted<string>;
  status: Defaulted<StreamStatus>;
  private: Defaulted<boolean>;
  created_at: Date;
  started_at: Nullable<Date>;
  ended_at: Nullable<Date>;
  end_reason: Nullable<string>;
  current_renditions: JsonText<RenditionInfo[]>;
  peak_viewers: Defaulted<number>;
  instance_id: Nullable<string>;
  owner_client_id: Nullable<string>;
}

export interface StreamKeysTable {
  id: string;
  stream_id: string;
  key_hash: string;
  key_prefix: string;
  created_at: Date;
  revoked_at: Nullable<Date>;
}

export interface ViewerSessionsTable {
  id: string;
  stream_id: string;
  kind: ViewerSessionKind;
  client_id: Nullable<string>;
  started_at: Date;
  ended_at: Nullable<Date>;
  instance_id: Nullable<string>;
  last_seen_at: Nullable<Date>;
  renditions: JsonText<string[]>;
  rendition_switches: Defaulted<number>;
  requests: Defaulted<number>;
  /** bigint: returned as a string by node-postgres, a number by PGlite */
  bytes_served: ColumnType<string | number, number | undefined, number>;
  startup_ms: Nullable<number>;
  watch_ms: ColumnType<string | number, number | undefined, number>;
  cmcd: Defaulted<boolean>;
  cmcd_sid: Nullable<string>;
  content_id: Nullable<string>;
  stream_format: Nullable<string>;
  rebuffer_count: Defaulted<number>;
  rebuffer_ms: ColumnType<string | number, number | undefined, number>;
  rebuffer_ratio: Nullable<number>;
  avg_bitrate_kbps: Nullable<number>;
  avg_throughput_kbps: Nullable<number>;
  buffer_length_ms: Nullable<number>;
}

export interface StreamMetricsTable {
  stream_id: string;
  at: Date;
  viewers: Defaulted<number>;
  ingress_bitrate: Defaulted<number>;
  fps: Defaulted<number>;
  rebuffer_ratio: Nullable<number>;
  /** bits per second served to the stream's viewers (0008); bigint: a string from node-postgres, a number from PGlite */
  egress_bitrate: ColumnType<string | number | null, number | null | undefined, number | null>;
  /** live HLS/DASH sessions by rendition (0008) */
  viewers_by_rendition: ColumnType<Record<string, number> | null, string | null | undefined, string | null>;
}

/** One stream's minute of stream_metrics rolled up (migrations 0007, 0008). */
export interface StreamMetrics1mTable {
  stream_id: string;
  minute: Date;
  samples: number;
  first_at: Date;
  last_at: Date;
  viewers_avg: number;
  viewers_max: number;
  ingress_bitrate_avg: number;
  ingress_bitrate_min: number;
  ingress_bitrate_max: number;
  ingress_bitrate_stddev: number;
  fps_avg: number;
  fps_min: number;
  fps_stddev: number;
  rebuffer_ratio_avg: Nullable<number>;
  rebuffer_samples: number;
  /** migration 0008: over the minute's seconds that have an egress (egress_samples) */
  egress_bitrate_avg: Nullable<number>;
  /** bigint: a string from node-postgres, a number from PGlite */
  egress_bitrate_max: ColumnType<string | number | null, number | null | undefined, number | null>;
  egress_samples: Defaulted<number>;
  /** each rendition's mean viewers over the minute's seconds that have a distribution (rendition_samples) */
  viewers_by_rendition_avg: ColumnType<Record<string, number> | null, string | null | undefined, string | null>;
  rendition_samples: Defaulted<number>;
}

export interface StreamMetricsRollupStateTable {
  singleton: Defaulted<boolean>;
  rolled_to: Nullable<Date>;
}

export interface QualityLevelsTable {
  stream_id: string;
  name: string;
  width: Nullable<number>;
  height: Nullable<number>;
  bandwidth: number;
  codecs: string;
  frame_rate: Nullable<number>;
}

export interface EventLogIdentityTable {
  singleton: Defaulted<boolean>;
  id: string;
}

export interface EventPartitionsTable {
  partition: number;
  /** bigint: pg returns it as a string, PGlite as a number */
  last_seq: ColumnType<number | string, number, number>;
}

export interface EventOutboxTable {
  id: ColumnType<number | string, never, never>;
  event_id: string;
  partition: number;
  seq: ColumnType<number | string, number, number>;
  stream_id: string;
  type: string;
  payload: JsonText<unknown>;
  created_at: Date;
  published_at: Nullable<Date>;
}

export interface WebhooksTable {
  id: string;
  url: string;
  event_types: JsonText<string[]>;
  secret: string;
  description: Defaulted<string>;
  enabled: Defaulted<boolean>;
  disabled_reason: Nullable<string>;
  /** the API client that registered it; null: the admin token (0005) */
  owner_client_id: Nullable<string>;
  created_at: Date;
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event_id: string;
  event_type: string;
  body: string;
  status: Defaulted<WebhookDeliveryStatus>;
  attempts: Defaulted<number>;
  next_attempt_at: Date;
  created_at: Date;
  finished_at: Nullable<Date>;
}

export interface WebhookAttemptsTable {
  id: ColumnType<number | string, never, never>;
  delivery_id: string;
  webhook_id: string;
  event_id: string;
  attempt: number;
  at: Date;
  status_code: Nullable<number>;
  error: Nullable<string>;
  duration_ms: number;
}

export interface ApiClientsTable {
  id: string;
  name: Defaulted<string>;
  secret_hash: string;
  /** space-delimited */
  scopes: string;
  created_at: Date;
  revoked_at: Nullable<Date>;
}

export interface SigningKeysTable {
  kid: string;
  private_jwk: string;
  public_jwk: string;
  created_at: Date;
  activates_at: Date;
  retired_at: Nullable<Date>;
  expires_at: Nullable<Date>;
}

export interface RefreshTokensTable {
  token_hash: string;
  family_id: string;
  client_id: string;
  scopes: string;
  created_at: Date;
  expires_at: Date;
  used_at: Nullable<Date>;
  revoked_at: Nullable<Date>;
}

export interface TokenRevocationsTable {
  /** bigserial: pg returns int8 as a string */
  seq: ColumnType<string, never, never>;
  subject: string;
  created_at: Date;
  expires_at: Date;
}

export interface IdempotencyKeysTable {
  principal: string;
  key_hash: string;
  method: string;
  path: string;
  request_hash: string;
  status: Nullable<number>;
  response: Nullable<string>;
  created_at: Date;
  expires_at: Date;
}

export interface SchemaMigrationsTable {
  name: string;
  checksum: string;
  applied_at: Date;
}

export interface Schema {
  streams: StreamsTable;
  stream_keys: StreamKeysTable;
  viewer_sessions: ViewerSessionsTable;
  stream_metrics: StreamMetricsTable;
  stream_metrics_1m: StreamMetrics1mTable;
  stream_metrics_rollup_state: StreamMetricsRollupStateTable;
  quality_levels: QualityLevelsTable;
  schema_migrations: SchemaMigrationsTable;
  event_log_identity: EventLogIdentityTable;
  event_partitions: EventPartitionsTable;
  event_outbox: EventOutboxTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  api_clients: ApiClientsTable;
  signing_keys: SigningKeysTable;
  refresh_tokens: RefreshTokensTable;
  token_revocations: TokenRevocationsTable;
  idempotency_keys: IdempotencyKeysTable;
}

export type StreamRow = Selectable<StreamsTable>;
export type NewStreamRow = Insertable<StreamsTable>;
export type StreamKeyRow = Selectable<StreamKeysTable>;
export type StreamMetricsRow = Selectable<StreamMetricsTable>;
export type StreamMetrics1mRow = Selectable<StreamMetrics1mTable>;
export type ViewerSessionRow = Selectable<ViewerSessionsTable>;
export type QualityLevelRow = Selectable<QualityLevelsTable>;
export type EventOutboxRow = Selectable<EventOutboxTable>;
export type WebhookRow = Selectable<WebhooksTable>;
export type WebhookDeliveryRow = Selectable<WebhookDeliveriesTable>;
export type WebhookAttemptRow = Selectable<WebhookAttemptsTable>;
export type ApiClientRow = Selectable<ApiClientsTable>;
export type SigningKeyRow = Selectable<SigningKeysTable>;
