import type { TemplatedApp } from 'uWebSockets.js';
import type { Registry } from 'prom-client';
import { captureRequest, sendJson } from '../http/uws-helpers.js';

export interface HealthCheck {
  /** component name in the /health body */
  name: string;
  /** null when healthy, else a short reason; warnings do not make /health fail */
  check(): Promise<{ ok: boolean; detail?: string }>;
}

/**
 * /metrics (Prometheus text), /health (liveness: the process serves; lists
 * component states and warnings), /ready (readiness: the database answers).
 */
export function registerOpsRoutes(
  app: TemplatedApp,
  deps: { registry: Registry; checks: HealthCheck[]; ready: () => Promise<boolean>; warnings: () => string[] },
): void {
  app.get('/metrics', (res, req) => {
    const ctx = captureRequest(res, req);
    deps.registry.metrics().then(
      (text) => {
        if (ctx.aborted) return;
        res.cork(() => {
          res.writeStatus('200 OK');
          res.writeHeader('content-type', deps.registry.contentType);
          res.end(text);
        });
      },
      () => sendJson(res, ctx, 500, { error: { code: 'NOVA_ERR_INTERNAL', message: 'metrics collection failed' } }),
    );
  });

  app.get('/health', (res, req) => {
    const ctx = captureRequest(res, req);
    void Promise.all(
      deps.checks.map(async (c) => {
        try {
          return { name: c.name, ...(await c.check()) };
        } catch (err) {
          return { name: c.name, ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    ).then((components) => {
      sendJson(res, ctx, 200, { status: 'ok', components, warnings: deps.warnings() });
    });
  });

  app.get('/ready', (res, req) => {
    const ctx = captureRequest(res, req);
    deps.ready().then(
      (ready) => sendJson(res, ctx, ready ? 200 : 503, { ready }),
      () => sendJson(res, ctx, 503, { ready: false }),
    );
  });
}
