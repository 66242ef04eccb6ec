import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildMpd } from '../../src/deliver/dash/mpd-builder.js';
import { isoDuration, writeMpd } from '../../src/deliver/dash/mpd-writer.js';
import { writeMasterPlaylist } from '../../src/deliver/hls/master-playlist.js';
import { writeMediaPlaylist } from '../../src/deliver/hls/media-playlist.js';
import {
  buildMasterPlaylist,
  buildMediaPlaylist,
  buildTsMasterPlaylist,
  type PlaylistBuildOptions,
} from '../../src/deliver/hls/playlist-builder.js';
import { SegmentStore } from '../../src/deliver/store/segment-store.js';
import { assertGolden } from './golden.js';
import { T0, feed, feedParts, initOf } from './synthetic-media.js';

const CLOCK = () => T0 + 20_000;

function options(overrides: Partial<PlaylistBuildOptions> = {}): PlaylistBuildOptions {
  return { windowSegments: 6, partSegments: 3, partTargetMs: 200, targetDurationMs: 2000, uriSuffix: '', cdnBaseUrl: null, ...overrides };
}

/** 8 complete segments (0–7: 0 and 1 have left the window) and 3 parts of segment 8. */
function liveStore(): SegmentStore {
  const store = new SegmentStore({ now: CLOCK });
  feed(store, 'live1', 0, 8);
  feedParts(store, 'live1', 8, 3);
  return store;
}

function mediaPlaylist(store: SegmentStore, track: 'video' | 'audio' | 'ts', overrides: Partial<PlaylistBuildOptions> = {}): string | null {
  const stream = store.getStream('live1')!;
  return buildMediaPlaylist(stream, 'live1', stream.renditions.get('source')!, track, options({ windowSegments: store.options.windowSegments, ...overrides }));
}

