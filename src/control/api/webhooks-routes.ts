import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import { NovaError } from '../../errors.js';
import type { Logger } from '../../log.js';
import { captureRequest, parseJsonObject, readBody, sendError, sendJson, type RequestContext } from '../../http/uws-helpers.js';
import { checkBearer } from '../auth/admin-token.js';
import { DURABLE_EVENT_TYPES } from '../events/stream-events.js';
import type { AttemptRecord, WebhookRecord, WebhookRepository } from '../webhooks/webhook-repository.js';
import { checkWebhookTarget, parseWebhookUrl } from '../webhooks/webhook-target.js';

export interface WebhookRoutesDeps {
  repo: WebhookRepository;
  adminToken: string;
  /** WEBHOOK_ALLOW_PRIVATE */
  allowInternal: boolean;
  /** a webhook deleted: its breaker goes with it */
  onDeleted(id: string): void;
  /** a webhook was enabled again: its waiting deliveries are due */
  onEnabled?(id: string): void;
  now?: () => number;
  logger: Logger;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const MAX_BODY_BYTES = 16 * 1024;
const FIELDS = new Set(['url', 'event_types', 'description']);
const MAX_DESCRIPTION = 500;
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const WWW_AUTHENTICATE = { 'www-authenticate': 'Bearer realm="nova-streaming"' };

/**
 * Webhooks (admin bearer token until API clients land; a webhook then
 * belongs to the client that registered it):
 *   POST   /api/v1/webhooks                {url, event_types, description?} → 201, with the signing secret (only here)
 *   GET    /api/v1/webhooks                list
 *   GET    /api/v1/webhooks/:id            one
 *   DELETE /api/v1/webhooks/:id            delete, with its deliveries and attempts
 *   POST   /api/v1/webhooks/:id/enable     enable again after it was disabled
 *   GET    /api/v1/webhooks/:id/attempts   every attempt, newest first (?limit=&before=)
 */
export function registerWebhookRoutes(app: TemplatedApp, deps: WebhookRoutesDeps): void {
  const now = deps.now ?? Date.now;
  const guarded = (res: HttpResponse, ctx: RequestContext, handler: () => Promise<void>): void => {
    if (!checkBearer(ctx.headers.get('authorization'), deps.adminToken)) {
      sendJson(res, ctx, 401, { error: { code: 'NOVA_ERR_UNAUTHORIZED', message: 'missing or invalid bearer token' } }, WWW_AUTHENTICATE);
      return;
    }
    handler().catch((err: unknown) => {
      if (!(err instanceof NovaError)) deps.logger.error({ err, method: ctx.method, url: ctx.url }, 'webhooks API request failed');
      sendError(res, ctx, err);
    });
  };
  const webhookOf = async (id: string): Promise<WebhookRecord> => {
    const webhook = ID.test(id) ? await deps.repo.get(id) : null;
    if (!webhook) throw new NovaError('NOVA_ERR_NOT_FOUND', `no webhook ${JSON.stringify(id.slice(0, 64))}`);
    return webhook;
  };

  app.post('/api/v1/webhooks', (res, req) => {
    const ctx = captureRequest(res, req);
    if (Number(ctx.headers.get('content-length') ?? '0') > MAX_BODY_BYTES) {
      sendError(res, ctx, new NovaError('NOVA_ERR_PAYLOAD_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes`));
      return;
    }
    const body = readBody(res, ctx, MAX_BODY_BYTES);
    guarded(res, ctx, async () => {
      const input = parseCreate(parseJsonObject(await body));
      const url = parseWebhookUrl(input.url);
      await checkWebhookTarget(url, deps.allowInternal);
      const created = await deps.repo.create({ url: url.toString(), eventTypes: input.eventTypes, description: input.description, owner: null }, new Date(now()));
      deps.logger.info({ webhook: created.webhook.id, url: created.webhook.url }, 'webhook registered');
      sendJson(res, ctx, 201, { ...view(created.webhook), secret: created.secret });
    });
    body.catch(() => {});
  });

  app.get('/api/v1/webhooks', (res, req) => {
    const ctx = captureRequest(res, req);
    guarded(res, ctx, async () => sendJson(res, ctx, 200, { items: (await deps.repo.list()).map(view) }));
  });

  app.get('/api/v1/webhooks/:id', (res, req) => {
    const ctx = captureRequest(res, req);
    const id = req.getParameter(0) ?? '';
    guarded(res, ctx, async () => sendJson(res, ctx, 200, view(await webhookOf(id))));
  });

  app.del('/api/v1/webhooks/:id', (res, req) => {
    const ctx = captureRequest(res, req);
    const id = req.getParameter(0) ?? '';
    guarded(res, ctx, async () => {
      const webhook = await webhookOf(id);
      await deps.repo.delete(webhook.id);
      deps.onDeleted(webhook.id);
      sendJson(res, ctx, 200, view(webhook));
    });
  });

  app.post('/api/v1/webhooks/:id/enable', (res, req) => {
    const ctx = captureRequest(res, req);
    const id = req.getParameter(0) ?? '';
    res.onData(() => {});
    guarded(res, ctx, async () => {
      const webhook = await deps.repo.enable((await webhookOf(id)).id);
      deps.onEnabled?.(webhook!.id);
      sendJson(res, ctx, 200, view(webhook!));
    });
  });

  app.get('/api/v1/webhooks/:id/attempts', (res, req) => {
    const ctx = captureRequest(res, req);
    const id = req.getParameter(0) ?? '';
    guarded(res, ctx, async () => {
      const webhook = await webhookOf(id);
      const params = new URLSearchParams(ctx.query);
      const limit = integer(params.get('limit'), 'limit', DEFAULT_LIMIT, 1, MAX_LIMIT);
      const before = params.get('before') === null ? undefined : integer(params.get('before'), 'before', 0, 1, Number.MAX_SAFE_INTEGER);
      const attempts = await deps.repo.attempts(webhook.id, limit, before);
      sendJson(res, ctx, 200, { items: attempts.map(attemptView), next_before: attempts.length === limit ? attempts[attempts.length - 1]!.id : null });
    });
  });
}

function parseCreate(body: Record<string, unknown>): { url: unknown; eventTypes: string[]; description: string } {
  for (const field of Object.keys(body)) {
    if (!FIELDS.has(field)) throw new NovaError('NOVA_ERR_BAD_REQUEST', `unknown field ${JSON.stringify(field.slice(0, 64))}`);
  }
  const types = body.event_types;
  if (!Array.isArray(types) || types.length === 0 || types.length > 20) throw new NovaError('NOVA_ERR_BAD_REQUEST', 'event_types must be a list of 1 to 20 event types, or ["*"]');
  for (const type of types) {
    if (type !== '*' && !(typeof type === 'string' && DURABLE_EVENT_TYPES.has(type as never))) {
      throw new NovaError('NOVA_ERR_BAD_REQUEST', `event_types: ${JSON.stringify(String(type).slice(0, 64))} is not one of *, ${[...DURABLE_EVENT_TYPES].join(', ')}`);
    }
  }
  const description = body.description ?? '';
  if (typeof description !== 'string' || description.length > MAX_DESCRIPTION || description.includes('\u0000')) {
    throw new NovaError('NOVA_ERR_BAD_REQUEST', `description must be text of at most ${MAX_DESCRIPTION} characters`);
  }
  return { url: body.url, eventTypes: [...new Set(types as string[])], description };
}

function integer(text: string | null, name: string, fallback: number, min: number, max: number): number {
  if (text === null) return fallback;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(value >= min && value <= max)) throw new NovaError('NOVA_ERR_BAD_REQUEST', `${name} must be an integer from ${min} to ${max}`);
  return value;
}

function view(webhook: WebhookRecord): Record<string, unknown> {
  return {
    id: webhook.id,
    url: webhook.url,
    event_types: webhook.eventTypes,
    description: webhook.description,
    enabled: webhook.enabled,
    disabled_reason: webhook.disabledReason,
    created_at: webhook.createdAt.toISOString(),
  };
}

function attemptView(attempt: AttemptRecord): Record<string, unknown> {
  return {
    id: attempt.id,
    delivery_id: attempt.deliveryId,
    event_id: attempt.eventId,
    attempt: attempt.attempt,
    at: attempt.at.toISOString(),
    status_code: attempt.statusCode,
    error: attempt.error,
    duration_ms: attempt.durationMs,
  };
}
