import { useEffect, useState } from 'preact/hooks';

/**
 * Where the page is. The console's own pages live in the hash (#/, #/new,
 * #/streams/:id) so the server serves one page at /; the public watch page
 * has a real path, /watch/:id[?token=…], so its link can be shared.
 */
export type Route =
  | { page: 'list' }
  | { page: 'new' }
  | { page: 'stream'; id: string }
  | { page: 'watch'; id: string; token: string | null }
  | { page: 'unknown' };

export function currentRoute(): Route {
  const watch = /^\/watch\/([^/]+)\/?$/.exec(location.pathname);
  if (watch) return { page: 'watch', id: decodeURIComponent(watch[1]!), token: new URLSearchParams(location.search).get('token') };
  const hash = location.hash.replace(/^#/, '');
  if (hash === '' || hash === '/') return { page: 'list' };
  if (hash === '/new') return { page: 'new' };
  const stream = /^\/streams\/([^/]+)$/.exec(hash);
  if (stream) return { page: 'stream', id: decodeURIComponent(stream[1]!) };
  return { page: 'unknown' };
}

export function useRoute(): Route {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = (): void => setRoute(currentRoute());
    window.addEventListener('hashchange', changed);
    window.addEventListener('popstate', changed);
    return () => {
      window.removeEventListener('hashchange', changed);
      window.removeEventListener('popstate', changed);
    };
  }, []);
  return route;
}

export const href = {
  list: '#/',
  create: '#/new',
  stream: (id: string): string => `#/streams/${encodeURIComponent(id)}`,
  watch: (id: string, token?: string): string => `/watch/${encodeURIComponent(id)}${token ? `?token=${encodeURIComponent(token)}` : ''}`,
};
