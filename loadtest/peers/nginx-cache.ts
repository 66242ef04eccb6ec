/**
 * Debian's nginx as a caching reverse proxy in front of one HTTP origin: the
 * peer an edge instance is compared with. It caches what the origin's
 * Cache-Control allows, keyed by the request URI (query included, so LL-HLS
 * blocking reloads are not merged), and lets one request per key reach the
 * origin at a time (proxy_cache_lock; an expired entry is refreshed in the
 * background while the stale copy is served). Every request that reached the
 * origin is logged, so its upstream fetches can be counted per URI.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNginx, type NginxPeer } from './nginx.js';
import { freePort } from './ports.js';

export interface NginxCacheProxy {
  peer: NginxPeer;
  /** http://127.0.0.1:port */
  http: string;
  /** requests the origin answered so far, by request URI (background refreshes included) */
  upstreamFetches(): Map<string, number>;
}

export interface NginxCacheOptions {
  /** the origin, http://host:port */
  origin: string;
  workerProcesses: number | 'auto';
}

/** The access log of upstream requests: cache status, upstream status, request URI. */
const UPSTREAM_LOG = 'logs/upstream.log';

export async function startNginxCache(options: NginxCacheOptions): Promise<NginxCacheProxy> {
  const port = await freePort();
  const origin = new URL(options.origin);
  const peer = await startNginx({
    ports: [port],
    workerProcesses: options.workerProcesses,
    // nginx at its best for a live cache: sendfile and long keep-alive towards viewers, keep-alive towards the origin
    config: (dir) => `events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  proxy_cache_path ${join(dir, 'cache')} levels=1:2 keys_zone=media:16m max_size=2g inactive=10m use_temp_path=off;
  map $upstream_addr $went_upstream { "" 0; default 1; }
  log_format upstream '$upstream_cache_status $upstream_status $request_uri';
  upstream origin { server ${origin.host}; keepalive 16; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache media;
      proxy_cache_key $request_uri;
      proxy_cache_lock on;
      proxy_cache_use_stale updating;
      proxy_cache_background_update on;
      log_subrequest on;
      access_log ${join(dir, UPSTREAM_LOG)} upstream if=$went_upstream;
    }
  }
}`,
  });
  return {
    peer,
    http: `http://127.0.0.1:${port}`,
    upstreamFetches() {
      const counts = new Map<string, number>();
      let text = '';
      try {
        text = readFileSync(join(peer.dir, UPSTREAM_LOG), 'utf8');
      } catch {
        // nothing went upstream yet: nginx creates the log at start, but be lenient
      }
      for (const line of text.split('\n')) {
        // a client served stale while a background request refreshes its copy is logged too, with no upstream status of its own
        const [, upstreamStatus, uri] = line.split(' ');
        if (uri !== undefined && upstreamStatus !== '-') counts.set(uri, (counts.get(uri) ?? 0) + 1);
      }
      return counts;
    },
  };
}
