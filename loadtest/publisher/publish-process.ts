/**
 * Our synthetic publisher (publish-cli.ts) in its own process, as benchmarks
 * run it so that the publisher's CPU is never the server's: resolves when it
 * exits, with what its JSON summary says.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PUBLISH_CLI = fileURLToPath(new URL('./publish-cli.ts', import.meta.url));

export interface PublisherOutcome {
  ok: boolean;
  bytesSent: number;
  /** wall time − media time sent, seconds */
  deficitSeconds: number;
  error?: string;
}

export function runPublisherProcess(url: string, bitrateBps: number, seconds: number): Promise<PublisherOutcome> {
  const child = spawn(process.execPath, ['--import', 'tsx', PUBLISH_CLI, '--url', url, '--bitrate', String(bitrateBps), '--duration', String(seconds)], {
    cwd: REPO,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const last = stdout.trim().split('\n').at(-1) ?? '';
      try {
        const summary = JSON.parse(last) as { bytesSent: number; durationMs: number; wallSeconds: number };
        resolve({ ok: code === 0, bytesSent: summary.bytesSent, deficitSeconds: summary.wallSeconds - summary.durationMs / 1000, error: code === 0 ? undefined : stderr });
      } catch {
        resolve({ ok: false, bytesSent: 0, deficitSeconds: Number.POSITIVE_INFINITY, error: `exit ${code}: ${stderr.slice(-500)}` });
      }
    });
  });
}