describe('HLS playlists (golden)', () => {
  it('master playlist: audio group, measured bandwidths, resolution, frame rate, codecs', () => {
    assertGolden('master.m3u8', buildMasterPlaylist(liveStore().getStream('live1')!, { uriSuffix: '' }));
  });

  it('LL-HLS video playlist: server control, parts of the last segments and the pending one, preload hint, rendition report', () => {
    const text = mediaPlaylist(liveStore(), 'video');
    assertGolden('video-ll.m3u8', text);
    // independent of the golden file: the spec rules that matter most
    assert.match(text!, /PART-HOLD-BACK=0\.600,HOLD-BACK=6\.000/);
    assert.match(text!, /#EXT-X-MEDIA-SEQUENCE:2\n/);
    assert.match(text!, /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="video\/part-8-3\.m4s"\n/);
    assert.equal((text!.match(/#EXTINF:/g) ?? []).length, 6);
  });

  it('LL-HLS audio playlist', () => {
    assertGolden('audio-ll.m3u8', mediaPlaylist(liveStore(), 'audio'));
  });

  it('MPEG-TS master and media playlists', () => {
    const store = liveStore();
    assertGolden('ts-master.m3u8', buildTsMasterPlaylist(store.getStream('live1')!, { uriSuffix: '' }));
    assertGolden('ts.m3u8', mediaPlaylist(store, 'ts'));
  });

  it('ended playlist: ENDLIST, no preload hint, no pending parts', () => {
    const store = liveStore();
    store.endStream('live1');
    const text = mediaPlaylist(store, 'video');
    assertGolden('video-ended.m3u8', text);
    assert.ok(text!.endsWith('#EXT-X-ENDLIST\n'));
    assert.doesNotMatch(text!, /PRELOAD-HINT/);
  });

  it('CDN base URL and playback token go into every URI', () => {
    const text = mediaPlaylist(liveStore(), 'video', { cdnBaseUrl: 'https://cdn.example.com', uriSuffix: '?token=123.abc' });
    assertGolden('video-cdn-token.m3u8', text);
    for (const uri of text!.match(/URI="[^"]+"/g) ?? []) assert.match(uri, /\?token=123\.abc"$/);
  });

  it('discontinuity, a new init version and the discontinuity sequence', () => {
    const store = new SegmentStore({ now: CLOCK, windowSegments: 3, keepAfterWindow: 1 });
    feed(store, 'live1', 0, 3, { tracks: ['video'] });
    // reconnect with different encoder settings at msn 3
    store.add('live1', initOf('video', 'source', 1));
    feed(store, 'live1', 3, 5, { tracks: ['video'], discontinuityAt: 3 });
    assertGolden('video-discontinuity.m3u8', mediaPlaylist(store, 'video'));
    // the discontinuity leaves the window: its count moves into EXT-X-DISCONTINUITY-SEQUENCE
    feed(store, 'live1', 5, 7, { tracks: ['video'] });
    assert.match(mediaPlaylist(store, 'video')!, /#EXT-X-DISCONTINUITY-SEQUENCE:1\n/);
  });

  it('writers are pure: exact output for a hand-built input', () => {
    assert.equal(
      writeMasterPlaylist({
        version: 3,
        independentSegments: false,
        audio: [],
        variants: [{ uri: 'a.m3u8', bandwidth: 1000.4, averageBandwidth: null, width: 0, height: 0, frameRate: 0, codecs: 'mp4a.40.2', audioGroup: null }],
      }),
      '#EXTM3U\n#EXT-X-VERSION:3\n\n#EXT-X-STREAM-INF:BANDWIDTH=1000,CODECS="mp4a.40.2"\na.m3u8\n',
    );
    assert.equal(
      writeMediaPlaylist({
        version: 3,
        targetDuration: 4,
        mediaSequence: 7,
        discontinuitySequence: 0,
        uris: { prefix: '', suffix: '', hasInit: false, segmentExtension: '.ts' },
        segments: [{ msn: 7, duration: 3.9999, programDateTime: 0, discontinuity: false, initVersion: 0, parts: [] }],
        independentSegments: false,
        ended: true,
        pendingInitVersion: 0,
        lowLatency: null,
      }),
      '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:7\n#EXT-X-DISCONTINUITY-SEQUENCE:0\n\n' +
        '#EXT-X-PROGRAM-DATE-TIME:1970-01-01T00:00:00.000Z\n#EXTINF:4.000,\nseg-7.ts\n#EXT-X-ENDLIST\n',
    );
  });
});

describe('DASH MPD (golden)', () => {
  const utcTimings = [{ schemeIdUri: 'urn:mpeg:dash:utc:http-iso:2014', value: 'http://origin.example/time' }];

  it('dynamic MPD: live profile, timeline folded with r, startNumber = first listed msn', () => {
    const text = buildMpd(liveStore().getStream('live1')!, {
      windowSegments: 6,
      targetDurationMs: 2000,
      uriSuffix: '',
      baseUrl: null,
      utcTimings,
      publishTime: CLOCK(),
    });
    assertGolden('manifest-live.mpd', text);
    assert.match(text!, /type="dynamic"/);
    assert.match(text!, /availabilityStartTime="2025-01-02T03:04:05.000Z"/);
    assert.match(text!, /startNumber="2"/);
    assert.match(text!, /<S t="360000" d="180000" r="5"\/>/);
  });

  it('static MPD once ended, with CDN BaseURL and token', () => {
    const store = liveStore();
    store.endStream('live1');
    const text = buildMpd(store.getStream('live1')!, {
      windowSegments: 6,
      targetDurationMs: 2000,
      uriSuffix: '?token=9.x',
      baseUrl: 'https://cdn.example.com/dash/live1/',
      utcTimings,
      publishTime: CLOCK(),
    });
    assertGolden('manifest-ended.mpd', text);
    assert.match(text!, /type="static" mediaPresentationDuration="PT12S"/);
    assert.doesNotMatch(text!, /minimumUpdatePeriod/);
  });

  it('timeline gaps start a new S with its own t; ISO durations', () => {
    const text = writeMpd({
      publishTime: 0,
      availabilityStartTime: 0,
      ended: false,
      baseUrl: null,
      minimumUpdatePeriod: 2,
      timeShiftBufferDepth: 12,
      suggestedPresentationDelay: 6,
      minBufferTime: 2,
      utcTimings: [],
      video: [],
      audio: [
        {
          id: 'a',
          bandwidth: 1,
          codecs: 'mp4a.40.2',
          timescale: 1000,
          initialization: 'i.mp4',
          media: 's-$Number$.m4s',
          startNumber: 4,
          segments: [
            { baseMediaDecodeTime: 0, duration: 2 },
            { baseMediaDecodeTime: 2000, duration: 2 },
            { baseMediaDecodeTime: 5000, duration: 1.5 },
          ],
          width: 0,
          height: 0,
          frameRate: 0,
        },
      ],
    });
    assert.match(text, /<S t="0" d="2000"\/>\n\s*<S t="2000" d="3000"\/>\n\s*<S t="5000" d="1500"\/>/);
    assert.equal(isoDuration(2), 'PT2S');
    assert.equal(isoDuration(1.5), 'PT1.5S');
    assert.equal(isoDuration(0), 'PT0S');
  });
});
