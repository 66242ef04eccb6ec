import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createMetricsRegistry } from '../../src/ops/metrics.js';
import { parse as parseYaml } from 'yaml';
import { AGREED_METRICS, PROMETHEUS_SERIES, metricNamesIn, metricsDefinedInSource, type MetricKind } from './support/metric-contract.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const dashboard = JSON.parse(readFileSync(`${root}grafana/dashboards/nova-streaming.json`, 'utf8')) as {
  uid: string;
  panels: { type: string; title: string; targets?: { expr: string }[]; datasource?: { uid: string } }[];
  templating: { list: { name: string; type: string; query?: unknown; definition?: string }[] };
};
const alertRules = parseYaml(readFileSync(`${root}deploy/helm/nova-streaming/files/alerts.yml`, 'utf8')) as {
  groups: { name: string; rules: { alert: string; expr: string; labels: { severity: string } }[] }[];
};

async function knownMetrics(): Promise<Map<string, MetricKind>> {
  const known = new Map<string, MetricKind>(Object.entries(AGREED_METRICS));
  for (const [name, kind] of metricsDefinedInSource(`${root}src`)) known.set(name, kind);
  // Default process metrics exactly as prom-client names them under our prefix.
  for (const metric of await createMetricsRegistry().getMetricsAsJSON()) {
    const type = String(metric.type);
    known.set(metric.name, type === 'histogram' ? 'histogram' : type === 'counter' ? 'counter' : 'gauge');
  }
  return known;
}

function unknownNames(expressions: readonly string[], known: Map<string, MetricKind>): string[] {
  const unknown: string[] = [];
  for (const expr of expressions) {
    for (const name of metricNamesIn(expr)) {
      if (PROMETHEUS_SERIES.has(name) || known.has(name)) {
        // A histogram is only usable through its series.
        if (known.get(name) === 'histogram') unknown.push(`${name} (a histogram: use _bucket, _sum or _count) in ${expr}`);
        continue;
      }
      const series = /^(.*)_(bucket|sum|count)$/.exec(name);
      if (series !== null && known.get(series[1]!) === 'histogram') continue;
      unknown.push(`${name} in ${expr}`);
    }
  }
  return unknown;
}

const dashboardExpressions = dashboard.panels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr));

test('metricNamesIn finds metric names and nothing else', () => {
  assert.deepEqual(
    metricNamesIn('histogram_quantile(0.99, sum by (le, instance) (rate(a_bucket{code="x y",instance=~"$instance"}[$__rate_interval]))) > 1e3 and b offset 10m or on(instance) c'),
    ['a_bucket', 'b', 'c'],
  );
});

test('every dashboard expression uses only known metric names', async () => {
  assert.ok(dashboardExpressions.length >= 25, 'the dashboard lost its panels');
  assert.deepEqual(unknownNames(dashboardExpressions, await knownMetrics()), []);
});

test('every alert expression uses only known metric names', async () => {
  const expressions = alertRules.groups.flatMap((group) => group.rules.map((rule) => rule.expr));
  assert.ok(expressions.length >= 8);
  assert.deepEqual(unknownNames(expressions, await knownMetrics()), []);
});

test('the unknown-name check fails on a renamed metric', async () => {
  const known = await knownMetrics();
  assert.deepEqual(unknownNames(['sum(nova_streaming_active_stream)'], known).length, 1);
  assert.deepEqual(unknownNames(['nova_streaming_rtmp_ingestion_latency_seconds'], known).length, 1);
  assert.deepEqual(unknownNames(['rate(nova_streaming_rtmp_ingestion_latency_seconds_bucket[5m])'], known), []);
});

test('metrics defined in src/ agree with the agreed list on their type', () => {
  assert.ok(metricsDefinedInSource(`${root}src`).size >= 10, 'the src/ scan finds no metric definitions: its pattern is stale');
  for (const [name, kind] of metricsDefinedInSource(`${root}src`)) {
    const agreed = AGREED_METRICS[name];
    if (agreed !== undefined) assert.equal(kind, agreed, `${name} is a ${kind} in src/ but a ${agreed} in the agreed list`);
  }
});

test('the dashboard covers every agreed metric and picks its data source by variable', () => {
  const used = new Set(dashboardExpressions.flatMap((expr) => metricNamesIn(expr).map((name) => name.replace(/_(bucket|sum|count)$/, ''))));
  assert.deepEqual(Object.keys(AGREED_METRICS).filter((name) => !used.has(name)), []);
  assert.ok(dashboard.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus'));
  for (const panel of dashboard.panels.filter((p) => p.type !== 'row')) {
    assert.equal(panel.datasource?.uid, '${datasource}', `${panel.title} does not use the datasource variable`);
  }
  const ids = dashboard.panels.map((p) => (p as unknown as { id: number }).id);
  assert.equal(new Set(ids).size, ids.length, 'duplicate panel ids');
});

test('every alert has a severity and a runbook section in docs/operations.md', () => {
  const operations = readFileSync(`${root}docs/operations.md`, 'utf8');
  for (const rule of alertRules.groups.flatMap((group) => group.rules)) {
    assert.ok(['page', 'ticket'].includes(rule.labels.severity), `${rule.alert}: severity`);
    assert.match(operations, new RegExp(`^### ${rule.alert}$`, 'm'), `${rule.alert}: no runbook section`);
  }
});
