import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { extname, join, relative, sep } from 'node:path';
import type { HttpResponse } from 'uWebSockets.js';
import { etagMatches } from './etag.js';
import { endHead, statusLine, type RequestContext } from './uws-helpers.js';

/**
 * A folder of built files served from memory: everything is read once at
 * start, and a request can only name a file that was listed then (the URL
 * path is a key into that list, never joined to a file system path), so no
 * spelling of `..` reaches outside it. `name.br` and `name.gz` beside a file
 * are its precompressed bodies, picked by Accept-Encoding.
 */

export interface StaticAsset {
  contentType: string;
  body: Buffer;
  br: Buffer | null;
  gzip: Buffer | null;
  etag: string;
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

/** A built front end is a few MB at most: a bigger folder is a wrong CONSOLE_DIR, not something to hold in memory. */
const MAX_TOTAL_BYTES = 64 * 1024 * 1024;

export class StaticAssets {
  readonly #files: Map<string, StaticAsset>;

  private constructor(files: Map<string, StaticAsset>) {
    this.#files = files;
  }

  /** Reads every file under `dir`, keyed by its path relative to `dir` with forward slashes ("assets/app-X1.js"). Null when `dir` does not exist. */
  static async load(dir: string): Promise<StaticAssets | null> {
    let names: string[];
    try {
      names = (await readdir(dir, { recursive: true, withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => join(entry.parentPath, entry.name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const bodies = new Map<string, Buffer>();
    let total = 0;
    for (const file of names) {
      const body = await readFile(file);
      total += body.byteLength;
      if (total > MAX_TOTAL_BYTES) throw new Error(`${dir} holds more than ${MAX_TOTAL_BYTES} bytes: not a built front end`);
      bodies.set(relative(dir, file).split(sep).join('/'), body);
    }
    const files = new Map<string, StaticAsset>();
    for (const [name, body] of bodies) {
      if (name.endsWith('.br') || name.endsWith('.gz')) continue;
      files.set(name, {
        contentType: CONTENT_TYPES[extname(name).toLowerCase()] ?? 'application/octet-stream',
        body,
        br: bodies.get(`${name}.br`) ?? null,
        gzip: bodies.get(`${name}.gz`) ?? null,
        etag: `"${createHash('sha1').update(body).digest('base64url').slice(0, 22)}"`,
      });
    }
    return new StaticAssets(files);
  }

  get(name: string): StaticAsset | null {
    return this.#files.get(name) ?? null;
  }

  names(): string[] {
    return [...this.#files.keys()];
  }
}

/**
 * Writes one asset (GET or HEAD): 304 when If-None-Match matches, else the
 * smallest body the client accepts. Synchronous: nothing to abort.
 */
export function sendAsset(res: HttpResponse, ctx: RequestContext, asset: StaticAsset, cacheControl: string, headers: Record<string, string> = {}): void {
  if (ctx.aborted) return;
  const notModified = etagMatches(ctx.headers.get('if-none-match'), asset.etag);
  const accepts = ctx.headers.get('accept-encoding') ?? '';
  const encoding = asset.br !== null && /\bbr\b/.test(accepts) ? 'br' : asset.gzip !== null && /\bgzip\b/.test(accepts) ? 'gzip' : null;
  const body = encoding === 'br' ? asset.br! : encoding === 'gzip' ? asset.gzip! : asset.body;
  res.cork(() => {
    res.writeStatus(statusLine(notModified ? 304 : 200));
    res.writeHeader('content-type', asset.contentType);
    res.writeHeader('cache-control', cacheControl);
    res.writeHeader('etag', asset.etag);
    res.writeHeader('x-content-type-options', 'nosniff');
    if (asset.br !== null || asset.gzip !== null) res.writeHeader('vary', 'accept-encoding');
    if (encoding !== null && !notModified) res.writeHeader('content-encoding', encoding);
    for (const name in headers) res.writeHeader(name, headers[name]!);
    if (notModified) res.endWithoutBody();
    else if (ctx.method === 'HEAD') endHead(res, body.byteLength);
    else res.end(body);
  });
}
