/**
 * A private PostgreSQL cluster on a free port in a temporary folder, for
 * tests that stop and start it (never the shared server on :5432, which other
 * tests use). Run as the postgres user when this process is root (initdb
 * refuses root).
 */
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function binDir(): string | null {
  const base = '/usr/lib/postgresql';
  if (!existsSync(base)) return null;
  const versions = readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))).sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(base, versions[0], 'bin') : null;
}

export function havePostgresBinaries(): boolean {
  return binDir() !== null;
}

export class OwnPostgres {
  readonly #bin = binDir();
  readonly #dir = mkdtempSync(join(tmpdir(), 'nova-pg-'));
  readonly #asPostgres = process.getuid?.() === 0;

  constructor(readonly port: number) {}

  /** the cluster's folder (its data in data/, postmaster.pid there) */
  get directory(): string {
    return this.#dir;
  }

  get url(): string {
    return `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  }

  /** initdb (trust authentication, user postgres) and start. */
  async init(): Promise<void> {
    if (this.#asPostgres) {
      const { uid, gid } = userIds('postgres');
      chownSync(this.#dir, uid, gid);
    }
    this.#run('initdb', ['-D', join(this.#dir, 'data'), '-A', 'trust', '-U', 'postgres', '--no-sync']);
    await this.start();
  }

  async start(): Promise<void> {
    await this.#runAsync('pg_ctl', [
      '-D', join(this.#dir, 'data'), '-l', join(this.#dir, 'log'), '-w', '-t', '30',
      '-o', `-p ${this.port} -k ${this.#dir} -c listen_addresses=127.0.0.1 -c fsync=off`,
      'start',
    ]);
  }

  /** A fast stop: open sessions are ended, as a restart or a failover ends them. */
  async stop(): Promise<void> {
    await this.#runAsync('pg_ctl', ['-D', join(this.#dir, 'data'), '-m', 'fast', '-w', '-t', '30', 'stop']);
  }

  async dispose(): Promise<void> {
    try {
      this.#run('pg_ctl', ['-D', join(this.#dir, 'data'), '-m', 'immediate', '-w', 'stop']);
    } catch {
      // not running
    }
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /**
   * pg_ctl waits for the server: run it without blocking, since the server under test may live in
   * this process (a blocked event loop would stall its media and count against it).
   */
  async #runAsync(tool: string, args: string[]): Promise<void> {
    const [file, argv] = this.#commandLine(tool, args);
    // stdio ignored: the postmaster pg_ctl starts must not hold a pipe of ours open
    const child = spawn(file, argv, { stdio: 'ignore' });
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', resolve);
    });
    if (code !== 0) throw new Error(`${tool} ${args.at(-1)} exited with ${code}`);
  }

  #run(tool: string, args: string[]): void {
    const [file, argv] = this.#commandLine(tool, args);
    execFileSync(file, argv, { stdio: 'ignore' });
  }

  /** The tool's path and arguments, run as the postgres user when this process is root. */
  #commandLine(tool: string, args: string[]): [file: string, argv: string[]] {
    const command = join(this.#bin!, tool);
    return this.#asPostgres ? ['runuser', ['-u', 'postgres', '--', command, ...args]] : [command, args];
  }
}

function userIds(name: string): { uid: number; gid: number } {
  return { uid: Number(execFileSync('id', ['-u', name]).toString().trim()), gid: Number(execFileSync('id', ['-g', name]).toString().trim()) };
}
