/**
 * Burst admission bench (npm run bench:ingest-burst): how fast a server admits N publishes
 * that arrive at once, each stream's connect time (TCP connect to NetStream.Publish.Start:
 * handshake, connect, createStream, publish and the key check), nova against nginx-rtmp
 * alternating round by round on servers started once, so both see the same machine load.
 *
 * Flags: --streams 100,200 (N per burst)  --rounds 3 (bursts per server and N)
 *        --seconds 4 (each stream's length: the burst ends before the next begins)
 *        --bitrate 3000000  --publisher-processes 1 (the burst's streams spread over them)
 *        --database-url postgres://… (nova on PostgreSQL instead of PGlite)
 *        --warm-up-rounds 1 (unmeasured bursts per server first, at the largest N)
 *        --cpu-prof DIR (profile nova's threads with node --cpu-prof, written at its stop)
 *
 * Prints per round and server: connect p50, p90 and max (s), and streams that failed; then
 * the medians over the rounds. A round's streams are new (new keys on nova, new names on nginx-rtmp).
 */
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { nginxRtmpInstalled, rtmpLiveConfig, startNginx } from '../peers/nginx.js';
import { freePort } from '../peers/ports.js';
import { startNovaProcess } from '../peers/nova-process.js';
import { median } from './lib/measure.js';
import { numberFlag, numberListFlag } from './lib/number-flag.js';
import { runPublisherGroup, type PublisherOutcome } from '../publisher/publish-process.js';

const { values: flags } = parseArgs({
  options: {
    streams: { type: 'string', default: '100,200' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '4' },
    bitrate: { type: 'string', default: '3000000' },
    'publisher-processes': { type: 'string', default: '1' },
    'database-url': { type: 'string' },
    'warm-up-rounds': { type: 'string', default: '1' },
    'cpu-prof': { type: 'string' },
  },
});

const LEVELS = numberListFlag('streams', flags.streams, { integer: true });
const ROUNDS = numberFlag('rounds', flags.rounds, { integer: true, min: 1 });
const SECONDS = numberFlag('seconds', flags.seconds);
const BITRATE = numberFlag('bitrate', flags.bitrate);
const PROCESSES = numberFlag('publisher-processes', flags['publisher-processes'], { integer: true, min: 1 });
const WARM_UP_ROUNDS = numberFlag('warm-up-rounds', flags['warm-up-rounds'], { integer: true, min: 0 });

interface Server {
  name: string;
  urls(count: number): Promise<string[]>;
  /** resolves once the server has let go of the last burst's streams */
  settle(): Promise<void>;
  stop(): Promise<void>;
}

interface Burst {
  p50: number;
  p90: number;
  max: number;
  failed: number;
}

function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function burst(server: Server, n: number): Promise<Burst> {
  const urls = await server.urls(n);
  const processes = Math.min(PROCESSES, n);
  const groups: string[][] = Array.from({ length: processes }, () => []);
  urls.forEach((url, i) => groups[i % processes]!.push(url));
  const results = await Promise.all(groups.map((group) => runPublisherGroup(group, BITRATE, SECONDS)));
  const outcomes: PublisherOutcome[] = results.flatMap((r) => r.outcomes);
  const connects = outcomes.filter((o) => o.ok && Number.isFinite(o.connectSeconds)).map((o) => o.connectSeconds).sort((a, b) => a - b);
  await server.settle();
  return { p50: quantile(connects, 0.5), p90: quantile(connects, 0.9), max: connects.at(-1) ?? Number.NaN, failed: outcomes.filter((o) => !o.ok).length };
}

async function startNova(): Promise<Server> {
  const nova = await startNovaProcess({
    env: { TRANSCODE: 'off', ...(flags['database-url'] ? { DATABASE_URL: flags['database-url'] } : {}) },
    nodeArgs: flags['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', flags['cpu-prof']] : [],
  });
  const metrics = async (): Promise<string> => (await fetch(`${nova.http}/metrics`)).text();
  return {
    name: 'nova',
    async urls(count) {
      const urls: string[] = [];
      for (let i = 0; i < count; i++) urls.push((await nova.createStream(`burst ${i}`)).publishUrl);
      return urls;
    },
    async settle() {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline) {
        if (Number(/^nova_streaming_active_streams (\S+)$/m.exec(await metrics())?.[1] ?? 1) === 0) return;
        await sleep(100);
      }
    },
    stop: () => nova.stop(),
  };
}

async function startNginxRtmp(): Promise<Server> {
  const port = await freePort();
  const peer = await startNginx({ loadRtmpModule: true, ports: [port], config: (dir) => rtmpLiveConfig(port, ['hls on', `hls_path ${dir}/hls`, 'hls_fragment 2s']) });
  let next = 0;
  return {
    name: 'nginx-rtmp',
    async urls(count) {
      return Array.from({ length: count }, () => `rtmp://127.0.0.1:${port}/live/burst${next++}`);
    },
    settle: () => sleep(500),
    stop: () => peer.stop(),
  };
}

const servers: Server[] = [await startNova()];
if (nginxRtmpInstalled()) servers.push(await startNginxRtmp());
else console.log('nginx-rtmp is not installed: nova alone');
const fmt = (s: number): string => s.toFixed(2);
try {
  const largest = Math.max(...LEVELS);
  for (let i = 0; i < WARM_UP_ROUNDS; i++) for (const server of servers) await burst(server, largest);
  for (const n of LEVELS) {
    const byServer = new Map<string, Burst[]>(servers.map((s) => [s.name, []]));
    for (let round = 1; round <= ROUNDS; round++) {
      for (const server of servers) {
        const result = await burst(server, n);
        byServer.get(server.name)!.push(result);
        console.log(`N=${n} round ${round} ${server.name}: connect p50 ${fmt(result.p50)} p90 ${fmt(result.p90)} max ${fmt(result.max)} s, failed ${result.failed}`);
      }
    }
    for (const [name, results] of byServer) {
      const m = (pick: (b: Burst) => number): string => fmt(median(results.map(pick)));
      console.log(`N=${n} ${name} medians of ${results.length}: connect p50 ${m((b) => b.p50)} p90 ${m((b) => b.p90)} max ${m((b) => b.max)} s, failed ${results.reduce((t, b) => t + b.failed, 0)}`);
    }
  }
} finally {
  for (const server of servers) await server.stop();
}
