import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/*
 * Worker entry points live in the repository's workers/ folder, beside src/ (and beside
 * dist/src/ in the build), and import from src/: the helpers that start them live here,
 * below every component that starts one, so that nothing in src/ imports workers/.
 */
const WORKERS = '../workers/';

/**
 * Absolute path of a worker entry point in workers/, by name (e.g.
 * `ingest-connection.worker`): `.ts` when running from source under tsx,
 * `.js` when running the build.
 */
export function workerFile(name: string): string {
  const extension = import.meta.url.endsWith('.ts') ? '.ts' : '.js';
  return fileURLToPath(new URL(`${WORKERS}${name}${extension}`, import.meta.url));
}

/**
 * A worker thread running `entry`; a TypeScript entry goes through
 * workers/ts-worker-bootstrap.mjs, which registers tsx in the new thread first.
 * (Piscina loads its task files its own way and needs none of this.)
 */
export function startWorker(entry: string | URL, options: WorkerOptions = {}): Worker {
  const href = entry instanceof URL ? entry.href : pathToFileURL(entry).href;
  if (!href.endsWith('.ts')) return new Worker(new URL(href), options);
  return new Worker(new URL(`${WORKERS}ts-worker-bootstrap.mjs`, import.meta.url), { ...options, argv: [...(options.argv ?? []), href] });
}

/**
 * A child Node process running `entry` with `args` (its process.argv[2…]); a TypeScript
 * entry goes through ts-worker-bootstrap.mjs as startWorker's threads do. For work whose
 * memory should leave with it.
 */
export function startProcess(entry: string, args: string[]): ChildProcess {
  const href = pathToFileURL(entry).href;
  const options = { execArgv: [], stdio: ['ignore', 'ignore', 'pipe', 'ipc'] as ('ignore' | 'pipe' | 'ipc')[] };
  if (!href.endsWith('.ts')) return fork(entry, args, options);
  return fork(fileURLToPath(new URL(`${WORKERS}ts-worker-bootstrap.mjs`, import.meta.url)), [...args, href], options);
}
