import type { TemplatedApp } from 'uWebSockets.js';
import { Gauge, type Registry } from 'prom-client';
import { captureRequest, sendJson } from '../http/uws-helpers.js';
import { DependencyProbe } from './dependency-probe.js';

export interface HealthCheck {
  /** component name in the /health body */
  name: string;
  /** in-process state only: /health answers without waiting; warnings do not make /health fail */
  check(): { ok: boolean; detail?: string };
}

/** An outside dependency the instance needs to serve: /ready awaits it, /health only reports it. */
export interface Dependency {
  /** component name in the /health body */
  name: string;
  /** resolves when the dependency answers */
  probe(): Promise<void>;
  /** shown beside a healthy state (e.g. the database kind) */
  detail: string;
}

/**
 * How long /ready waits for a dependency: under the chart's readiness timeoutSeconds (3),
 * so the pod answers 503 itself rather than leaving the kubelet to time out.
 */
export const DEPENDENCY_TIMEOUT_MS = 2000;

/**
 * /metrics (Prometheus text), /health (liveness: the process serves; lists component
 * states, dependencies as last probed, and warnings; never waits on a dependency),
 * /ready (readiness: every dependency answers within DEPENDENCY_TIMEOUT_MS).
 */
export function registerOpsRoutes(
  app: TemplatedApp,
  deps: {
    registry: Registry;
    checks: HealthCheck[];
    dependencies: Dependency[];
    warnings: () => string[];
    /** false while the instance drains (SIGTERM): /ready answers 503 so balancers send new work elsewhere */
    accepting?: () => boolean;
    /** the exposition /metrics serves; the registry's own when absent (delivery threads add theirs: deliver/threads/) */
    collect?: () => Promise<string>;
  },
): void {
  const collect = deps.collect ?? (() => deps.registry.metrics());
  const probes = deps.dependencies.map((d) => new DependencyProbe(d.name, () => d.probe(), d.detail, DEPENDENCY_TIMEOUT_MS));
  new Gauge({
    name: 'nova_streaming_dependency_up',
    help: '1 when the dependency answered its last probe (run by /health and /ready requests) and none has been waiting longer than the timeout',
    labelNames: ['dependency'],
    registers: [deps.registry],
    collect() {
      for (const probe of probes) this.set({ dependency: probe.name }, probe.state().ok ? 1 : 0);
    },
  });
  // A first probe now, so the first /health likely knows.
  for (const probe of probes) probe.current();

  app.get('/metrics', (res, req) => {
    const ctx = captureRequest(res, req);
    collect().then(
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
    const components = [
      ...probes.map((probe) => ({ name: probe.name, ...probe.current() })),
      ...deps.checks.map((c) => {
        try {
          return { name: c.name, ...c.check() };
        } catch (err) {
          return { name: c.name, ok: false, detail: err instanceof Error ? err.message : String(err) };
        }
      }),
    ];
    sendJson(res, ctx, 200, { status: 'ok', components, warnings: deps.warnings() });
  });

  app.get('/ready', (res, req) => {
    const ctx = captureRequest(res, req);
    if (deps.accepting !== undefined && !deps.accepting()) {
      sendJson(res, ctx, 503, { ready: false, draining: true });
      return;
    }
    void Promise.all(probes.map((probe) => probe.check())).then((answers) => {
      const ready = answers.every(Boolean);
      sendJson(res, ctx, ready ? 200 : 503, { ready });
    });
  });
}
