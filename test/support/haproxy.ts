/**
 * A real HAProxy (Debian's package) in TCP mode in front of nova instances: the layer-4 load
 * balancer RTMP needs, as a Kubernetes Service or a cloud NLB would be. Started by a test on a
 * free port with its configuration in a temporary folder; killed when the test that started it
 * ends (spawnTracked: start it inside it(), not in before(), whose end would kill it).
 *
 * A connection to a server that refuses it (its listener closed by a drain, or the process
 * gone) is retried and redispatched to another server at once, so a publisher reconnecting
 * through the balancer lands on a live instance even before a health check has noticed.
 */
import type { ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, haveTool, spawnTracked, tempDir, waitForPort } from './tools.js';

export const HAPROXY = '/usr/sbin/haproxy';

export const haveHaproxy = (): boolean => haveTool(HAPROXY, ['-v']);

export interface HaproxyServer {
  /** the server's name in the configuration (and HAProxy's logs) */
  name: string;
  port: number;
  /** default 127.0.0.1 */
  host?: string;
}

export interface HaproxyOptions {
  servers: HaproxyServer[];
  /**
   * "first" (default): every new connection goes to the first server that takes it, so a test
   * knows where a publisher lands; "roundrobin" and "leastconn" spread them.
   */
  balance?: 'first' | 'roundrobin' | 'leastconn';
  /** TCP health checks this often, ms; 0 (default): none, a refused connection is redispatched anyway */
  checkIntervalMs?: number;
  /** how long a connect to a server may take before it is retried elsewhere (default 500 ms) */
  connectTimeoutMs?: number;
  /** connect attempts after the first, each on another server (default 3) */
  retries?: number;
}

export interface Haproxy {
  /** the balancer's listening port on 127.0.0.1 */
  port: number;
  /** the configuration file, for a test's failure message */
  configPath: string;
  /** rtmp://127.0.0.1:port/<path>, e.g. rtmpUrl('live/KEY') */
  rtmpUrl(path: string): string;
  /** the last 8 KB HAProxy wrote to stderr */
  stderr(): string;
  stop(): Promise<void>;
}

/** The configuration for options, listening on 127.0.0.1:port. */
export function haproxyConfig(port: number, options: HaproxyOptions): string {
  const check = options.checkIntervalMs ?? 0;
  const servers = options.servers.map(
    (server) => `  server ${server.name} ${server.host ?? '127.0.0.1'}:${server.port}${check > 0 ? ` check inter ${check} fall 1 rise 1` : ''}`,
  );
  return [
    'global',
    '  maxconn 1024',
    '  nbthread 1',
    'defaults',
    '  mode tcp',
    `  timeout connect ${options.connectTimeoutMs ?? 500}ms`,
    // publishers send media all the time: only a stalled one is idle this long
    '  timeout client 60s',
    '  timeout server 60s',
    `  retries ${options.retries ?? 3}`,
    // every retry may go to another server (a drained listener refuses at once)
    '  option redispatch 1',
    'frontend rtmp',
    `  bind 127.0.0.1:${port}`,
    '  default_backend nova',
    'backend nova',
    `  balance ${options.balance ?? 'first'}`,
    ...servers,
    '',
  ].join('\n');
}

/** Starts HAProxy on a free port and resolves once it accepts connections. */
export async function startHaproxy(options: HaproxyOptions): Promise<Haproxy> {
  const dir = tempDir('nova-haproxy-');
  // a free port can be taken by someone else before HAProxy binds it: try a few
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const configPath = join(dir, `haproxy-${attempt}.cfg`);
    writeFileSync(configPath, haproxyConfig(port, options));
    const child = spawnTracked(HAPROXY, ['-db', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-8192)));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitForPort(port, 5000, () => (child.exitCode !== null || child.signalCode !== null ? `haproxy exited: ${stderr}` : null));
    } catch (err) {
      child.kill('SIGKILL');
      await exited;
      if (attempt < 3 && /bind|Address already in use/i.test(stderr)) continue;
      throw err;
    }
    return {
      port,
      configPath,
      rtmpUrl: (path) => `rtmp://127.0.0.1:${port}/${path.replace(/^\/+/, '')}`,
      stderr: () => stderr,
      stop: () => stopChild(child, exited),
    };
  }
}

async function stopChild(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM'); // HAProxy's hard stop: connections close at once
  const timer = setTimeout(() => child.kill('SIGKILL'), 2000);
  await exited;
  clearTimeout(timer);
}
