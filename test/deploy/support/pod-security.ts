/**
 * The Pod Security Standards' "restricted" profile (Kubernetes 1.25+, the version
 * `pod-security.kubernetes.io/enforce: restricted` applies), checked on a pod spec
 * the way the admission controller does, so a namespace that enforces it admits
 * the chart's pods. https://kubernetes.io/docs/concepts/security/pod-security-standards/
 */
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { ISecurityContext } from 'kubernetes-models/v1/SecurityContext';

const ALLOWED_VOLUMES = ['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret'];
const SECCOMP_OK = new Set(['RuntimeDefault', 'Localhost']);

/** What keeps the pod out of a "restricted" namespace; empty when it is admitted. */
export function restrictedViolations(pod: IPodSpec): string[] {
  const out: string[] = [];
  if (pod.hostNetwork === true || pod.hostPID === true || pod.hostIPC === true) out.push('host namespaces (hostNetwork/hostPID/hostIPC)');
  for (const volume of pod.volumes ?? []) {
    const types = Object.keys(volume).filter((key) => key !== 'name');
    for (const type of types) if (!ALLOWED_VOLUMES.includes(type)) out.push(`volume ${volume.name}: type ${type}`);
  }
  const podContext = pod.securityContext ?? {};
  if (podContext.runAsUser === 0) out.push('pod runAsUser 0');
  const podSeccomp = podContext.seccompProfile?.type;
  if (podSeccomp !== undefined && !SECCOMP_OK.has(podSeccomp)) out.push(`pod seccompProfile ${podSeccomp}`);
  const containers: Array<{ name: string; securityContext?: ISecurityContext; ports?: Array<{ hostPort?: number }> }> = [
    ...(pod.initContainers ?? []),
    ...pod.containers,
    ...(pod.ephemeralContainers ?? []),
  ];
  for (const container of containers) {
    const where = `container ${container.name}`;
    const context = container.securityContext ?? {};
    if (context.privileged === true) out.push(`${where}: privileged`);
    if (context.allowPrivilegeEscalation !== false) out.push(`${where}: allowPrivilegeEscalation is not false`);
    if (context.runAsNonRoot === false || (context.runAsNonRoot !== true && podContext.runAsNonRoot !== true)) out.push(`${where}: runAsNonRoot is not true`);
    if (context.runAsUser === 0) out.push(`${where}: runAsUser 0`);
    const seccomp = context.seccompProfile?.type ?? podSeccomp;
    if (seccomp === undefined || !SECCOMP_OK.has(seccomp)) out.push(`${where}: seccompProfile ${seccomp ?? 'unset'} (RuntimeDefault or Localhost)`);
    if (!(context.capabilities?.drop ?? []).includes('ALL')) out.push(`${where}: capabilities.drop lacks ALL`);
    for (const added of context.capabilities?.add ?? []) if (added !== 'NET_BIND_SERVICE') out.push(`${where}: adds capability ${added}`);
    if (context.procMount !== undefined && context.procMount !== 'Default') out.push(`${where}: procMount ${context.procMount}`);
    for (const port of container.ports ?? []) if (port.hostPort !== undefined && port.hostPort !== 0) out.push(`${where}: hostPort ${port.hostPort}`);
  }
  return out;
}
