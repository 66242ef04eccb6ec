/**
 * node --import tsx loadtest/publisher/publish-cli.ts --url rtmp://127.0.0.1:1935/live/KEY --bitrate 6000000 --duration 30 [--fps 30] [--chunk-size 4096]
 * Publishes the synthetic H.264/AAC stream in real time and prints a JSON summary (the last
 * line). A Reconnect Request and the hand-off it leads to are printed as they happen, one JSON
 * line each ({"event":"hand_off",...}).
 */
import { parseArgs } from 'node:util';
import { publishSynthetic } from './synthetic-publisher.js';

const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    bitrate: { type: 'string', default: '6000000' },
    duration: { type: 'string', default: '30' },
    fps: { type: 'string' },
    'chunk-size': { type: 'string', default: '4096' },
    fixture: { type: 'string' },
  },
});
if (values.url === undefined) {
  console.error('usage: publish-cli.ts --url rtmp://host:port/app/key [--bitrate bps] [--duration seconds] [--fps n] [--chunk-size n] [--fixture file.flv]');
  process.exit(2);
}
const controller = new AbortController();
process.once('SIGINT', () => controller.abort());
process.once('SIGTERM', () => controller.abort());
const started = Date.now();
const result = await publishSynthetic({
  url: values.url,
  bitrateBps: Number(values.bitrate),
  durationMs: Number(values.duration) * 1000,
  fps: values.fps === undefined ? undefined : Number(values.fps),
  chunkSize: Number(values['chunk-size']),
  fixturePath: values.fixture,
  signal: controller.signal,
  onEvent: ({ type, ...fields }) => console.log(JSON.stringify({ event: type, at: new Date().toISOString(), ...fields })),
});
const seconds = (Date.now() - started) / 1000;
console.log(JSON.stringify({ ...result, wallSeconds: seconds, achievedBps: Math.round((result.bytesSent * 8) / Math.max(0.001, result.durationMs / 1000)) }));
