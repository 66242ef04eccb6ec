/**
 * node --import tsx loadtest/publisher/publish-cli.ts --url rtmp://127.0.0.1:1935/live/KEY --bitrate 6000000 --duration 30 [--fps 30] [--chunk-size 4096]
 * Publishes the synthetic H.264/AAC stream in real time and prints a JSON summary (the last
 * line). A Reconnect Request and the hand-off it leads to are printed as they happen, one JSON
 * line each ({"event":"hand_off",...}).
 *
 * Several streams from one process: give --url once per stream (each its own RTMP connection,
 * all started at once, each paced in real time on its own). Each stream's summary is printed as
 * it ends, one JSON line with "stream" (its index in the --url list; "error" instead of the
 * figures when it failed), and the last line is the process's: {"streams":K,"failed":F,
 * "cpuSeconds":…,"eventLoopUtilization":…,"eventLoopDelayP99Ms":…} — how busy this process was,
 * so a benchmark can tell a publisher that could not keep up from a server that could not.
 * The exit status is 1 when any stream failed. --per-stream prints that way for a single --url too.
 */
import { setMaxListeners } from 'node:events';
import { parseArgs } from 'node:util';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { publishSynthetic, type SyntheticPublishOptions } from './synthetic-publisher.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string', multiple: true },
    bitrate: { type: 'string', default: '6000000' },
    duration: { type: 'string', default: '30' },
    fps: { type: 'string' },
    'chunk-size': { type: 'string', default: '4096' },
    fixture: { type: 'string' },
    'per-stream': { type: 'boolean', default: false },
  },
});
const urls = values.url ?? [];
if (urls.length === 0) {
  console.error('usage: publish-cli.ts --url rtmp://host:port/app/key [--url …] [--bitrate bps] [--duration seconds] [--fps n] [--chunk-size n] [--fixture file.flv] [--per-stream]');
  process.exit(2);
}
const controller = new AbortController();
setMaxListeners(urls.length + 10, controller.signal); // each stream's pacing sleep listens to it
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());

function options(url: string, onEvent: SyntheticPublishOptions['onEvent']): SyntheticPublishOptions {
  return {
    url,
    bitrateBps: Number(values.bitrate),
    durationMs: Number(values.duration) * 1000,
    fps: values.fps === undefined ? undefined : Number(values.fps),
    chunkSize: Number(values['chunk-size']),
    fixturePath: values.fixture,
    signal: controller.signal,
    onEvent,
  };
}

if (urls.length === 1 && !values['per-stream']) {
  const started = Date.now();
  const result = await publishSynthetic(options(urls[0]!, ({ type, ...fields }) => console.log(JSON.stringify({ event: type, at: new Date().toISOString(), ...fields }))));
  const seconds = (Date.now() - started) / 1000;
  console.log(JSON.stringify({ ...result, wallSeconds: seconds, achievedBps: Math.round((result.bytesSent * 8) / Math.max(0.001, result.durationMs / 1000)) }));
} else {
  const cpuBefore = process.cpuUsage();
  const eluBefore = performance.eventLoopUtilization();
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  let failed = 0;
  await Promise.all(
    urls.map(async (url, stream) => {
      const started = Date.now();
      try {
        const result = await publishSynthetic(options(url, ({ type, ...fields }) => console.log(JSON.stringify({ event: type, stream, at: new Date().toISOString(), ...fields }))));
        const seconds = (Date.now() - started) / 1000;
        console.log(JSON.stringify({ stream, ...result, wallSeconds: seconds, achievedBps: Math.round((result.bytesSent * 8) / Math.max(0.001, result.durationMs / 1000)) }));
      } catch (err) {
        failed++;
        console.log(JSON.stringify({ stream, error: err instanceof Error ? err.message : String(err), wallSeconds: (Date.now() - started) / 1000 }));
      }
    }),
  );
  delay.disable();
  const cpu = process.cpuUsage(cpuBefore);
  console.log(
    JSON.stringify({
      streams: urls.length,
      failed,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      eventLoopUtilization: performance.eventLoopUtilization(eluBefore).utilization,
      eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    }),
  );
  process.exitCode = failed > 0 ? 1 : 0;
}
