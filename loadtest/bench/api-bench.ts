/**
 * npm run bench:api — what authentication costs on the REST API, against a
 * Fastify + @fastify/jwt peer in the same run.
 *
 * nova runs as `npm start` runs it, on a throw-away PostgreSQL database
 * (127.0.0.1:5432, as the tests use), RATE_LIMIT=off (this measures the
 * authentication; the limiter has its own line). One API client with
 * streams:read owns one stream. Then, --runs times each, medians printed, with
 * autocannon (-c --connections, --seconds) in its own process:
 *
 *   1. GET /api/v1/streams/:id with the admin token (a constant-time compare,
 *      no JWT: the route's cost without token verification);
 *   2. the same with the client's RS256 access token;
 *   3. the same with the token on a nova with rate limits on (in-process,
 *      quotas too high to reach: the limiter's own cost);
 *   4. Fastify + @fastify/jwt verifying the same token (nova's public key,
 *      issuer and audience checked) and reading the same row from the same
 *      PostgreSQL;
 *   5. POST /api/v1/auth/token (client credentials, HTTP Basic): bound by
 *      scrypt on libuv's pool by design.
 *
 * Printed: req/s, p50/p99 latency (ms), the server process's CPU % over the
 * run (100 % = one core), errors (non-2xx + socket errors), and the ratios
 * JWT / admin token (goal: >= 0.90) and nova / Fastify with the same token
 * (goal: > 1). Last, in this process, what authentication itself costs per
 * request, free of the database and the network: RequestAuthenticator with
 * the admin token and with the access token (µs, median of --runs rounds of
 * 100 000). The machine is shared: take figures holding the lock,
 * `flock /tmp/nova-bench.lock npm run bench:api`.
 *
 * Flags: --runs 3 --seconds 10 --connections 50 --token-seconds 5
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { RequestAuthenticator } from '../../src/control/auth/request-authenticator.js';
import { JwtVerifier } from '../../src/control/auth/jwt-verifier.js';
import { RevocationList } from '../../src/control/auth/revocation-list.js';
import { SigningKeyRing } from '../../src/control/auth/signing-keys.js';
import { TokenService } from '../../src/control/auth/token-service.js';
import { openDatabase } from '../../src/control/db/database.js';
import { openTemporaryPostgres } from '../../test/control/database-fixture.js';
import { startNovaProcess, type NovaProcess } from '../peers/nova-process.js';
import { cpuSeconds, median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    connections: { type: 'string', default: '50' },
    'token-seconds': { type: 'string', default: '5' },
  },
});
const RUNS = numberFlag('runs', flags.runs!, { integer: true, min: 1 });
const SECONDS = numberFlag('seconds', flags.seconds!, { min: 1 });
const CONNECTIONS = numberFlag('connections', flags.connections!, { integer: true, min: 1 });
const TOKEN_SECONDS = numberFlag('token-seconds', flags['token-seconds']!, { min: 1 });
const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PUBLIC_URL = 'https://api.bench.example';

interface LoadResult {
  requestsPerSec: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuPercent: number;
  errors: number;
}

function run(command: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('exit', () => resolve({ stdout, stderr }));
  });
}

/** autocannon in its own process, the server's CPU sampled around it. */
async function autocannon(pid: number, url: string, seconds: number, options: { headers: Record<string, string>; method?: string; body?: string }): Promise<LoadResult> {
  const args = ['-c', String(CONNECTIONS), '-d', String(seconds), '-j'];
  for (const [name, value] of Object.entries(options.headers)) args.push('-H', `${name}=${value}`);
  if (options.method) args.push('-m', options.method);
  if (options.body !== undefined) args.push('-b', options.body);
  args.push(url);
  const cpuBefore = cpuSeconds(pid);
  const started = performance.now();
  const { stdout, stderr } = await run(join(REPO, 'node_modules/.bin/autocannon'), args);
  const elapsed = (performance.now() - started) / 1000;
  const cpu = ((cpuSeconds(pid) - cpuBefore) / elapsed) * 100;
  const report = JSON.parse(stdout) as { requests: { average: number }; latency: { p50: number; p99: number }; non2xx: number; errors: number };
  if (!report.requests) throw new Error(`autocannon output not understood: ${stdout}${stderr}`);
  return { requestsPerSec: report.requests.average, p50Ms: report.latency.p50, p99Ms: report.latency.p99, serverCpuPercent: cpu, errors: report.non2xx + report.errors };
}

