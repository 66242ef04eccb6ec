import type { TemplatedApp } from 'uWebSockets.js';

/** One registration on a uWS app: "GET", "POST", …, "ANY" or "WS", and the pattern as given (":id" parameters). */
export interface RegisteredRoute {
  method: string;
  pattern: string;
}

const METHODS = { get: 'GET', post: 'POST', put: 'PUT', del: 'DELETE', patch: 'PATCH', head: 'HEAD', options: 'OPTIONS', connect: 'CONNECT', trace: 'TRACE', any: 'ANY', ws: 'WS' } as const;

/**
 * Makes `app` write down every route registered on it from now on and
 * returns that list (it grows as routes are added). uWS keeps no list of
 * its own, and the route-coverage test needs one: a REST route registered
 * straight on the app, outside the OpenAPI router, must show up there. Only
 * registration is wrapped; requests never pass through here.
 */
export function recordRoutes(app: TemplatedApp): readonly RegisteredRoute[] {
  const routes: RegisteredRoute[] = [];
  const methods = app as unknown as Record<string, (pattern: string, handler: unknown) => TemplatedApp>;
  for (const [name, method] of Object.entries(METHODS)) {
    const original = methods[name]!;
    methods[name] = function (this: TemplatedApp, pattern: string, handler: unknown): TemplatedApp {
      routes.push({ method, pattern });
      return original.call(this, pattern, handler);
    };
  }
  return routes;
}
