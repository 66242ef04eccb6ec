import { NovaError } from '../../errors.js';
import { ACCESS_TOKEN_SECONDS } from '../auth/token-service.js';
import type { RevocationList } from '../auth/revocation-list.js';
import { SCOPES, type Scope } from '../auth/scopes.js';
import type { ApiClientRecord, ClientRepository } from '../db/client-repository.js';
import type { ApiRouter } from './api-router.js';
import { MAX_PLAYBACK_TOKEN_SECONDS } from './openapi-document.js';

export interface ClientRoutesDeps {
  clients: ClientRepository;
  revocations: RevocationList;
}

/** API clients, admin only: the secret is in the create response and nowhere else. */
export function registerClientRoutes(router: ApiRouter, deps: ClientRoutesDeps): void {
  const find = async (id: string): Promise<ApiClientRecord> => {
    const client = await deps.clients.get(id);
    if (!client) throw new NovaError('NOVA_ERR_NOT_FOUND', `no client ${JSON.stringify(id.slice(0, 64))}`);
    return client;
  };

  router.handle('createClient', async (request) => {
    const { name, scopes } = request.body as { name: string; scopes: Scope[] };
    const created = await deps.clients.create({ name, scopes: new Set(scopes) });
    request.log.info({ clientId: created.client.id, scopes }, 'API client created');
    return { status: 201, body: { ...view(created.client), client_secret: created.clientSecret } };
  });

  router.handle('listClients', async () => ({ status: 200, body: { items: (await deps.clients.list()).map(view) } }));

  router.handle('getClient', async (request) => ({ status: 200, body: view(await find(request.params.id as string)) }));

  router.handle('revokeClient', async (request) => {
    await find(request.params.id as string);
    const revoked = (await deps.clients.revoke(request.params.id as string))!;
    // Its access tokens (15 min) and the viewer tokens it minted (up to a day) stop everywhere within a poll.
    await deps.revocations.revoke(`client:${revoked.id}`, Date.now() + Math.max(ACCESS_TOKEN_SECONDS, MAX_PLAYBACK_TOKEN_SECONDS) * 1000 + 60_000);
    request.log.info({ clientId: revoked.id }, 'API client revoked');
    return { status: 200, body: view(revoked) };
  });
}

function view(client: ApiClientRecord): Record<string, unknown> {
  return {
    client_id: client.id,
    name: client.name,
    scopes: SCOPES.filter((scope) => client.scopes.has(scope)),
    created_at: client.createdAt.toISOString(),
    revoked_at: client.revokedAt?.toISOString() ?? null,
  };
}
