/**
 * Runs Debian's nginx as a peer in the foreground from a throw-away prefix:
 * nginx-rtmp (libnginx-mod-rtmp) for ingest comparisons and tests, plain
 * nginx serving files for delivery comparisons. Used by tests and benchmarks.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids } from '../bench/lib/measure.js';
import { waitForPort } from './ports.js';

export const NGINX_BINARY = '/usr/sbin/nginx';
export const NGINX_RTMP_MODULE = '/usr/lib/nginx/modules/ngx_rtmp_module.so';

export function nginxInstalled(): boolean {
  return existsSync(NGINX_BINARY);
}

export function nginxRtmpInstalled(): boolean {
  return existsSync(NGINX_BINARY) && existsSync(NGINX_RTMP_MODULE);
}

export interface NginxPeer {
  /** the prefix folder: config, logs and whatever the config writes (recordings, HLS) */
  dir: string;
  /** the process started: the one that does the work, or the master of workerProcesses */
  pid: number;
  process: ChildProcess;
  /** the processes that serve requests now: the pid, or the master's worker processes (not its cache manager or loader) */
  workerPids(): number[];
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** the configuration's body after the main-context lines this module writes (pid, error_log, daemon off) */
  config: (dir: string) => string;
  /** ports the config listens on: start() waits until each accepts */
  ports: number[];
  loadRtmpModule?: boolean;
  /**
   * worker_processes under a master process (a number or 'auto', one per core), for
   * comparisons with nginx as operators run it on several cores; unset: one process
   * that does the work itself (master_process off).
   */
  workerProcesses?: number | 'auto';
}

export async function startNginx(options: NginxOptions): Promise<NginxPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'nova-nginx-'));
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const head = [
    options.loadRtmpModule ? `load_module ${NGINX_RTMP_MODULE};` : '',
    'daemon off;',
    ...(options.workerProcesses === undefined
      ? [
          // One process that does the work, as one Node process does: its pid is the one to measure,
          // and it keeps root's rights to write into the prefix (a worker would drop to nobody).
          'master_process off;',
        ]
      : [
          'master_process on;',
          `worker_processes ${options.workerProcesses};`,
          // the prefix is a private temporary folder: workers keep the rights to it
          ...(process.getuid?.() === 0 ? ['user root;'] : []),
        ]),
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/logs/error.log warn;`,
  ].join('\n');
  writeFileSync(join(dir, 'nginx.conf'), `${head}\n${options.config(dir)}\n`);
  const child = spawn(NGINX_BINARY, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'logs/error.log')], { stdio: 'ignore' });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  try {
    for (const port of options.ports) {
      await waitForPort(port, 10_000, () => (child.exitCode !== null ? `nginx exited with code ${child.exitCode}; see ${dir}/logs/error.log` : null));
    }
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    dir,
    pid: child.pid ?? -1,
    process: child,
    workerPids() {
      const pid = child.pid ?? -1;
      if (options.workerProcesses === undefined) return [pid];
      return childPids(pid).filter((child) => {
        try {
          return readFileSync(`/proc/${child}/cmdline`, 'utf8').includes('worker process');
        } catch {
          return false; // it ended meanwhile
        }
      });
    },
    async stop() {
      process.off('exit', kill);
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGQUIT');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** An nginx-rtmp configuration body: one server on 127.0.0.1:port with an application "live" holding `directives`. */
export function rtmpLiveConfig(port: number, directives: string[], workerConnections = 1024): string {
  return `events { worker_connections ${workerConnections}; }
rtmp {
  server {
    listen 127.0.0.1:${port};
    chunk_size 4096;
    application live {
      live on;
${directives.map((d) => `      ${d};`).join('\n')}
    }
  }
}`;
}
