import type { ApiClientRecord, ClientRepository } from '../db/client-repository.js';
import { OAuthError } from '../auth/oauth-error.js';
import { SCOPES } from '../auth/scopes.js';
import type { SigningKeyRing } from '../auth/signing-keys.js';
import type { TokenService } from '../auth/token-service.js';
import type { ApiRequest, ApiRouter } from './api-router.js';

export interface AuthRoutesDeps {
  clients: ClientRepository;
  tokens: TokenService;
  keys: SigningKeyRing;
  /** the public base URL (issuer and endpoint URLs in the metadata) */
  issuer(): string;
}

/** Token responses must not be cached anywhere (RFC 6749 §5.1). */
const NO_STORE = { pragma: 'no-cache' };

/**
 * The OAuth2 endpoints (one grant, client credentials, plus refresh), the
 * JWKS and the RFC 8414 metadata. A thin handler of our own rather than
 * @node-oauth/oauth2-server: see docs/api.md, "Why our own token endpoint".
 */
export function registerAuthRoutes(router: ApiRouter, deps: AuthRoutesDeps): void {
  router.handle('issueToken', async (request) => {
    const client = await authenticateClient(request, deps.clients);
    const body = request.body as { grant_type: string; scope?: string; refresh_token?: string };
    if (body.grant_type !== 'client_credentials' && body.grant_type !== 'refresh_token') {
      throw new OAuthError('unsupported_grant_type', 'grant_type must be client_credentials or refresh_token');
    }
    const tokens =
      body.grant_type === 'client_credentials'
        ? await deps.tokens.clientCredentials(client, body.scope)
        : await deps.tokens.refresh(client, body.refresh_token, body.scope);
    request.log.info({ clientId: client.id, grant: body.grant_type, scope: tokens.scope }, 'tokens issued');
    return { status: 200, body: tokens, headers: NO_STORE };
  });

  router.handle('revokeToken', async (request) => {
    const client = await authenticateClient(request, deps.clients);
    await deps.tokens.revoke(client, request.body.token as string);
    return { status: 200, headers: NO_STORE };
  });

  router.handle('rotateSigningKey', async () => {
    const rotated = await deps.keys.rotate();
    return { status: 201, body: { kid: rotated.kid, activates_at: rotated.activatesAt.toISOString() } };
  });

  router.handle('getJwks', async () => ({
    status: 200,
    body: deps.keys.jwks(),
    // Short: a rotation publishes a key well before it signs (see signing-keys.ts).
    headers: { 'cache-control': 'public, max-age=60' },
  }));

  router.handle('getAuthorizationServerMetadata', async () => {
    const issuer = deps.issuer();
    return {
      status: 200,
      body: {
        issuer,
        token_endpoint: `${issuer}/api/v1/auth/token`,
        revocation_endpoint: `${issuer}/api/v1/auth/revoke`,
        jwks_uri: `${issuer}/.well-known/jwks.json`,
        scopes_supported: [...SCOPES],
        // No authorization endpoint: client credentials only, so no response types.
        response_types_supported: [],
        grant_types_supported: ['client_credentials', 'refresh_token'],
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        revocation_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
      },
      headers: { 'cache-control': 'public, max-age=300' },
    };
  });
}

/**
 * RFC 6749 §2.3.1: HTTP Basic (each part form-urlencoded) or client_id and
 * client_secret in the body, never both.
 */
async function authenticateClient(request: ApiRequest, clients: ClientRepository): Promise<ApiClientRecord> {
  const header = request.ctx.headers.get('authorization');
  const bodyId = request.body.client_id;
  const bodySecret = request.body.client_secret;
  let id: string;
  let secret: string;
  if (header !== undefined && header !== '') {
    if (bodySecret !== undefined) throw new OAuthError('invalid_request', 'use HTTP Basic or client_secret in the body, not both');
    const match = /^Basic[ \t]+([A-Za-z0-9+/]+=*)[ \t]*$/i.exec(header);
    const decoded = match ? Buffer.from(match[1]!, 'base64').toString('utf8') : '';
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials');
    try {
      id = decodeURIComponent(decoded.slice(0, colon).replaceAll('+', ' '));
      secret = decodeURIComponent(decoded.slice(colon + 1).replaceAll('+', ' '));
    } catch {
      throw new OAuthError('invalid_client', 'malformed HTTP Basic credentials');
    }
    if (typeof bodyId === 'string' && bodyId !== id) throw new OAuthError('invalid_request', 'client_id in the body differs from HTTP Basic');
  } else {
    if (typeof bodyId !== 'string' || typeof bodySecret !== 'string') throw new OAuthError('invalid_client', 'client authentication required (HTTP Basic, or client_id and client_secret)');
    id = bodyId;
    secret = bodySecret;
  }
  const client = await clients.authenticate(id, secret);
  if (!client) throw new OAuthError('invalid_client', 'unknown client, wrong secret, or revoked client');
  return client;
}
