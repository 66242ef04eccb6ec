/**
 * nova-streaming as `npm start` runs it (its prestart, then node), in its own process, for benchmarks:
 * random ports, a generated admin token, the embedded database in a fresh
 * data directory (the default: PGlite files under DATA_DIR), and the ports
 * read from its "ready" log line. Its pid is the one to measure.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));

export interface NovaProcess {
  pid: number;
  process: ChildProcess;
  /** http://127.0.0.1:port */
  http: string;
  rtmpPort: number;
  adminToken: string;
  /** base URL of its internal listener (origin–edge feeds), when INTERNAL_SECRET and REDIS_URL turned it on; else null */
  internalUrl: string | null;
  /** POST /api/v1/streams: the new stream's id and publish URL */
  createStream(title: string): Promise<{ id: string; publishUrl: string }>;
  /** SIGTERM (a clean stop), SIGKILL after 15 s */
  stop(): Promise<void>;
}

export interface NovaProcessOptions {
  /** environment on top of the defaults above (e.g. TRANSCODE; ADMIN_TOKEN, to share one between instances) */
  env?: Record<string, string>;
  /** Node flags before the entry point (e.g. --cpu-prof) */
  nodeArgs?: string[];
}

let prepared = false;
/** What `npm start` runs before node (`npm run prestart`: the native addons and the build), once per process. */
export function prepareNpmStart(): void {
  if (prepared) return;
  execFileSync('npm', ['run', '--silent', 'prestart'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  prepared = true;
}

/**
 * What `npm start` runs: its environment assignments (NAME=value before the command) and the
 * arguments it gives node (flags and the entry point). The benchmarks measure what operators run.
 */
export function npmStartCommand(): { env: Record<string, string>; args: string[] } {
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const words = pkg.scripts.start.split(/\s+/);
  const env: Record<string, string> = {};
  let assignment: RegExpExecArray | null;
  while ((assignment = /^([A-Z_][A-Z0-9_]*)=(\S*)$/.exec(words[0] ?? '')) !== null) {
    env[assignment[1]!] = assignment[2]!;
    words.shift();
  }
  const [command, ...args] = words;
  if (command !== 'node') throw new Error(`npm start runs ${command}, not node: nova-process cannot mirror it`);
  return { env, args };
}

export async function startNovaProcess(options: NovaProcessOptions = {}): Promise<NovaProcess> {
  const adminToken = options.env?.ADMIN_TOKEN ?? randomBytes(24).toString('hex');
  prepareNpmStart();
  const dataDir = mkdtempSync(join(tmpdir(), 'nova-process-'));
  const start = npmStartCommand();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), ...start.args], {
    cwd: REPO,
    env: {
      ...process.env,
      ...start.env,
      HOST: '127.0.0.1',
      RTMP_PORT: '0',
      HTTP_PORT: '0',
      ADMIN_TOKEN: adminToken,
      DATA_DIR: dataDir,
      // the embedded default, not whatever database the calling shell points at
      DATABASE_URL: undefined,
      REDIS_URL: undefined,
      LOG_LEVEL: 'info',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killOnExit = (): void => void child.kill('SIGKILL');
  process.once('exit', killOnExit);
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let internalUrl: string | null = null;
  const ready = await new Promise<{ rtmpPort: number; httpPort: number }>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (parsed.msg === 'nova-streaming ready') resolve({ rtmpPort: Number(parsed.rtmpPort), httpPort: Number(parsed.httpPort) });
        else if (typeof parsed.internalUrl === 'string') internalUrl = parsed.internalUrl;
        else if (parsed.level === 'error' || parsed.level === 'fatal') process.stderr.write(`nova: ${line}\n`);
      } catch {
        // not JSON: ignore
      }
    });
    void exited.then((code) => reject(new Error(`nova exited (${code}) before it was ready: ${stderr}`)));
  });
  const http = `http://127.0.0.1:${ready.httpPort}`;
  return {
    pid: child.pid ?? -1,
    process: child,
    http,
    rtmpPort: ready.rtmpPort,
    adminToken,
    internalUrl,
    async createStream(title) {
      const response = await fetch(`${http}/api/v1/streams`, {
        method: 'POST',
        headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
        body: JSON.stringify({ title }),
      });
      if (response.status !== 201) throw new Error(`POST /api/v1/streams: ${response.status} ${await response.text()}`);
      const body = (await response.json()) as { id: string; publish_url: string };
      return { id: body.id, publishUrl: body.publish_url };
    },
    async stop() {
      process.off('exit', killOnExit);
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
