import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HttpRequest, HttpResponse, TemplatedApp } from 'uWebSockets.js';
import type { Logger } from '../../log.js';
import { captureRequest, sendJson } from '../../http/uws-helpers.js';
import { sendAsset, StaticAssets } from '../../http/static-assets.js';

/**
 * The web console (console/, built by `npm run build` into dist/console):
 * its page at `/` and at `/watch/:id` (the same single-page app, which reads
 * the path), and its files at `/console/assets/*`. Served from memory, on the
 * control side: nothing here touches media.
 */

/** esbuild names bundles name-HASH.ext (8 characters of base32): such a file never changes, so caches keep it a year. */
const HASHED = /-[A-Z0-9]{8}\.[a-z0-9]+$/;
const IMMUTABLE = 'public, max-age=31536000, immutable';
/**
 * The page runs only its own bundle. Media and the WebSocket may come from
 * elsewhere (PUBLIC_URL, a CDN in front of the media routes); hls.js feeds
 * MediaSource through blob: URLs and runs its worker from one.
 */
const PAGE_HEADERS: Record<string, string> = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob: http: https:; media-src 'self' blob:; worker-src 'self' blob:; " +
    "connect-src 'self' http: https: ws: wss:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  // the watch page's URL can carry a viewer token
  'referrer-policy': 'no-referrer',
};

/** dist/console in the repository, found from this file in src/ (tsx) or dist/src/ (the build). */
export function defaultConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('no package.json above src/control/console');
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

export interface ConsoleRoutes {
  /** whether a built console was found */
  readonly built: boolean;
}

export async function registerConsoleRoutes(app: TemplatedApp, options: { dir: string; log: Logger }): Promise<ConsoleRoutes> {
  const assets = await StaticAssets.load(options.dir);
  const index = assets?.get('index.html') ?? null;
  if (index === null) options.log.warn({ dir: options.dir }, 'web console not built: / answers 404 (npm run build writes it)');
  else options.log.info({ dir: options.dir, files: assets!.names().length }, 'web console served at /');

  const page = (res: HttpResponse, req: HttpRequest): void => {
    const ctx = captureRequest(res, req);
    if (index === null) {
      sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: `the web console is not built: npm run build writes it to ${options.dir}` } });
      return;
    }
    // no-cache: the page names the current bundles, so it is revalidated (ETag) on every load
    sendAsset(res, ctx, index, 'no-cache', PAGE_HEADERS);
  };
  const asset = (res: HttpResponse, req: HttpRequest): void => {
    const ctx = captureRequest(res, req);
    const name = ctx.url.slice('/console/'.length);
    const found = name.startsWith('assets/') ? (assets?.get(name) ?? null) : null;
    if (found === null) {
      sendJson(res, ctx, 404, { error: { code: 'NOVA_ERR_NOT_FOUND', message: 'no such console asset' } });
      return;
    }
    sendAsset(res, ctx, found, HASHED.test(name) ? IMMUTABLE : 'no-cache');
  };
  for (const path of ['/', '/watch/:id']) {
    app.get(path, page);
    app.head(path, page);
  }
  app.get('/console/assets/*', asset);
  app.head('/console/assets/*', asset);
  return { built: index !== null };
}
