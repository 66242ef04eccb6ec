import { NovaError } from '../../errors.js';
import { seesEverything, type Principal } from '../auth/principal.js';
import type { AttemptRecord, WebhookRecord, WebhookRepository } from '../webhooks/webhook-repository.js';
import { checkWebhookTarget, parseWebhookUrl } from '../webhooks/webhook-target.js';
import type { ApiRequest, ApiRouter } from './api-router.js';

export interface WebhookRoutesDeps {
  repo: WebhookRepository;
  /** WEBHOOK_ALLOW_PRIVATE */
  allowInternal: boolean;
  /** a webhook deleted: its breaker goes with it */
  onDeleted(id: string): void;
  /** a webhook was enabled again: its waiting deliveries are due */
  onEnabled?(id: string): void;
  now?: () => number;
}

const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The webhooks operations (schemas and scopes in openapi-document.ts). A
 * webhook belongs to the client that registered it, as a stream does: another
 * client gets 404 for it; the admin token and `admin` clients see every one.
 * What a webhook is sent is limited to its owner's streams at fan-out
 * (WebhookRepository.enqueue), not here.
 */
export function registerWebhookRoutes(router: ApiRouter, deps: WebhookRoutesDeps): void {
  const now = deps.now ?? Date.now;

  /** The webhook if this principal may see it, else the same 404 as an unknown id. */
  const visibleWebhook = async (request: ApiRequest): Promise<WebhookRecord> => {
    const id = request.params.id as string;
    const webhook = ID.test(id) ? await deps.repo.get(id) : null;
    if (!webhook || !owns(request.principal!, webhook)) throw new NovaError('NOVA_ERR_NOT_FOUND', `no webhook ${JSON.stringify(id.slice(0, 64))}`);
    return webhook;
  };

  router.handle('createWebhook', async (request) => {
    const principal = request.principal!;
    const { url: raw, event_types: eventTypes, description } = request.body as { url: string; event_types: string[]; description: string };
    const url = parseWebhookUrl(raw);
    await checkWebhookTarget(url, deps.allowInternal);
    const created = await deps.repo.create(
      {
        url: url.toString(),
        eventTypes: [...new Set(eventTypes)],
        description,
        ownerClientId: principal.kind === 'client' ? principal.clientId : null,
      },
      new Date(now()),
    );
    request.log.info({ webhook: created.webhook.id, url: created.webhook.url }, 'webhook registered');
    return { status: 201, body: { ...view(created.webhook), secret: created.secret } };
  });

  router.handle('listWebhooks', async (request) => {
    const principal = request.principal!;
    const items = await deps.repo.list(seesEverything(principal) || principal.kind !== 'client' ? {} : { ownerClientId: principal.clientId });
    return { status: 200, body: { items: items.map(view) } };
  });

  router.handle('getWebhook', async (request) => ({ status: 200, body: view(await visibleWebhook(request)) }));

  router.handle('deleteWebhook', async (request) => {
    const webhook = await visibleWebhook(request);
    await deps.repo.delete(webhook.id);
    deps.onDeleted(webhook.id);
    request.log.info({ webhook: webhook.id }, 'webhook deleted');
    return { status: 200, body: view(webhook) };
  });

  router.handle('enableWebhook', async (request) => {
    const webhook = await deps.repo.enable((await visibleWebhook(request)).id);
    // deleted between the two statements: as if it never was
    if (!webhook) throw new NovaError('NOVA_ERR_NOT_FOUND', `no webhook ${JSON.stringify(String(request.params.id))}`);
    // its deliveries due meanwhile go now, not when the dispatcher next looks
    deps.onEnabled?.(webhook.id);
    return { status: 200, body: view(webhook) };
  });

  router.handle('listWebhookAttempts', async (request) => {
    const webhook = await visibleWebhook(request);
    const { limit, before } = request.params as { limit: number; before?: number };
    const attempts = await deps.repo.attempts(webhook.id, limit, before);
    return { status: 200, body: { items: attempts.map(attemptView), next_before: attempts.length === limit ? attempts[attempts.length - 1]!.id : null } };
  });
}

function owns(principal: Principal, webhook: WebhookRecord): boolean {
  return seesEverything(principal) || (principal.kind === 'client' && webhook.ownerClientId === principal.clientId);
}

function view(webhook: WebhookRecord): Record<string, unknown> {
  return {
    id: webhook.id,
    url: webhook.url,
    event_types: webhook.eventTypes,
    description: webhook.description,
    enabled: webhook.enabled,
    disabled_reason: webhook.disabledReason,
    owner_client_id: webhook.ownerClientId,
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
