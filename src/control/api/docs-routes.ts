import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { NovaError } from '../../errors.js';
import type { ApiResult, ApiRouter } from './api-router.js';
import { asyncApiDocument, wsMessagesSchemaFile, type WsMessagesSchema } from './asyncapi-document.js';
import type { OpenApiDocument } from './openapi-document.js';

/**
 * The contract, served: the OpenAPI document, the WebSocket messages'
 * JSON Schema and the AsyncAPI document built from it, and Swagger UI (the maintained swagger-ui-dist bundle) at
 * /api/docs. The page loads only its own files (a strict CSP, no inline
 * script), so its start-up script is one of the assets.
 */

const ASSETS: Record<string, { file: string; type: string }> = {
  'swagger-ui-bundle.js': { file: 'swagger-ui-bundle.js', type: 'text/javascript; charset=utf-8' },
  'swagger-ui.css': { file: 'swagger-ui.css', type: 'text/css; charset=utf-8' },
  'favicon-32x32.png': { file: 'favicon-32x32.png', type: 'image/png' },
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>nova-streaming API</title>
<link rel="stylesheet" href="/api/docs/swagger-ui.css">
<link rel="icon" type="image/png" href="/api/docs/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/api/docs/swagger-ui-bundle.js"></script>
<script src="/api/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.ui = SwaggerUIBundle({ url: '/api/v1/openapi.json', dom_id: '#swagger-ui', deepLinking: true });\n`;

/** Swagger UI styles elements inline and draws icons as data: URIs. */
const PAGE_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'";

/** `publicBase`: the server's public HTTP base, read per request (the AsyncAPI document's server). */
export function registerDocsRoutes(router: ApiRouter, document: () => OpenApiDocument, publicBase: () => string): void {
  const require = createRequire(import.meta.url);
  const swaggerDir = dirname(require.resolve('swagger-ui-dist/package.json'));
  const wsSchemaFile = wsMessagesSchemaFile();
  const loaded = new Map<string, Promise<Buffer>>();
  const load = (file: string): Promise<Buffer> => {
    let pending = loaded.get(file);
    if (!pending) {
      pending = readFile(file);
      pending.catch(() => loaded.delete(file));
      loaded.set(file, pending);
    }
    return pending;
  };

  router.handle('getOpenApi', async () => ({ status: 200, body: document() }));

  router.handle('getWebSocketSchema', async () => ({
    status: 200,
    raw: { contentType: 'application/schema+json', data: await load(wsSchemaFile), cacheControl: 'public, max-age=300' },
  }));

  router.handle('getAsyncApi', async () => {
    const wsSchema = JSON.parse((await load(wsSchemaFile)).toString('utf8')) as WsMessagesSchema;
    return { status: 200, body: asyncApiDocument(wsSchema, publicBase()) };
  });

  router.handle('getApiDocs', async () => page(PAGE, 'text/html; charset=utf-8'));

  router.handle('getApiDocsAsset', async (request) => {
    const name = request.params.asset as string;
    if (name === 'init.js') return page(INIT, 'text/javascript; charset=utf-8');
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name]! : null;
    if (asset === null) throw new NovaError('NOVA_ERR_NOT_FOUND', `no docs asset ${JSON.stringify(name.slice(0, 64))}`);
    return { status: 200, raw: { contentType: asset.type, data: await load(join(swaggerDir, asset.file)), cacheControl: 'public, max-age=86400' }, headers: { 'x-content-type-options': 'nosniff' } };
  });
}

function page(data: string, contentType: string): ApiResult {
  return {
    status: 200,
    raw: { contentType, data, cacheControl: 'public, max-age=300' },
    headers: { 'content-security-policy': PAGE_CSP, 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY', 'referrer-policy': 'no-referrer' },
  };
}
