import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  chooseVariant,
  nextBlockingReload,
  parseMasterPlaylist,
  parseMediaPlaylist,
  partsAfter,
  resolveUri,
  segmentsAfter,
  withQuery,
} from '../../loadtest/k6/lib/hls-playlist.js';
import { fillTemplate, parseDashManifest, parseIsoDuration } from '../../loadtest/k6/lib/dash-manifest.js';
import { apiParamsFrom, parseDurationSeconds, viewerParamsFrom } from '../../loadtest/k6/lib/scenario-params.js';
import { flagsToEnvNames } from '../../loadtest/http/lib/cli-flags.js';

const LL_PLAYLIST = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=1.0
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:10
#EXT-X-MAP:URI="init.mp4"
#EXTINF:2.000,
10.m4s
#EXT-X-PART:DURATION=0.5,URI="11.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="11.1.m4s"
#EXT-X-PART:DURATION=0.5,URI="11.2.m4s"
#EXT-X-PART:DURATION=0.5,URI="11.3.m4s"
#EXTINF:2.000,
11.m4s
#EXT-X-PART:DURATION=0.5,URI="12.0.m4s",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.5,URI="12.1.m4s"
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="12.2.m4s"
`;

test('resolveUri follows RFC 3986 for the shapes playlists use', () => {
  const base = 'http://h:8080/hls/abc/v1/index.m3u8?token=1';
  assert.equal(resolveUri(base, '5.m4s'), 'http://h:8080/hls/abc/v1/5.m4s');
  assert.equal(resolveUri(base, '../master.m3u8'), 'http://h:8080/hls/abc/master.m3u8');
  assert.equal(resolveUri(base, '/dash/x.mpd'), 'http://h:8080/dash/x.mpd');
  assert.equal(resolveUri(base, 'https://cdn/x.ts'), 'https://cdn/x.ts');
  assert.equal(resolveUri(base, '//cdn/x.ts'), 'http://cdn/x.ts');
  assert.equal(resolveUri('http://h/a/b', './c?x=1'), 'http://h/a/c?x=1');
  assert.equal(withQuery('http://h/p?x=1', { _HLS_msn: 12, _HLS_part: 2 }), 'http://h/p?x=1&_HLS_msn=12&_HLS_part=2');
});

test('master playlist: variants in order, chosen by bandwidth', () => {
  const variants = parseMasterPlaylist(
    '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,CODECS="avc1.64001f,mp4a.40.2"\nv720/index.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv360/index.m3u8\n',
    'http://h/hls/s/master.m3u8',
  );
  assert.deepEqual(variants, [
    { uri: 'http://h/hls/s/v720/index.m3u8', bandwidth: 3_000_000 },
    { uri: 'http://h/hls/s/v360/index.m3u8', bandwidth: 800_000 },
  ]);
  assert.equal(chooseVariant(variants, 'lowest', Math.random).bandwidth, 800_000);
  assert.equal(chooseVariant(variants, 'highest', Math.random).bandwidth, 3_000_000);
  assert.equal(chooseVariant(variants, 'random', () => 0.99).bandwidth, 800_000);
});

test('LL-HLS media playlist: segments, parts with their msn, next blocking reload', () => {
  const playlist = parseMediaPlaylist(LL_PLAYLIST, 'http://h/hls/s/v1/index.m3u8');
  assert.equal(playlist.targetDuration, 2);
  assert.equal(playlist.partTarget, 0.5);
  assert.equal(playlist.canBlockReload, true);
  assert.equal(playlist.mapUri, 'http://h/hls/s/v1/init.mp4');
  assert.deepEqual(playlist.segments.map((s) => [s.msn, s.uri]), [[10, 'http://h/hls/s/v1/10.m4s'], [11, 'http://h/hls/s/v1/11.m4s']]);
  assert.deepEqual(playlist.parts.map((p) => `${p.msn}.${p.index}${p.independent ? '*' : ''}`), ['11.0*', '11.1', '11.2', '11.3', '12.0*', '12.1']);
  assert.equal(playlist.preloadHintUri, 'http://h/hls/s/v1/12.2.m4s');
  assert.deepEqual(nextBlockingReload(playlist), { msn: 12, part: 2 });
  assert.deepEqual(partsAfter(playlist, 11, 3, 10).map((p) => p.uri.slice(-8)), ['12.0.m4s', '12.1.m4s']);
  assert.deepEqual(segmentsAfter(playlist, -1, 1).map((s) => s.msn), [11]);
});

test('next blocking reload starts the next segment when the last part completed one, and without parts asks for the next msn', () => {
  const complete = parseMediaPlaylist(LL_PLAYLIST.replace(/#EXT-X-PART:DURATION=0.5,URI="12[^\n]*\n/g, '').replace(/#EXT-X-PRELOAD-HINT[^\n]*\n/, ''), 'http://h/x.m3u8');
  assert.deepEqual(nextBlockingReload(complete), { msn: 12, part: 0 });
  const plain = parseMediaPlaylist('#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:6,\na.ts\n', 'http://h/x.m3u8');
  assert.deepEqual(nextBlockingReload(plain), { msn: 4, part: null });
  assert.throws(() => parseMediaPlaylist('#EXTM3U\n#EXTINF:6,\na.ts\n', 'http://h/x.m3u8'), /TARGETDURATION/);
});

test('DASH: SegmentTimeline with $Number$ and $Time$, and @duration from the clock', () => {
  const xml = `<MPD type="dynamic" minimumUpdatePeriod="PT2S" availabilityStartTime="2024-01-01T00:00:00Z">
  <BaseURL>media/</BaseURL>
  <Period><AdaptationSet contentType="video">
    <SegmentTemplate timescale="90000" initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/$Number%05d$.m4s" startNumber="7">
      <SegmentTimeline><S t="0" d="180000" r="2"/><S d="90000"/></SegmentTimeline>
    </SegmentTemplate>
    <Representation id="v1" bandwidth="3000000"/>
  </AdaptationSet>
  <AdaptationSet mimeType="audio/mp4"><Representation id="a1" bandwidth="128000">
    <SegmentTemplate timescale="1000" duration="2000" startNumber="1" initialization="a/init.mp4" media="a/$Number$.m4s"/>
  </Representation></AdaptationSet></Period></MPD>`;
  const manifest = parseDashManifest(xml, 'http://h/dash/s/manifest.mpd', Date.parse('2024-01-01T00:00:07Z'), resolveUri);
  assert.equal(manifest.live, true);
  assert.equal(manifest.minimumUpdatePeriodSeconds, 2);
  const [video, audio] = manifest.representations;
  assert.equal(video!.contentType, 'video');
  assert.equal(video!.initUrl, 'http://h/dash/s/media/v1/init.mp4');
  assert.deepEqual(video!.newestSegment, { url: 'http://h/dash/s/media/v1/00010.m4s', number: 10, durationSeconds: 1 });
  assert.equal(audio!.contentType, 'audio');
  // 7 s after availabilityStartTime with 2 s segments: 3 complete, the newest is number 3.
  assert.deepEqual(audio!.newestSegment, { url: 'http://h/dash/s/media/a/3.m4s', number: 3, durationSeconds: 2 });
  assert.equal(fillTemplate('$RepresentationID$_$Time$_$$', { RepresentationID: 'x', Bandwidth: 1, Time: 540000 }), 'x_540000_$');
  assert.equal(parseIsoDuration('PT1M2.5S'), 62.5);
  assert.throws(() => parseIsoDuration('2s'));
});

test('scenario parameters: the same names for k6 (__ENV) and Node (--flags)', () => {
  const flags = flagsToEnvNames(['--url', 'http://h/m.m3u8', '--vus=7', '--ramp', '5s', '--duration', '1m30s', '--join-segments', '2', '--rendition', 'lowest', '--json']);
  assert.deepEqual(flags, { URL: 'http://h/m.m3u8', VUS: '7', RAMP: '5s', DURATION: '1m30s', JOIN_SEGMENTS: '2', RENDITION: 'lowest', JSON: 'true' });
  assert.deepEqual(viewerParamsFrom(flags), { url: 'http://h/m.m3u8', vus: 7, rampSeconds: 5, durationSeconds: 90, rendition: 'lowest', joinSegments: 2 });
  assert.throws(() => viewerParamsFrom({}), /URL/);
  assert.throws(() => viewerParamsFrom({ URL: 'http://h', VUS: '0' }), /VUS/);
  assert.throws(() => viewerParamsFrom({ URL: 'http://h', RENDITION: 'best' }), /rendition/);
  assert.equal(parseDurationSeconds('250ms'), 0.25);
  assert.throws(() => parseDurationSeconds('5 minutes'));
  assert.deepEqual(apiParamsFrom({ ADMIN_TOKEN: 't', URL: 'http://h:1/' }), { url: 'http://h:1', token: 't', rate: 50, durationSeconds: 60, vus: 20 });
  assert.throws(() => apiParamsFrom({}), /ADMIN_TOKEN/);
});
