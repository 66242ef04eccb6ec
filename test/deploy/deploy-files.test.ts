import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { npmStartCommand } from '../../loadtest/peers/nova-process.js';
import { parse as parseYaml } from 'yaml';

// Docker has no engine here and CI has none either: these checks stand in for
// `docker compose config` and a build, on what a typo would break.
const root = fileURLToPath(new URL('../../', import.meta.url));
const readText = (path: string): string => readFileSync(resolve(root, path), 'utf8');
type Mapping = { [key: string]: unknown };
const asMap = (value: unknown, what: string): Mapping => {
  assert.ok(value !== null && value !== undefined && typeof value === 'object' && !Array.isArray(value), `${what} is not a mapping`);
  return value as Mapping;
};

test('Dockerfile: node 20 bookworm-slim, ffmpeg, non-root, ports, healthcheck, SIGTERM, the npm start command', () => {
  const dockerfile = readText('deploy/Dockerfile');
  const instructions = dockerfile
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((line) => line.trim() !== '' && !line.trim().startsWith('#'))
    .map((line) => line.trim().split(/\s+/)[0]!);
  const known = new Set(['FROM', 'ARG', 'RUN', 'COPY', 'WORKDIR', 'ENV', 'USER', 'EXPOSE', 'STOPSIGNAL', 'HEALTHCHECK', 'ENTRYPOINT', 'CMD', 'VOLUME', 'LABEL']);
  assert.deepEqual(instructions.filter((word) => !known.has(word)), []);
  assert.match(dockerfile, /^ARG NODE_IMAGE=node:20-bookworm-slim$/m);
  assert.match(dockerfile, /apt-get install[^\n]*\bffmpeg\b/);
  assert.match(dockerfile, /^USER node$/m);
  assert.match(dockerfile, /^EXPOSE 1935\/tcp 8080\/tcp$/m);
  assert.match(dockerfile, /^STOPSIGNAL SIGTERM$/m);
  assert.match(dockerfile, /HEALTHCHECK[\s\S]*\/health/);
  const cmd = /^CMD (\[.*\])$/m.exec(dockerfile);
  assert.ok(cmd, 'no exec-form CMD');
  // npm start = environment assignments, then the command: the command is the CMD, the assignments are in ENV.
  const start = npmStartCommand();
  assert.equal((JSON.parse(cmd[1]!) as string[]).join(' '), ['node', ...start.args].join(' '), 'CMD differs from npm start');
  const env = /^ENV ((?:.*\\\n)*.*)$/m.exec(dockerfile)?.[1]?.split(/[\s\\]+/) ?? [];
  for (const [name, value] of Object.entries(start.env)) assert.ok(env.includes(`${name}=${value}`), `npm start sets ${name}=${value}; the image's ENV does not`);
  // Every COPY source from the build context exists.
  for (const match of dockerfile.matchAll(/^COPY (?!--from)(.+) \S+$/gm)) {
    for (const source of match[1]!.split(/\s+/)) assert.ok(existsSync(resolve(root, source)), `COPY source ${source} missing`);
  }
  // Stages named in --from exist.
  const stages = new Set([...dockerfile.matchAll(/^FROM \S+ AS (\S+)$/gm)].map((m) => m[1]!));
  for (const match of dockerfile.matchAll(/--from=(\S+)/g)) assert.ok(stages.has(match[1]!), `unknown stage ${match[1]}`);
});

test('docker-compose: nova with postgres, redis, prometheus, grafana; mounts exist; env matches src/config.ts', () => {
  const composePath = resolve(root, 'deploy/docker-compose.yml');
  const compose = asMap(parseYaml(readText('deploy/docker-compose.yml')), 'compose');
  const services = asMap(compose['services'], 'services');
  assert.deepEqual(Object.keys(services).sort(), ['grafana', 'nova', 'postgres', 'prometheus', 'redis']);
  const nova = asMap(services['nova'], 'nova');
  const build = asMap(nova['build'], 'nova.build');
  assert.ok(existsSync(resolve(dirname(composePath), String(build['context']), String(build['dockerfile']))), 'build context/dockerfile do not resolve');
  const env = asMap(nova['environment'], 'nova.environment');
  const configSource = readText('src/config.ts');
  for (const name of Object.keys(env)) assert.ok(configSource.includes(`'${name}'`) || configSource.includes(`env.${name}`), `${name} is not read by src/config.ts`);
  assert.match(String(env['DATABASE_URL']), /^postgres:\/\/.*@postgres:5432\//);
  assert.equal(env['REDIS_URL'], 'redis://redis:6379');
  assert.equal(nova['stop_grace_period'], '30s');
  const dependsOn = asMap(nova['depends_on'], 'nova.depends_on');
  assert.equal(asMap(dependsOn['postgres'], 'postgres dep')['condition'], 'service_healthy');
  assert.equal(asMap(services['postgres'], 'postgres')['image'], 'postgres:16');
  assert.equal(asMap(services['redis'], 'redis')['image'], 'redis:7');
  for (const name of Object.keys(services)) {
    const volumes = asMap(services[name], name)['volumes'];
    if (!Array.isArray(volumes)) continue;
    for (const volume of volumes) {
      const source = String(volume).split(':')[0]!;
      if (source.startsWith('.')) assert.ok(existsSync(resolve(dirname(composePath), source)), `${name}: mount ${source} missing`);
      else assert.ok(Object.prototype.hasOwnProperty.call(asMap(compose['volumes'], 'volumes'), source), `${name}: volume ${source} undeclared`);
    }
  }
});

test('prometheus.yml scrapes nova on /metrics and loads the alert rules', () => {
  const config = asMap(parseYaml(readText('deploy/prometheus/prometheus.yml')), 'prometheus');
  const jobs = config['scrape_configs'] as Mapping[];
  const nova = jobs.find((job) => job['job_name'] === 'nova-streaming');
  assert.ok(nova);
  assert.equal(nova['metrics_path'], '/metrics');
  const dns = (nova['dns_sd_configs'] as Mapping[])[0]!;
  assert.deepEqual(dns['names'], ['nova']);
  assert.equal(dns['port'], 8080);
  assert.deepEqual(config['rule_files'], ['/etc/prometheus/alerts.yml']);
  const rules = asMap(parseYaml(readText('deploy/helm/nova-streaming/files/alerts.yml')), 'alerts');
  const names = (rules['groups'] as Mapping[]).flatMap((group) => (group['rules'] as Mapping[]).map((rule) => rule['alert']));
  assert.equal(new Set(names).size, names.length, 'duplicate alert names');
});

test('grafana provisioning points at the dashboards folder and the compose Prometheus', () => {
  const datasources = asMap(parseYaml(readText('grafana/provisioning/datasources/prometheus.yaml')), 'datasources');
  const prometheus = (datasources['datasources'] as Mapping[])[0]!;
  assert.equal(prometheus['type'], 'prometheus');
  assert.equal(prometheus['url'], 'http://prometheus:9090');
  const providers = asMap(parseYaml(readText('grafana/provisioning/dashboards/nova-streaming.yaml')), 'providers');
  const provider = (providers['providers'] as Mapping[])[0]!;
  const path = asMap(provider['options'], 'options')['path'];
  const compose = readText('deploy/docker-compose.yml');
  assert.ok(compose.includes(`../grafana/dashboards:${String(path)}`), 'compose does not mount the dashboards where the provider looks');
  const dashboard = JSON.parse(readText('grafana/dashboards/nova-streaming.json')) as { uid: string; title: string };
  assert.equal(dashboard.uid, 'nova-streaming');
});