async function startFastifyPeer(databaseUrl: string, publicKeyPem: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'loadtest/peers/fastify-jwt-peer.ts'], {
    cwd: REPO,
    env: { ...process.env, PEER_DATABASE_URL: databaseUrl, PEER_PUBLIC_KEY_PEM: publicKeyPem, PEER_ISSUER: PUBLIC_URL },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  process.once('exit', () => child.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`fastify peer exited (${code})`)));
  });
  return { child, url: `http://127.0.0.1:${port}` };
}

async function json<T>(response: Response): Promise<T> {
  if (!response.ok) throw new Error(`${response.url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** µs per authenticate() call for each header, in this process, on the bench's database (keys and revocations as the server loads them). */
async function authenticationCost(databaseUrl: string, adminToken: string, accessToken: string): Promise<{ adminUs: number; jwtUs: number }> {
  const log = pino({ level: 'silent' });
  const database = await openDatabase({ databaseUrl, dataDir: '/nonexistent' }, log, { migrate: false });
  const keys = await SigningKeyRing.open(database.db, { maxTokenSeconds: 86_400, log });
  const revocations = await RevocationList.open(database.db, { log });
  try {
    const issuer = () => PUBLIC_URL;
    const verifier = new JwtVerifier((kid) => keys.publicKey(kid), issuer);
    const authenticator = new RequestAuthenticator(adminToken, new TokenService({ db: database.db, keys, verifier, revocations, issuer }));
    const cost = async (header: string): Promise<number> => {
      const rounds: number[] = [];
      for (let round = 0; round < RUNS + 1; round++) {
        const n = 100_000;
        const started = process.hrtime.bigint();
        for (let i = 0; i < n; i++) if (!(await authenticator.authenticate(header)).ok) throw new Error('the bench token was refused');
        rounds.push(Number(process.hrtime.bigint() - started) / n / 1000);
      }
      return median(rounds.slice(1)); // the first round warms up
    };
    return { adminUs: await cost(`Bearer ${adminToken}`), jwtUs: await cost(`Bearer ${accessToken}`) };
  } finally {
    keys.close();
    revocations.close();
    await database.close();
  }
}

async function main(): Promise<void> {
  const database = await openTemporaryPostgres({ migrate: true });
  if (!database) throw new Error('bench:api needs PostgreSQL at 127.0.0.1:5432 (database test, user postgres)');
  const novas: NovaProcess[] = [];
  let peer: ChildProcess | null = null;
  try {
    const env = { DATABASE_URL: database.url!, PUBLIC_URL, TRANSCODE: 'off' };
    const nova = await startNovaProcess({ env: { ...env, RATE_LIMIT: 'off' } });
    novas.push(nova);
    const admin = { authorization: `Bearer ${nova.adminToken}`, 'content-type': 'application/json' };
    const client = await json<{ client_id: string; client_secret: string }>(
      await fetch(`${nova.http}/api/v1/clients`, { method: 'POST', headers: admin, body: JSON.stringify({ name: 'bench', scopes: ['streams:read', 'streams:write'] }) }),
    );
    const basic = `Basic ${Buffer.from(`${client.client_id}:${client.client_secret}`).toString('base64')}`;
    const form = { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' };
    const tokens = await json<{ access_token: string }>(await fetch(`${nova.http}/api/v1/auth/token`, { method: 'POST', headers: form, body: 'grant_type=client_credentials' }));
    const bearer = { authorization: `Bearer ${tokens.access_token}` };
    const stream = await json<{ id: string }>(await fetch(`${nova.http}/api/v1/streams`, { method: 'POST', headers: { ...bearer, 'content-type': 'application/json' }, body: '{"title":"bench"}' }));
    const route = `/api/v1/streams/${stream.id}`;
    const jwks = await json<{ keys: Array<Record<string, string>> }>(await fetch(`${nova.http}/.well-known/jwks.json`));
    const publicKeyPem = createPublicKey({ key: jwks.keys[0]!, format: 'jwk' }).export({ type: 'spki', format: 'pem' }).toString();

    const limited = await startNovaProcess({ env: { ...env, RATE_LIMIT: 'on', RATE_LIMIT_READS_PER_MIN: '1000000', RATE_LIMIT_WRITES_PER_MIN: '1000000', RATE_LIMIT_ANONYMOUS_PER_MIN: '1000000' } });
    novas.push(limited);
    const fastify = await startFastifyPeer(database.url!, publicKeyPem);
    peer = fastify.child;
    // Both answer the token before any figure is taken (a 401 would be fast, and wrong).
    for (const base of [nova.http, limited.http, fastify.url]) await json(await fetch(base + route, { headers: bearer }));

    const cases: Array<{ name: string; pid: number; url: string; seconds: number; headers: Record<string, string>; method?: string; body?: string }> = [
      { name: 'nova GET /streams/:id, admin token (no JWT)', pid: nova.pid, url: nova.http + route, seconds: SECONDS, headers: { authorization: admin.authorization } },
      { name: 'nova GET /streams/:id, RS256 token', pid: nova.pid, url: nova.http + route, seconds: SECONDS, headers: bearer },
      { name: 'nova GET /streams/:id, RS256 token, rate limits on', pid: limited.pid, url: limited.http + route, seconds: SECONDS, headers: bearer },
      { name: 'fastify+@fastify/jwt GET /streams/:id, RS256 token', pid: fastify.child.pid!, url: fastify.url + route, seconds: SECONDS, headers: bearer },
      { name: 'nova POST /auth/token (client credentials)', pid: nova.pid, url: `${nova.http}/api/v1/auth/token`, seconds: TOKEN_SECONDS, headers: form, method: 'POST', body: 'grant_type=client_credentials' },
    ];
    // Warm every target up once (JIT, pools, caches) before measuring.
    for (const c of cases) await autocannon(c.pid, c.url, 2, c);
    const results = new Map<string, LoadResult[]>(cases.map((c) => [c.name, []]));
    // Interleaved: a drift in the machine's load touches every case alike.
    for (let i = 0; i < RUNS; i++) for (const c of cases) results.get(c.name)!.push(await autocannon(c.pid, c.url, c.seconds, c));

    const med = (name: string, key: keyof LoadResult) => median(results.get(name)!.map((r) => r[key]));
    console.log(`\nbench:api, ${RUNS} runs of ${SECONDS} s (${TOKEN_SECONDS} s for tokens), ${CONNECTIONS} connections, medians\n`);
    console.log('| case | req/s | p50 ms | p99 ms | server CPU % | errors |');
    console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
    for (const c of cases) {
      console.log(`| ${c.name} | ${med(c.name, 'requestsPerSec').toFixed(0)} | ${med(c.name, 'p50Ms').toFixed(1)} | ${med(c.name, 'p99Ms').toFixed(1)} | ${med(c.name, 'serverCpuPercent').toFixed(0)} | ${med(c.name, 'errors').toFixed(0)} |`);
    }
    const rps = (i: number) => med(cases[i]!.name, 'requestsPerSec');
    console.log(`\nRS256 token / admin token: ${(rps(1) / rps(0)).toFixed(3)} (goal >= 0.90)`);
    console.log(`rate limits on / off: ${(rps(2) / rps(1)).toFixed(3)}`);
    console.log(`nova / fastify, same token and route: ${(rps(1) / rps(3)).toFixed(2)} (goal > 1)`);
    const auth = await authenticationCost(database.url!, nova.adminToken, tokens.access_token);
    // The server's CPU per request on the admin-token route: what the token check adds to.
    const cpuPerRequestUs = (med(cases[0]!.name, 'serverCpuPercent') / 100) * (1e6 / rps(0));
    console.log(
      `authentication per request, in process: admin token ${auth.adminUs.toFixed(1)} us, RS256 token ${auth.jwtUs.toFixed(1)} us ` +
        `(the difference is ${(((auth.jwtUs - auth.adminUs) / cpuPerRequestUs) * 100).toFixed(1)} % of the admin-token route's ${cpuPerRequestUs.toFixed(0)} us of server CPU a request)`,
    );
  } finally {
    peer?.kill('SIGTERM');
    for (const nova of novas) await nova.stop();
    await database.dispose();
  }
}

// Ctrl-C or a timeout: exit, so the children's exit hooks (nova-process, the peer) kill them.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
await main();
