/**
 * The Helm chart rendered by the real helm with each of its value sets, every
 * object parsed and schema-validated (support/kube-models.ts) on the way out.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { runHelm } from './helm-binary.js';
import { validateKubeObject, type KubeObject } from './kube-models.js';

export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const chartDir = join(repoRoot, 'deploy/helm/nova-streaming');
export const RELEASE = 'rel';
export const NAMESPACE = 'live';
/** the chart's kubeVersion floor: objects must be valid there */
const KUBE_VERSION = '1.25.0';

export type Values = Record<string, unknown>;
export interface ValueSet {
  name: string;
  /** the values file, null for the chart's defaults */
  file: string | null;
  /** values.yaml with the file merged over it */
  values: Values;
}

export const defaults = parseYaml(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Values;

/** The defaults, then chart-testing's convention: each ci/*-values.yaml is a value set CI installs. */
export const valueSets: ValueSet[] = [
  { name: 'defaults', file: null, values: defaults },
  ...readdirSync(join(chartDir, 'ci'))
    .filter((name) => name.endsWith('-values.yaml'))
    .sort()
    .map((name) => {
      const file = join(chartDir, 'ci', name);
      return { name, file, values: merge(defaults, parseYaml(readFileSync(file, 'utf8')) as Values) };
    }),
];

export function valueSet(name: string): ValueSet {
  const set = valueSets.find((s) => s.name === name);
  assert.ok(set, `no value set ${name}`);
  return set;
}

function merge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    const bothMaps = [current, value].every((v) => v !== null && typeof v === 'object' && !Array.isArray(v));
    out[key] = bothMaps ? merge(current as Values, value as Values) : value;
  }
  return out;
}

/** values.x.y, undefined where the path ends early */
export function valueAt(values: Values, path: string): unknown {
  let node: unknown = values;
  for (const key of path.split('.')) node = node !== null && typeof node === 'object' ? (node as Values)[key] : undefined;
  return node;
}

export function valuesArgs(set: ValueSet): string[] {
  return set.file === null ? [] : ['--values', set.file];
}

/** `helm template` of the value set plus extra arguments: the exit status, stderr and the validated objects. */
export function template(set: ValueSet, extra: string[] = []): { status: number | null; stderr: string; objects: KubeObject[] } {
  const result = runHelm(['template', RELEASE, chartDir, '--namespace', NAMESPACE, '--kube-version', KUBE_VERSION, ...valuesArgs(set), ...extra]);
  if (result.status !== 0) return { status: result.status, stderr: result.stderr, objects: [] };
  const objects: KubeObject[] = [];
  for (const doc of parseAllDocuments(result.stdout)) {
    assert.deepEqual(doc.errors, [], `${set.name}: helm printed YAML that does not parse`);
    const value: unknown = doc.toJS();
    if (value !== null) objects.push(validateKubeObject(value));
  }
  return { status: 0, stderr: result.stderr, objects };
}

const renders = new Map<string, KubeObject[]>();

/** The value set's objects, rendered once per test file. */
export function rendered(set: ValueSet): KubeObject[] {
  let objects = renders.get(set.name);
  if (objects === undefined) {
    const result = template(set);
    assert.equal(result.status, 0, `${set.name}: helm template failed: ${result.stderr}`);
    objects = result.objects;
    renders.set(set.name, objects);
  }
  return objects;
}

export function ofKind<T>(objects: KubeObject[], kind: string): Array<T & KubeObject> {
  return objects.filter((o) => o.kind === kind) as Array<T & KubeObject>;
}

export function only<T>(objects: KubeObject[], kind: string): T & KubeObject {
  const found = ofKind<T>(objects, kind);
  assert.equal(found.length, 1, `expected one ${kind}, found ${found.length}`);
  return found[0]!;
}
