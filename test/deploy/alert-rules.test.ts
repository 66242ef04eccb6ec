import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IPrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { haveTool, runToolOutput, tempDir, toolGate } from '../support/tools.js';
import { helmAvailable } from './support/helm-binary.js';
import { ALERT_CASES } from './support/alert-cases.js';
import { NAMESPACE, chartDir, ofKind, only, rendered, repoRoot, valueSets } from './support/chart-render.js';

// promtool checks the alert rules and unit-tests them on the series Prometheus would have:
// labels as docker-compose's scrape config gives them, and as prometheus-operator makes them
// from the chart's ServiceMonitor and Service (job, namespace, service, pod, container, endpoint).
const rulesFile = join(chartDir, 'files/alerts.yml');
const promtool = toolGate('promtool (Debian package prometheus)', haveTool('promtool', ['--version']));
const helmAndPromtool = toolGate('helm and promtool', helmAvailable() && haveTool('promtool', ['--version']));

interface Rule {
  alert?: string;
  expr: string | number;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
type RuleGroups = { groups: Array<{ name: string; rules?: Rule[] }> };
type Labels = Record<string, string>;

async function promtoolRun(args: string[]): Promise<void> {
  const result = await runToolOutput('promtool', args, 30_000);
  assert.equal(result.code, 0, `promtool ${args.join(' ')}:\n${result.stdout}${result.stderr}`);
}

function minutes(duration: string): number {
  const match = /^(\d+)([ms])$/.exec(duration);
  assert.ok(match, `duration ${duration}: only Nm or Ns here`);
  return match[2] === 'm' ? Number(match[1]) : Number(match[1]) / 60;
}

/** An annotation as Prometheus expands it, for the `{{ $labels.x }}` templates this test meets. */
function expand(template: string, labels: Labels): string {
  return template.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_, expression: string) => {
    const label = /^\$labels\.([a-zA-Z_]\w*)$/.exec(expression);
    assert.ok(label, `annotation template {{ ${expression} }} is beyond this test's expander`);
    return labels[label[1]!] ?? '';
  });
}

