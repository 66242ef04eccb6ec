/**
 * Our synthetic publisher (publish-cli.ts) in its own process, as benchmarks
 * run it so that the publisher's CPU is never the server's: resolves when it
 * exits, with what its JSON summary says. runPublisherGroup runs several
 * streams from one process (each its own connection, paced on its own), for
 * loads where a process per stream would cost the machine more than the
 * servers under test (~85 MB and ~0.6 CPU-s of start-up each, under tsx).
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
  /** from the start to NetStream.Publish.Start, seconds (part of the deficit); NaN when unknown */
  connectSeconds: number;
  /** waiting for the socket to drain (the server reading slower than we send), seconds; NaN when unknown */
  drainSeconds: number;
  error?: string;
}

/** What a publisher process says of itself: how busy it was (a saturated publisher falls behind on its own). */
export interface PublisherProcessStats {
  streams: number;
  cpuSeconds: number;
  /** share of the run its event loop was busy, 0–1 */
  eventLoopUtilization: number;
  eventLoopDelayP99Ms: number;
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
        const summary = JSON.parse(last) as StreamSummary;
        resolve({ ...outcomeOf(summary), ok: code === 0, error: code === 0 ? undefined : stderr });
      } catch {
        resolve(failedOutcome(`exit ${code}: ${stderr.slice(-500)}`));
      }
    });
  });
}

interface StreamSummary {
  bytesSent: number;
  durationMs: number;
  wallSeconds: number;
  connectMs?: number;
  drainMs?: number;
}

function outcomeOf(summary: StreamSummary): PublisherOutcome {
  return {
    ok: true,
    bytesSent: summary.bytesSent,
    deficitSeconds: summary.wallSeconds - summary.durationMs / 1000,
    connectSeconds: summary.connectMs === undefined ? Number.NaN : summary.connectMs / 1000,
    drainSeconds: summary.drainMs === undefined ? Number.NaN : summary.drainMs / 1000,
  };
}

function failedOutcome(error: string): PublisherOutcome {
  return { ok: false, bytesSent: 0, deficitSeconds: Number.POSITIVE_INFINITY, connectSeconds: Number.NaN, drainSeconds: Number.NaN, error };
}

/**
 * One publisher process carrying `urls.length` streams: an outcome per URL (in order) and the
 * process's own figures (null when it printed none: it crashed).
 */
export function runPublisherGroup(urls: string[], bitrateBps: number, seconds: number): Promise<{ outcomes: PublisherOutcome[]; stats: PublisherProcessStats | null }> {
  const args = ['--import', 'tsx', PUBLISH_CLI, '--per-stream', '--bitrate', String(bitrateBps), '--duration', String(seconds)];
  for (const url of urls) args.push('--url', url);
  const child = spawn(process.execPath, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
  return new Promise((resolve) => {
    child.once('exit', (code) => {
      const outcomes: Array<PublisherOutcome | undefined> = new Array(urls.length);
      let stats: PublisherProcessStats | null = null;
      for (const line of stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        let parsed: (Partial<StreamSummary> & { stream?: number; error?: string }) | (PublisherProcessStats & { failed: number });
        try {
          parsed = JSON.parse(line) as typeof parsed;
        } catch {
          continue;
        }
        if ('streams' in parsed) {
          stats = { streams: parsed.streams, cpuSeconds: parsed.cpuSeconds, eventLoopUtilization: parsed.eventLoopUtilization, eventLoopDelayP99Ms: parsed.eventLoopDelayP99Ms };
        } else if (typeof parsed.stream === 'number' && !('event' in parsed)) {
          outcomes[parsed.stream] = parsed.error !== undefined ? failedOutcome(parsed.error) : outcomeOf(parsed as StreamSummary);
        }
      }
      const missing = `publisher process exited (${code}) without this stream's summary: ${stderr.slice(-500)}`;
      resolve({ outcomes: Array.from(outcomes, (o) => o ?? failedOutcome(missing)), stats });
    });
  });
}
