/**
 * A WebSocket viewer swarm against a running server (no control over it):
 *
 *   node --import tsx loadtest/ws/swarm.ts --url ws://127.0.0.1:8080/api/v1/streams/<id>/ws \
 *        [--procs 4] [--per-proc 2500] [--duration 30] [--ramp-concurrency 200] [--token <jwt>]
 *        [--per-address 25000]
 *
 * Forks --procs children; each opens --per-proc connections from its own
 * loopback source addresses (127.0.0.2…, one per --per-address sockets: past the
 * ephemeral-port limit of one address, and under the server's per-IP cap,
 * WS_MAX_CONNECTIONS_PER_IP), and ends --duration seconds after it started
 * whatever the state of its ramp (sockets still connecting count as failed),
 * then reports. Output: connect rate,
 * connect failures, messages received, latency (receipt − server `ts`) p50/p99/max,
 * messages lost (gaps in the per-stream `seq`), unexpected closes (with codes).
 * Raise `ulimit -n` to procs × per-proc + slack first.
 */
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

interface ChildConfig {
  url: string;
  count: number;
  addresses: string[];
  durationMs: number;
  concurrency: number;
  token: string | null;
}

interface ChildReport {
  connected: number;
  failed: number;
  connectMs: number;
  received: number;
  lost: number;
  closes: Record<string, number>;
  latencies: number[];
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

async function runChild(config: ChildConfig): Promise<ChildReport> {
  const report: ChildReport = { connected: 0, failed: 0, connectMs: 0, received: 0, lost: 0, closes: {}, latencies: [] };
  const sockets: WebSocket[] = [];
  let stopping = false;
  const started = Date.now();
  // Bounded in time: a ramp the server cannot keep up with ends with the run, not after it.
  let rampDeadline: NodeJS.Timeout | undefined;
  const rampEnded = new Promise<void>((resolve) => (rampDeadline = setTimeout(resolve, config.durationMs)));
  const rampDone = new Promise<void>((resolve) => {
    let launched = 0;
    let inFlight = 0;
    const launch = (): void => {
      while (inFlight < config.concurrency && launched < config.count) {
        const index = launched++;
        inFlight++;
        const protocols = config.token ? ['nova.v1', `bearer.${config.token}`] : [];
        const ws = new WebSocket(config.url, protocols, { localAddress: config.addresses[index % config.addresses.length], perMessageDeflate: false });
        sockets.push(ws);
        let lastSeq = -1;
        let settled = false;
        const settle = (ok: boolean): void => {
          if (settled) return;
          settled = true;
          inFlight--;
          if (ok) report.connected++;
          else report.failed++;
          if (report.connected + report.failed === config.count) resolve();
          else launch();
        };
        ws.on('open', () => settle(true));
        ws.on('error', () => settle(false));
        ws.on('close', (code) => {
          if (!settled) return settle(false);
          if (!stopping) report.closes[code] = (report.closes[code] ?? 0) + 1;
        });
        ws.on('message', (data) => {
          const message = JSON.parse(data.toString()) as { type: string; ts: number; seq: number };
          if (message.type !== 'snapshot' && message.type !== 'pong') {
            report.received++;
            report.latencies.push(Date.now() - message.ts);
            if (lastSeq >= 0 && message.seq > lastSeq + 1) report.lost += message.seq - lastSeq - 1;
          }
          lastSeq = message.seq;
        });
      }
    };
    if (config.count === 0) resolve();
    else launch();
  });
  await Promise.race([rampDone, rampEnded]);
  report.connectMs = Date.now() - started;
  await rampEnded;
  clearTimeout(rampDeadline);
  stopping = true;
  report.failed = config.count - report.connected;
  for (const ws of sockets) ws.terminate();
  return report;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length === 0 ? 0 : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))]!;
}

async function main(): Promise<void> {
  const url = arg('url', '');
  if (!url) throw new Error('--url ws://host:port/api/v1/streams/<id>/ws is required');
  const procs = Number(arg('procs', '4'));
  const perProc = Number(arg('per-proc', '2500'));
  const durationMs = Number(arg('duration', '30')) * 1000;
  const concurrency = Number(arg('ramp-concurrency', '200'));
  const token = arg('token', '') || null;
  const perAddress = Number(arg('per-address', '25000'));
  const script = fileURLToPath(import.meta.url);
  let nextAddress = 2;
  const reports = await Promise.all(
    Array.from({ length: procs }, () => {
      const addresses = Array.from({ length: Math.max(1, Math.ceil(perProc / perAddress)) }, () => `127.0.0.${nextAddress++}`);
      const child = fork(script, ['--child'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      child.send({ url, count: perProc, addresses, durationMs, concurrency, token } satisfies ChildConfig);
      return new Promise<ChildReport>((resolve, reject) => {
        child.once('message', (report: ChildReport) => resolve(report));
        child.once('exit', (code) => code !== 0 && reject(new Error(`swarm child exited with ${code}`)));
      });
    }),
  );
  const latencies = reports.flatMap((r) => r.latencies).sort((a, b) => a - b);
  const connected = reports.reduce((s, r) => s + r.connected, 0);
  const closes: Record<string, number> = {};
  for (const r of reports) for (const [code, n] of Object.entries(r.closes)) closes[code] = (closes[code] ?? 0) + n;
  const summary = {
    connections: procs * perProc,
    connected,
    failed: reports.reduce((s, r) => s + r.failed, 0),
    connectRatePerSec: Math.round(connected / (Math.max(...reports.map((r) => r.connectMs)) / 1000)),
    received: latencies.length,
    latencyMs: { p50: quantile(latencies, 0.5), p99: quantile(latencies, 0.99), max: latencies[latencies.length - 1] ?? 0 },
    lost: reports.reduce((s, r) => s + r.lost, 0),
    unexpectedCloses: closes,
  };
  console.log(JSON.stringify(summary, null, 2));
  if (summary.lost > 0) process.exitCode = 1;
}

if (process.argv.includes('--child')) {
  process.once('message', (config: ChildConfig) => {
    void runChild(config).then((report) => process.send!(report, () => process.exit(0)));
  });
} else {
  await main();
}
