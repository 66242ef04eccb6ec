/**
 * wrk (C, Debian's /usr/bin/wrk), the HTTP load generator the benchmarks trust
 * to saturate a server before it saturates itself: one run against one URL,
 * its summary parsed into the figures the benchmarks print.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';

export const WRK_BINARY = '/usr/bin/wrk';

export function wrkInstalled(): boolean {
  return existsSync(WRK_BINARY);
}

export interface WrkResult {
  requestsPerSec: number;
  /** body + headers as wrk counts them, 10^6 bytes per second */
  megabytesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** non-2xx responses and socket errors */
  errors: number;
}

export interface WrkOptions {
  connections: number;
  seconds: number;
  /** wrk's threads (-t); default 2 */
  threads?: number;
}

const LATENCY_UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const SIZE_UNIT: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3, TB: 1024 ** 4 };

/** wrk's `--latency` summary; NaN for what it does not say. */
export function parseWrk(output: string): WrkResult {
  const latency = (percent: string): number => {
    const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(output);
    return match ? Number(match[1]) * LATENCY_UNIT[match[2]!]! : Number.NaN;
  };
  const transfer = /^Transfer\/sec:\s+([\d.]+)(B|KB|MB|GB|TB)/m.exec(output);
  const non2xx = Number(/Non-2xx or 3xx responses: (\d+)/.exec(output)?.[1] ?? 0);
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(output);
  return {
    requestsPerSec: Number(/^Requests\/sec:\s+([\d.]+)/m.exec(output)?.[1] ?? Number.NaN),
    megabytesPerSec: transfer ? (Number(transfer[1]) * SIZE_UNIT[transfer[2]!]!) / 1e6 : Number.NaN,
    p50Ms: latency('50'),
    p99Ms: latency('99'),
    errors: non2xx + (socketErrors ? socketErrors.slice(1).reduce((sum, n) => sum + Number(n), 0) : 0),
  };
}

/** Runs a program to its end, collecting what it prints. */
export function runCommand(command: string, args: string[], cwd?: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

/** One wrk run against `url`; throws when wrk's output says nothing about requests (it failed to run). */
export async function runWrk(url: string, options: WrkOptions): Promise<WrkResult> {
  const { stdout, stderr } = await runCommand(WRK_BINARY, [`-t${options.threads ?? 2}`, `-c${options.connections}`, `-d${options.seconds}s`, '--latency', url]);
  const parsed = parseWrk(stdout);
  if (!Number.isFinite(parsed.requestsPerSec)) throw new Error(`wrk output not understood: ${stdout}${stderr}`);
  return parsed;
}
