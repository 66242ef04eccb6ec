import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseYaml, type YamlValue } from './support/mini-yaml.js';

// No helm binary here or in CI: these checks catch what a `helm template` run would,
// short of rendering: unbalanced actions, blocks, undefined values and helpers, bad YAML shape.
const chartDir = fileURLToPath(new URL('../../deploy/helm/nova-streaming/', import.meta.url));
const templatesDir = join(chartDir, 'templates');
const templateFiles = readdirSync(templatesDir).filter((name) => /\.(ya?ml|tpl|txt)$/.test(name));
const read = (name: string): string => readFileSync(join(templatesDir, name), 'utf8');
const values = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));

function actions(source: string): string[] {
  return [...source.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!);
}

function lookup(root: YamlValue, path: readonly string[]): { found: boolean; value: YamlValue } {
  let node: YamlValue = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object' || Array.isArray(node) || !Object.prototype.hasOwnProperty.call(node, key)) {
      return { found: false, value: null };
    }
    node = (node as { [key: string]: YamlValue })[key]!;
  }
  return { found: true, value: node };
}

/**
 * The chart's YAML with template actions taken out: the first branch of each
 * if/else kept, whole-line actions dropped, inline ones replaced by a scalar.
 * What is left must parse, which catches indentation mistakes.
 */
export function skeleton(source: string): string {
  const out: string[] = [];
  const skipping: boolean[] = [];
  for (const line of source.split('\n')) {
    const trimmed = line.trim();
    const only = /^\{\{-?\s*(.*?)\s*-?\}\}$/.exec(trimmed);
    if (only !== null && !trimmed.slice(2, -2).includes('}}')) {
      const action = only[1]!;
      if (/^(if|with|range)\b/.test(action)) skipping.push(skipping.includes(true));
      else if (/^else\b/.test(action)) skipping[skipping.length - 1] = true;
      else if (action === 'end') skipping.pop();
      continue; // includes with nindent, toYaml blocks: their output is a nested block, dropped here
    }
    if (skipping.includes(true)) continue;
    out.push(line.replace(/\{\{-?[\s\S]*?-?\}\}/g, 'TEMPLATED'));
  }
  return out.join('\n');
}

test('every template has balanced {{ }} and balanced if/with/range/define ... end', () => {
  for (const name of templateFiles) {
    const source = read(name);
    assert.equal((source.match(/\{\{/g) ?? []).length, (source.match(/\}\}/g) ?? []).length, `${name}: {{ and }} counts differ`);
    let depth = 0;
    for (const action of actions(source)) {
      if (action.startsWith('/*')) continue;
      if (/^(if|with|range|define|block)\b/.test(action)) depth++;
      else if (action === 'end') depth--;
      assert.ok(depth >= 0, `${name}: "end" without an opening block`);
    }
    assert.equal(depth, 0, `${name}: unclosed block`);
  }
});

test('every .Values reference exists in values.yaml', () => {
  const missing: string[] = [];
  for (const name of templateFiles) {
    for (const match of read(name).matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      const path = match[1]!.slice(1).split('.');
      if (!lookup(values, path).found) missing.push(`${name}: .Values.${path.join('.')}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('every include names a helper defined in _helpers.tpl, and every helper is used', () => {
  const defined = new Set([...read('_helpers.tpl').matchAll(/define "([^"]+)"/g)].map((m) => m[1]!));
  const used = new Set<string>();
  for (const name of templateFiles) {
    for (const match of read(name).matchAll(/include "([^"]+)"/g)) {
      assert.ok(defined.has(match[1]!), `${name}: include "${match[1]}" is not defined`);
      used.add(match[1]!);
    }
  }
  assert.deepEqual([...defined].filter((d) => !used.has(d)), []);
});

test('the YAML skeleton of every manifest template parses and names its kind', () => {
  for (const name of templateFiles.filter((n) => n.endsWith('.yaml'))) {
    const doc = parseYaml(skeleton(read(name)));
    assert.ok(doc !== null && typeof doc === 'object' && !Array.isArray(doc), `${name}: not a mapping`);
    assert.equal(typeof (doc as Record<string, YamlValue>)['kind'], 'string', `${name}: no kind`);
    assert.equal(typeof (doc as Record<string, YamlValue>)['apiVersion'], 'string', `${name}: no apiVersion`);
  }
});

test('the HPA scales the Deployment by its name, on CPU and (optionally) WebSocket connections', () => {
  const deploymentName = /^kind: Deployment\nmetadata:\n {2}name: (.+)$/m.exec(read('deployment.yaml'));
  assert.ok(deploymentName, 'deployment metadata.name not found');
  const hpa = read('hpa.yaml');
  assert.match(hpa, /^apiVersion: autoscaling\/v2$/m);
  const target = /scaleTargetRef:\n\s+apiVersion: apps\/v1\n\s+kind: Deployment\n\s+name: (.+)$/m.exec(hpa);
  assert.ok(target, 'scaleTargetRef not found');
  assert.equal(target[1], deploymentName[1]);
  assert.match(hpa, /name: cpu/);
  assert.match(hpa, /name: nova_streaming_websocket_connections/);
});

test('probes, shutdown and services are wired as the server expects', () => {
  const deployment = read('deployment.yaml');
  assert.match(deployment, /livenessProbe:\n\s+httpGet:\n\s+path: \/health/);
  assert.match(deployment, /readinessProbe:\n\s+httpGet:\n\s+path: \/ready/);
  assert.match(deployment, /preStop:/);
  assert.match(deployment, /terminationGracePeriodSeconds: \{\{ \.Values\.terminationGracePeriodSeconds \}\}/);
  assert.match(deployment, /podAntiAffinity:/);
  assert.match(deployment, /containerPort: 1935/);
  assert.match(deployment, /containerPort: 8080/);
  const grace = lookup(values, ['terminationGracePeriodSeconds']).value as number;
  const preStop = lookup(values, ['preStopSleepSeconds']).value as number;
  const shutdownMs = lookup(values, ['config', 'shutdownGraceMs']).value as number;
  assert.ok(grace >= 30, 'terminationGracePeriodSeconds below 30');
  assert.ok(grace >= preStop + shutdownMs / 1000 + 5, 'defaults fail the chart\'s own grace check');
  assert.equal(lookup(values, ['service', 'rtmp', 'type']).value, 'LoadBalancer');
  assert.equal(lookup(values, ['service', 'http', 'type']).value, 'ClusterIP');
  assert.match(read('service-rtmp.yaml'), /protocol: TCP/);
  const secretKeys = [...read('secret.yaml').matchAll(/^ {2}([A-Z_]+):/gm)].map((m) => m[1]);
  assert.deepEqual(secretKeys, ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN']);
});

test('skeleton drops else branches and inline actions (so the checks above can fail)', () => {
  const doc = parseYaml(skeleton('a:\n  {{- if .x }}\n  b: 1\n  {{- else }}\n  b: 2\n  {{- end }}\n  c: {{ .y }}\n'));
  assert.deepEqual(doc, { a: { b: 1, c: 'TEMPLATED' } });
  assert.throws(() => parseYaml(skeleton('a:\n  b: 1\n   c: 2\n')));
});
