/**
 * What an MPD request costs in JavaScript, per request and per stream change
 * (npm run bench:mpd-render), in one process on a synthetic stream: --renditions
 * video renditions and one audio track, a full window of 2 s segments (6).
 *
 *   per request, rendered (as before: every request rendered the MPD with the
 *     time in it, hashed its ETag and encoded it): buildMpd + sha1 + Buffer
 *   per request, cached (now, between two changes of the stream): the render
 *     cache's hit and the prepared answer's lookup
 *   per change, text unchanged (a part: an MPD lists none): renderMpd against
 *     the previous text, which it returns as it was
 *   per change, text changed (a segment): renderMpd with the new publishTime
 *
 * Medians of --runs runs of --iterations calls each, after a warm-up; the
 * load average is printed (the machine is shared: take figures under
 * `flock /tmp/nova-bench.lock`). HTTP (uWS, the kernel) is not in these
 * figures: bench:delivery --targets mpd measures requests end to end.
 *
 * Flags: --renditions 4 --runs 7 --iterations 20000
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { buildMpd } from '../../src/deliver/dash/mpd-builder.js';
import { mpdKey, renderMpd } from '../../src/deliver/http/dash-manifest.js';
import { PlaylistRenderCache } from '../../src/deliver/http/playlist-render-cache.js';
import { PreparedTexts } from '../../src/deliver/http/prepared-texts.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { strongEtag } from '../../src/http/etag.js';
import { SOURCE, feed } from '../../test/deliver/synthetic-media.js';
import { median } from './lib/measure.js';
import { numberFlag } from './lib/number-flag.js';

const { values: flags } = parseArgs({
  options: {
    renditions: { type: 'string', default: '4' },
    runs: { type: 'string', default: '7' },
    iterations: { type: 'string', default: '20000' },
  },
});
const RENDITIONS = numberFlag('renditions', flags.renditions, { integer: true, min: 1 });
const RUNS = numberFlag('runs', flags.runs, { integer: true, min: 1 });
const ITERATIONS = numberFlag('iterations', flags.iterations, { integer: true, min: 1 });

const TIME_URL = 'http://nova.example:8080/time';
const CONFIG = { targetDurationMs: 2000, cdnBaseUrl: null };
const names = Array.from({ length: RENDITIONS }, (_, i) => (i === 0 ? 'source' : `r${i}`));

const store = new SegmentStore();
store.beginStream('s', names.map((name, i) => ({ ...SOURCE, name, bandwidth: SOURCE.bandwidth >> i })));
for (const name of names) feed(store, 's', 0, 7, { rendition: name, tracks: name === 'source' ? ['video', 'audio'] : ['video'] });
const stream = store.getStream('s')!;
const older = renderMpd(stream, 's', TIME_URL, '', 6, CONFIG, null)!;
for (const name of names) feed(store, 's', 7, 8, { rendition: name, tracks: name === 'source' ? ['video', 'audio'] : ['video'] });
const current = renderMpd(stream, 's', TIME_URL, '', 6, CONFIG, older)!;
if (current === older) throw new Error('the new segment did not change the MPD');

const cache = new PlaylistRenderCache(16 * 1024 * 1024);
const prepared = new PreparedTexts(1024, []);
const key = mpdKey('', TIME_URL);
let sink = 0;

const cases: Array<[string, () => void]> = [
  [
    'per request, rendered (before)',
    () => {
      const now = Date.now();
      const text = buildMpd(stream, {
        windowSegments: 6,
        targetDurationMs: 2000,
        uriSuffix: '',
        baseUrl: null,
        utcTimings: [
          { schemeIdUri: 'urn:mpeg:dash:utc:http-iso:2014', value: TIME_URL },
          { schemeIdUri: 'urn:mpeg:dash:utc:direct:2014', value: new Date(now).toISOString() },
        ],
        publishTime: now,
      })!;
      sink += strongEtag(text).length + Buffer.from(text).byteLength;
    },
  ],
  [
    'per request, cached (now)',
    () => {
      const text = cache.get(stream, key, (previous) => renderMpd(stream, 's', TIME_URL, '', 6, CONFIG, previous))!;
      sink += prepared.get(text, 'application/dash+xml', 'public, max-age=1').body.byteLength;
    },
  ],
  ['per change, text unchanged (a part)', () => (sink += renderMpd(stream, 's', TIME_URL, '', 6, CONFIG, current)!.length)],
  ['per change, text changed (a segment)', () => (sink += renderMpd(stream, 's', TIME_URL, '', 6, CONFIG, older)!.length)],
];

console.log(`MPD of ${RENDITIONS} video renditions + audio, ${current.length} B; load average ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
const results = new Map<string, number[]>(cases.map(([name]) => [name, []]));
for (let run = -1; run < RUNS; run++) {
  for (const [name, call] of cases) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < ITERATIONS; i++) call();
    const ns = Number(process.hrtime.bigint() - start) / ITERATIONS;
    if (run >= 0) results.get(name)!.push(ns); // run -1 warms up
  }
}
const before = median(results.get(cases[0]![0])!);
for (const [name, values] of results) {
  const ns = median(values);
  console.log(`${name.padEnd(40)} ${(ns / 1000).toFixed(2).padStart(8)} µs  (${(before / ns).toFixed(1)}× less than rendered per request; runs ${values.map((v) => (v / 1000).toFixed(2)).join(' ')})`);
}
console.log(`load average after: ${loadavg().map((l) => l.toFixed(2)).join(' ')} (checksum ${sink})`);
