/**
 * Schema validation of rendered Kubernetes objects with kubernetes-models (the
 * API server's OpenAPI schemas compiled to validators) and
 * @kubernetes-models/prometheus-operator for its CRDs. Only the API versions a
 * chart for Kubernetes >= 1.25 may use are known: an object of any other
 * apiVersion/kind fails, so a new template cannot slip past unvalidated.
 */
import * as coreV1 from 'kubernetes-models/v1';
import * as appsV1 from 'kubernetes-models/apps/v1';
import * as autoscalingV2 from 'kubernetes-models/autoscaling/v2';
import * as batchV1 from 'kubernetes-models/batch/v1';
import * as networkingV1 from 'kubernetes-models/networking.k8s.io/v1';
import * as policyV1 from 'kubernetes-models/policy/v1';
import * as rbacV1 from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import * as monitoringV1 from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';

interface ModelClass {
  readonly apiVersion: string;
  readonly kind: string;
  new (data: object): { validate(): void };
}

function isModelClass(value: unknown): value is ModelClass {
  if (typeof value !== 'function') return false;
  const statics = value as unknown as { apiVersion?: unknown; kind?: unknown };
  return typeof statics.apiVersion === 'string' && typeof statics.kind === 'string';
}

/** `apiVersion kind` → its model, for every top-level kind of the modules above. */
const models = new Map<string, ModelClass>();
for (const module of [coreV1, appsV1, autoscalingV2, batchV1, networkingV1, policyV1, rbacV1, monitoringV1]) {
  for (const value of Object.values(module)) if (isModelClass(value)) models.set(`${value.apiVersion} ${value.kind}`, value);
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** Throws unless `object` is a known kind that passes its schema; returns it typed. */
export function validateKubeObject(object: unknown): KubeObject {
  if (object === null || typeof object !== 'object' || Array.isArray(object)) throw new Error(`not a Kubernetes object: ${JSON.stringify(object)}`);
  const { apiVersion, kind, metadata } = object as { apiVersion?: unknown; kind?: unknown; metadata?: { name?: unknown } };
  const id = `${String(apiVersion)} ${String(kind)}`;
  const model = models.get(id);
  if (model === undefined) throw new Error(`${id}: not a kind known to the validator (Kubernetes >= 1.25 GA APIs and prometheus-operator v1)`);
  try {
    new model(object).validate();
  } catch (err) {
    throw new Error(`${id} ${String(metadata?.name)}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof metadata?.name !== 'string' || metadata.name === '') throw new Error(`${id}: no metadata.name`);
  return object as KubeObject;
}