function seriesName(labels: Labels): string {
  return `up{${Object.entries(labels).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;
}

/**
 * `promtool test rules` on NovaInstanceDown: a target down for longer than the rule's `for`
 * alerts with its labels, a target that answers does not, and neither alerts before `for`.
 */
async function testInstanceDown(rules: RuleGroups, down: Labels, healthy: Labels): Promise<void> {
  const rule = rules.groups.flatMap((g) => g.rules ?? []).find((r) => r.alert === 'NovaInstanceDown');
  assert.ok(rule?.for, 'NovaInstanceDown with a for: duration');
  const forMinutes = minutes(rule.for);
  const dir = tempDir('nova-promtool-');
  writeFileSync(join(dir, 'rules.yml'), stringify(rules));
  const labels = { ...down, ...rule.labels };
  const tests = {
    rule_files: ['rules.yml'],
    evaluation_interval: '1m',
    tests: [
      {
        interval: '1m',
        input_series: [
          { series: seriesName(down), values: `0x${forMinutes + 5}` },
          { series: seriesName(healthy), values: `1x${forMinutes + 5}` },
        ],
        alert_rule_test: [
          { eval_time: `${Math.max(forMinutes - 1, 0)}m`, alertname: 'NovaInstanceDown', exp_alerts: [] },
          {
            eval_time: `${forMinutes + 1}m`,
            alertname: 'NovaInstanceDown',
            exp_alerts: [{ exp_labels: labels, exp_annotations: Object.fromEntries(Object.entries(rule.annotations ?? {}).map(([k, v]) => [k, expand(v, labels)])) }],
          },
        ],
      },
    ],
  };
  writeFileSync(join(dir, 'tests.yml'), stringify(tests));
  await promtoolRun(['check', 'rules', join(dir, 'rules.yml')]);
  await promtoolRun(['test', 'rules', join(dir, 'tests.yml')]);
}

test('promtool check rules: the alert rules file', promtool, async () => {
  await promtoolRun(['check', 'rules', rulesFile]);
});

test('docker-compose: NovaInstanceDown fires for a replica its scrape config cannot reach', promtool, async () => {
  const config = parseYaml(readFileSync(join(repoRoot, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
    scrape_configs: Array<{ job_name: string; dns_sd_configs?: Array<{ port: number }> }>;
  };
  const nova = config.scrape_configs.find((job) => job.dns_sd_configs !== undefined);
  assert.ok(nova, 'no DNS-discovered nova job');
  const port = nova.dns_sd_configs![0]!.port;
  const rules = parseYaml(readFileSync(rulesFile, 'utf8')) as RuleGroups;
  await testInstanceDown(rules, { job: nova.job_name, instance: `172.18.0.5:${port}` }, { job: nova.job_name, instance: `172.18.0.6:${port}` });
});

/**
 * The labels prometheus-operator gives a pod's series from a ServiceMonitor endpoint
 * (its endpoints-role relabeling): job is the Service's `jobLabel` label when set and
 * not empty, else the Service's name.
 */
function operatorLabels(monitor: IServiceMonitor, service: IService, deployment: IDeployment, podIp: string): Labels {
  const endpoint = monitor.spec.endpoints[0]!;
  assert.equal(endpoint.relabelings, undefined, 'relabelings may rename job: teach operatorLabels about them');
  const container = deployment.spec!.template.spec!.containers.find((c) => (c.ports ?? []).some((p) => p.name === endpoint.port))!;
  const containerPort = container.ports!.find((p) => p.name === endpoint.port)!.containerPort;
  const jobFromLabel = monitor.spec.jobLabel === undefined ? undefined : service.metadata?.labels?.[monitor.spec.jobLabel];
  const pod = `${deployment.metadata!.name}-6d5f7c9b8-${podIp.split('.').at(-1)}x2k`;
  return {
    container: container.name,
    endpoint: endpoint.port!,
    instance: `${podIp}:${containerPort}`,
    job: jobFromLabel !== undefined && jobFromLabel !== '' ? jobFromLabel : service.metadata!.name!,
    namespace: NAMESPACE,
    pod,
    service: service.metadata!.name!,
  };
}

for (const set of valueSets) {
  test(`${set.name}: the chart's PrometheusRule holds the rules file, and NovaInstanceDown fires on the ServiceMonitor's labels`, helmAndPromtool, async (t) => {
    const objects = rendered(set);
    const monitors = ofKind<IServiceMonitor>(objects, 'ServiceMonitor');
    const ruleObjects = ofKind<IPrometheusRule>(objects, 'PrometheusRule');
    if (monitors.length === 0 || ruleObjects.length === 0) {
      assert.equal(ruleObjects.length, 0, 'a PrometheusRule without the ServiceMonitor has no series to alert on');
      t.diagnostic('no ServiceMonitor and PrometheusRule in this value set');
      return;
    }
    const rules = only<IPrometheusRule>(objects, 'PrometheusRule').spec as RuleGroups;
    // The same rules as the file compose mounts, up to the job the chart's ServiceMonitor gives.
    const fileRules = parseYaml(readFileSync(rulesFile, 'utf8')) as RuleGroups;
    const deployment = only<IDeployment>(objects, 'Deployment');
    const monitor = only<IServiceMonitor>(objects, 'ServiceMonitor');
    const service = ofKind<IService>(objects, 'Service').find((s) => Object.entries(monitor.spec.selector.matchLabels ?? {}).every(([k, v]) => s.metadata?.labels?.[k] === v))!;
    const down = operatorLabels(monitor, service, deployment, '10.42.0.17');
    const healthy = operatorLabels(monitor, service, deployment, '10.42.1.23');
    assert.deepEqual(JSON.parse(JSON.stringify(rules).replaceAll(`job=\\"${down.job}\\"`, 'job=\\"nova-streaming\\"')), fileRules);
    await testInstanceDown(rules, down, healthy);
  });
}

test('promtool test rules: NovaEdgeOriginUnreachable fires while an edge keeps its circuit to an origin open, not for one that closes again', promtool, async () => {
  const dir = tempDir('nova-promtool-');
  const edge = { job: 'nova-streaming', instance: '10.42.0.17:8080' };
  const stuck = `nova_streaming_edge_origin_circuit_open{job="nova-streaming",instance="${edge.instance}",origin="nova-7d9f-abc"}`;
  const flapping = `nova_streaming_edge_origin_circuit_open{job="nova-streaming",instance="${edge.instance}",origin="nova-7d9f-def"}`;
  writeFileSync(
    join(dir, 'tests.yml'),
    stringify({
      rule_files: [rulesFile],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: stuck, values: '1x10' },
            { series: flapping, values: '1 0 1 0 1 0 1 0 1 0 1' },
          ],
          alert_rule_test: [
            { eval_time: '1m', alertname: 'NovaEdgeOriginUnreachable', exp_alerts: [] },
            {
              eval_time: '5m',
              alertname: 'NovaEdgeOriginUnreachable',
              exp_alerts: [
                {
                  exp_labels: { instance: edge.instance, origin: 'nova-7d9f-abc', severity: 'ticket' },
                  exp_annotations: {
                    summary: `${edge.instance} cannot reach origin nova-7d9f-abc: its streams answer 503 there`,
                    runbook: 'docs/operations.md#novaedgeoriginunreachable',
                  },
                },
              ],
            },
          ],
        },
      ],
    }),
  );
  await promtoolRun(['test', 'rules', join(dir, 'tests.yml')]);
});

test('promtool test rules: every alert fires on its case and stays quiet on its healthy twin', promtool, async () => {
  const rules = parseYaml(readFileSync(rulesFile, 'utf8')) as RuleGroups;
  const alerts = rules.groups.flatMap((g) => g.rules ?? []).flatMap((r) => (r.alert === undefined ? [] : [r.alert]));
  assert.deepEqual(alerts.filter((name) => !ALERT_CASES.some((c) => c.alert === name)), [], 'alerts without a promtool case in support/alert-cases.ts');
  assert.deepEqual(ALERT_CASES.map((c) => c.alert).filter((name) => !alerts.includes(name)), [], 'cases of alerts that are gone');
  // Annotations are templates over $value: the cases check when and with what labels each alert fires.
  for (const group of rules.groups) for (const rule of group.rules ?? []) delete rule.annotations;
  const dir = tempDir('nova-promtool-');
  writeFileSync(join(dir, 'rules.yml'), stringify(rules));
  const tests = ALERT_CASES.flatMap((c) => [
    {
      name: `${c.alert} fires`,
      interval: c.interval ?? '1m',
      input_series: c.fire,
      alert_rule_test: [{ eval_time: c.at, alertname: c.alert, exp_alerts: [{ exp_labels: c.labels }] }],
    },
    {
      name: `${c.alert} stays quiet`,
      interval: c.interval ?? '1m',
      input_series: c.quiet,
      alert_rule_test: [{ eval_time: c.at, alertname: c.alert, exp_alerts: [] }],
    },
  ]);
  writeFileSync(join(dir, 'tests.yml'), stringify({ rule_files: ['rules.yml'], evaluation_interval: '15s', tests }));
  await promtoolRun(['test', 'rules', join(dir, 'tests.yml')]);
});
