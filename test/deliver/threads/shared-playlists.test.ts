import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { mpdKey } from '../../../src/deliver/http/dash-manifest.js';
import { SegmentStore } from '../../../src/deliver/store/segment-store.js';
import { SharedPlaylists } from '../../../src/deliver/threads/shared-playlists.js';
import { T0, feed, feedParts } from '../synthetic-media.js';

const CONFIG = { partTargetMs: 200, targetDurationMs: 2000, cdnBaseUrl: null };

describe('SharedPlaylists (the main thread renders what delivery threads watch)', () => {
  it('renders a watched MPD at each change of its stream: a part keeps its text, a segment gives it the time of that change; 4 hosts per stream at most; 5 s unwatched and it stops', () => {
    let clock = T0 + 10_000;
    const store = new SegmentStore({ now: () => clock });
    const shared = new SharedPlaylists(store, CONFIG, new Registry(), () => clock);
    feed(store, 's', 0, 4);
    const keys = ['a', 'b', 'c', 'd', 'e', 'f'].map((host) => mpdKey('', `http://${host}/time`));
    shared.watch('s', ['source/video', ...keys]);
    const texts = (): Map<string, string | null> => new Map(shared.render(new Set(['s'])).map(([, change]) => (change.t === 'rendered' ? [change.key, change.text] : ['', null])));

    const first = texts();
    assert.deepEqual([...first.keys()], ['source/video', ...keys.slice(0, 4)], 'the playlist and the first 4 MPD keys');
    const mpd = first.get(keys[0]!)!;
    assert.match(mpd, new RegExp(`publishTime="${new Date(clock).toISOString()}"`));
    assert.match(mpd, /<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-iso:2014" value="http:\/\/a\/time"\/>/);

    clock += 200;
    feedParts(store, 's', 4, 1);
    const afterPart = texts();
    assert.equal(afterPart.get(keys[0]!), mpd, 'a part: the same MPD, publishTime included');
    assert.notEqual(afterPart.get('source/video'), first.get('source/video'), 'the playlist lists the part');

    clock += 1800;
    feed(store, 's', 4, 5);
    assert.match(texts().get(keys[0]!)!, new RegExp(`publishTime="${new Date(clock).toISOString()}"`));

    clock += 5001;
    assert.equal(texts().size, 0, 'nobody watched for 5 s');
    shared.watch('s', [keys[5]!]);
    assert.deepEqual([...texts().keys()], [keys[5]], 'room for another host once the others are gone');
  });
});
