import type { Registry } from 'prom-client';
import type { TemplatedApp } from 'uWebSockets.js';
import type { Config } from '../../config.js';
import type { Logger } from '../../log.js';
import { JwtVerifier } from '../auth/jwt-verifier.js';
import { PlaybackAuthorizer } from '../auth/playback-authorizer.js';
import { RequestAuthenticator } from '../auth/request-authenticator.js';
import { RevocationList } from '../auth/revocation-list.js';
import { SigningKeyRing } from '../auth/signing-keys.js';
import { ACCESS_TOKEN_SECONDS, TokenService } from '../auth/token-service.js';
import { ClientRepository } from '../db/client-repository.js';
import type { Database } from '../db/database.js';
import { StreamRepository } from '../db/stream-repository.js';
import type { EventLog } from '../events/event-log.js';
import { ApiRouter, type ApiIdempotency, type ApiRateLimiter } from './api-router.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerClientRoutes } from './clients-routes.js';
import { registerDocsRoutes } from './docs-routes.js';
import { registerDiscoverRoutes } from './discover-routes.js';
import { registerAnalyticsRoutes } from './analytics-routes.js';
import { ViewerAnalyticsRepository } from '../db/viewer-analytics-repository.js';
import { MetricsRepository } from '../db/metrics-repository.js';
import { MetricsRollupRepository } from '../db/metrics-rollup-repository.js';
import { LiveDirectory } from '../discovery/live-directory.js';
import { MAX_PLAYBACK_TOKEN_SECONDS, openApiDocument, type OpenApiDocument } from './openapi-document.js';
import { OpenApiValidator } from './openapi-validator.js';
import { IdempotencyStore } from './idempotency.js';
import { RateLimits } from './rate-limits.js';
import { registerStreamRoutes, type LiveStreamInfo } from './streams-routes.js';
import { registerEventRoutes } from './events-routes.js';
import { registerWebhookRoutes, type WebhookRoutesDeps } from './webhooks-routes.js';

export interface ControlApiDeps {
  app: TemplatedApp;
  database: Database;
  config: Pick<Config, 'auth' | 'rateLimit' | 'redisUrl' | 'publicHttpUrl'>;
  adminToken: string;
  registry: Registry;
  log: Logger;
  /** read per response: with HTTP_PORT=0 the port is known only after listen */
  urls: { readonly rtmpBase: string; readonly httpBase: string };
  repo?: StreamRepository;
  onDelete(streamId: string): void;
  liveInfo(streamId: string): LiveStreamInfo | null;
  /** the webhooks operations: their table, WEBHOOK_ALLOW_PRIVATE, and what a deletion also drops (its breaker) */
  webhooks: WebhookRoutesDeps;
  /** the durable event log whose groups and dead letters the admin operations show */
  eventLog: EventLog;
  /** viewers of a stream across instances (discovery); default: liveInfo's, which knows only streams live here */
  viewers?(streamId: string): number;
  /** whether discovery lists a thumbnail URL for the stream; absent: never */
  hasThumbnail?(streamId: string): boolean;
  /** replaces the limits the config asks for (tests) */
  rateLimiter?: ApiRateLimiter | null;
  idempotency?: ApiIdempotency | null;
  /** cheaper scrypt for client secrets (tests only) */
  secretHashParams?: { N: number; r: number; p: number };
}

export interface ControlApi {
  router: ApiRouter;
  keys: SigningKeyRing;
  tokens: TokenService;
  revocations: RevocationList;
  clients: ClientRepository;
  /** the check the media routes and the WebSocket hub make for private streams */
  playback: PlaybackAuthorizer;
  /** public discovery's once-a-second list of live streams */
  directory: LiveDirectory;
  document(): OpenApiDocument;
  close(): Promise<void>;
}

/** The REST API: builds the auth services and registers every operation of the OpenAPI document. */
export async function startControlApi(deps: ControlApiDeps): Promise<ControlApi> {
  const { database, config, log } = deps;
  const issuer = (): string => (config.publicHttpUrl ?? deps.urls.httpBase).replace(/\/+$/, '');
  const keys = await SigningKeyRing.open(database.db, {
    reloadMs: config.auth.keyReloadMs,
    maxTokenSeconds: Math.max(ACCESS_TOKEN_SECONDS, MAX_PLAYBACK_TOKEN_SECONDS),
    log: log.child({ component: 'signing-keys' }),
  });
  let revocations: RevocationList;
  try {
    // Embedded PGlite is this instance's alone: a revocation made here is in memory at once, and
    // polling it four times a second only cost CPU on every instance (see docs/operations.md,
    // "Idle work"); a slow poll still prunes expired entries.
    const pollMs = database.kind === 'pglite' ? 60_000 : config.auth.revocationPollMs;
    revocations = await RevocationList.open(database.db, { pollMs, log: log.child({ component: 'revocations' }) });
  } catch (err) {
    keys.close();
    throw err;
  }
  const verifier = new JwtVerifier((kid) => keys.publicKey(kid), issuer);
  const tokens = new TokenService({ db: database.db, keys, verifier, revocations, issuer });
  const clients = new ClientRepository(database.db, undefined, deps.secretHashParams);
  const document = (): OpenApiDocument => openApiDocument(issuer());
  const limits = deps.rateLimiter === undefined ? RateLimits.create(config, log.child({ component: 'rate-limits' })) : null;
  const router = new ApiRouter({
    app: deps.app,
    document: openApiDocument(),
    validator: new OpenApiValidator(openApiDocument()),
    authenticator: new RequestAuthenticator(deps.adminToken, tokens),
    registry: deps.registry,
    log,
    rateLimiter: deps.rateLimiter ?? limits,
    idempotency: deps.idempotency === undefined ? new IdempotencyStore(database.db) : deps.idempotency,
  });
  const repo = deps.repo ?? new StreamRepository(database.db);
  const directory = new LiveDirectory({
    load: (max) => repo.listLivePublic(max),
    viewers: deps.viewers ?? ((id) => deps.liveInfo(id)?.viewers ?? 0),
    thumbnail: deps.hasThumbnail,
    log: log.child({ component: 'discovery' }),
  });
  registerStreamRoutes(router, {
    repo,
    tokens,
    urls: deps.urls,
    onDelete: deps.onDelete,
    liveInfo: deps.liveInfo,
  });
  registerAnalyticsRoutes(router, {
    streams: repo,
    metrics: new MetricsRepository(database.db),
    rollups: new MetricsRollupRepository(database.db),
    viewers: new ViewerAnalyticsRepository(database.db),
  });
  registerClientRoutes(router, { clients, revocations });
  registerAuthRoutes(router, { clients, tokens, keys, issuer });
  registerDocsRoutes(router, document, issuer);
  registerDiscoverRoutes(router, { directory, httpBase: () => deps.urls.httpBase });
  registerWebhookRoutes(router, deps.webhooks);
  registerEventRoutes(router, { log: deps.eventLog });
  router.finish();
  return {
    router,
    keys,
    tokens,
    revocations,
    clients,
    playback: new PlaybackAuthorizer(verifier, revocations, keys),
    directory,
    document,
    close: async () => {
      keys.close();
      revocations.close();
      await limits?.close();
    },
  };
}
