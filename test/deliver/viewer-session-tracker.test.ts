import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { createLogger } from '../../src/log.js';
import type { RequestContext } from '../../src/http/uws-helpers.js';
import { ViewerSessionTracker, type ViewerSessionRecord } from '../../src/deliver/sessions/viewer-session-tracker.js';

function request(query: string): { ctx: RequestContext; params: URLSearchParams } {
  const ctx: RequestContext = { method: 'GET', url: '/hls/s/source/video/seg-1.m4s', query, headers: new Map([['user-agent', 'ua']]), remoteAddress: '10.0.0.1', aborted: false };
  return { ctx, params: new URLSearchParams(query) };
}

const cmcd = (text: string): string => `CMCD=${encodeURIComponent(text)}`;

describe('viewer session tracker', () => {
  function tracker(options: { maxSessions?: number; failWrites?: () => boolean } = {}) {
    let now = 1_000_000;
    const written: ViewerSessionRecord[][] = [];
    const qoe: Array<[number, number]> = [];
    const registry = new Registry();
    const sessions = new ViewerSessionTracker({
      instanceId: 'i1',
      registry,
      log: createLogger('silent'),
      autoStart: false,
      maxSessions: options.maxSessions,
      now: () => now,
      sink: {
        async write(records) {
          if (options.failWrites?.()) throw new Error('database away');
          written.push([...records]);
          return 1;
        },
        qoe: (watch, rebuffer) => qoe.push([watch, rebuffer]),
      },
    });
    const counter = async (name: string): Promise<number> => (await registry.getSingleMetric(name)!.get()).values[0]?.value ?? 0;
    return { sessions, written, qoe, counter, advance: (ms: number) => (now += ms) };
  }

  it('one session per sid; idle sessions end at their last request and are written one last time', async () => {
    const { sessions, written, advance } = tracker();
    for (const sid of ['a', 'b']) {
      const r = request(cmcd(`sid="${sid}",ot=v,bl=2000,br=1000,d=2000`));
      const s = sessions.request('s1', 'hls', r.ctx, r.params)!;
      sessions.served(s, 'segment', 1000, 'source');
    }
    assert.equal(sessions.sessionCount, 2);
    await sessions.flush();
    assert.equal(written.at(-1)!.length, 2);
    advance(10_000);
    const r = request(cmcd('sid="a",ot=v,bl=2000'));
    sessions.request('s1', 'hls', r.ctx, r.params);
    advance(25_000);
    await sessions.flush();
    // b idle 35 s: ended at its last request; a seen 25 s ago: still live
    const last = written.at(-1)!;
    const b = last.find((x) => x.cmcdSid === 'b')!;
    assert.equal(b.endedAt!.getTime(), 1_000_000);
    assert.equal(sessions.sessionCount, 1);
    assert.equal(b.avgBitrateKbps, 1000);
    assert.deepEqual(b.renditions, ['source']);
  });

  it('counters alone are written at most every 10 s; a stall or a rendition switch is written at the next flush', async () => {
    const { sessions, written, advance } = tracker();
    const play = (query: string, rendition: string): void => {
      const r = request(cmcd(query));
      sessions.served(sessions.request('s1', 'hls', r.ctx, r.params)!, 'segment', 1000, rendition);
    };
    play('sid="a",ot=v,bl=4000', 'source');
    await sessions.flush();
    assert.equal(written.at(-1)!.length, 1, 'a new session is written at once');
    assert.equal(written.at(-1)![0]!.countersOnly, false, 'whole: its row does not exist yet');
    for (let second = 2; second <= 8; second += 2) {
      advance(2000);
      play('sid="a",ot=v,bl=4000', 'source');
      const before = written.length;
      await sessions.flush();
      assert.equal(written.length, before, `only its counters changed (${second} s): not written`);
    }
    advance(2000);
    play('sid="a",ot=v,bl=4000', 'source');
    await sessions.flush();
    assert.equal(written.at(-1)![0]!.requests, 6, '10 s after its last write: written, with every request');
    assert.equal(written.at(-1)![0]!.countersOnly, true, 'only its counters changed: an update of them suffices');
    advance(2000);
    play('sid="a",ot=v,bl=4000', '480p');
    await sessions.flush();
    assert.equal(written.at(-1)![0]!.renditionSwitches, 1, 'a switch is written at the next flush');
    assert.equal(written.at(-1)![0]!.countersOnly, false, 'a switch is written whole');
    advance(2000);
    play('sid="a",ot=v,bs,bl=0', '480p');
    await sessions.flush();
    assert.equal(written.at(-1)![0]!.rebufferCount, 1, 'a stall is written at the next flush');
    advance(2000);
    play('sid="a",ot=v,bl=4000,cid="other"', '480p');
    await sessions.flush();
    assert.deepEqual([written.at(-1)![0]!.contentId, written.at(-1)![0]!.countersOnly], ['other', false], 'a new content id is written whole, at once');
  });

  it('bounded: beyond maxSessions requests are served untracked (null)', () => {
    const { sessions } = tracker({ maxSessions: 2 });
    const ids = ['a', 'b', 'c'].map((sid) => {
      const r = request(cmcd(`sid="${sid}"`));
      return sessions.request('s1', 'dash', r.ctx, r.params);
    });
    assert.ok(ids[0] && ids[1]);
    assert.equal(ids[2], null);
  });

  it('without CMCD the fingerprint is the key; a failed write is retried with the next flush', async () => {
    let fail = true;
    const { sessions, written, counter } = tracker({ failWrites: () => fail });
    for (let i = 0; i < 3; i++) {
      const r = request('');
      sessions.request('s1', 'hls', r.ctx, r.params);
    }
    assert.equal(sessions.sessionCount, 1);
    await sessions.flush();
    assert.equal(written.length, 0);
    assert.equal(await counter('nova_streaming_viewer_session_write_statements_total'), 0);
    fail = false;
    await sessions.flush();
    assert.equal(written.flat().length, 1);
    // the write rate the bench reports: rows and the statements that carried them
    assert.equal(await counter('nova_streaming_viewer_session_rows_written_total'), 1);
    assert.equal(await counter('nova_streaming_viewer_session_write_statements_total'), 1);
    assert.equal(written[0]![0]!.cmcd, false);
    assert.equal(written[0]![0]!.requests, 3);
  });

  it('a stall: from the previous media request plus its buffer to the bs request; the counters get it as watch time accrues', async () => {
    const { sessions, written, qoe, advance } = tracker();
    const send = (text: string) => {
      const r = request(cmcd(text));
      const s = sessions.request('s1', 'hls', r.ctx, r.params)!;
      sessions.served(s, 'segment', 100, text.includes('ot=v') ? 'source' : null);
    };
    send('sid="x",ot=v,bl=2000,d=2000');
    advance(2000);
    await sessions.flush();
    advance(1000);
    send('sid="x",ot=m,bl=9000'); // a playlist reload repeating a stale buffer length: not a starting point
    advance(3000);
    send('sid="x",ot=v,bl=0,bs,d=2000'); // 6 s after the last segment request, whose buffer lasted 2 s: 4 s stalled
    send('sid="x",ot=a,bl=0,bs,d=2000'); // the audio request reporting the same stall
    await sessions.flush();
    const row = written.at(-1)!.find((x) => x.cmcdSid === 'x')!;
    assert.equal(row.rebufferCount, 1);
    assert.equal(row.rebufferMs, 4000);
    assert.equal(row.watchMs, 6000);
    assert.equal(sessions.rebufferRatio('s1'), 4000 / 6000);
    advance(2000);
    send('sid="x",ot=v,bl=2000,d=2000');
    await sessions.flush();
    const watch = qoe.reduce((sum, [w]) => sum + w, 0);
    const rebuffer = qoe.reduce((sum, [, r]) => sum + r, 0);
    assert.equal(watch, 8);
    assert.equal(rebuffer, 4);
    for (const [w, r] of qoe) assert.ok(r <= w);
  });
  it("a stream's bytes served since the last take, and its live sessions by rendition", async () => {
    const { sessions, advance } = tracker();
    const play = (sid: string, stream: string, family: 'hls' | 'dash', bytes: number, rendition: string | null): void => {
      const r = request(cmcd(`sid="${sid}",ot=v`));
      sessions.served(sessions.request(stream, family, r.ctx, r.params)!, rendition === null ? 'playlist' : 'segment', bytes, rendition);
    };
    assert.equal(sessions.takeBytesServed('s1'), 0, 'no sessions: nothing served');
    assert.deepEqual(sessions.viewersByRendition('s1'), {});
    play('a', 's1', 'hls', 500, null); // a playlist: bytes, no rendition yet
    assert.deepEqual(sessions.viewersByRendition('s1'), {}, 'no media fetched yet: not in the distribution');
    play('a', 's1', 'hls', 100_000, '720p');
    play('b', 's1', 'dash', 50_000, '360p');
    play('c', 's1', 'hls', 50_000, '720p');
    play('d', 's2', 'hls', 1_000_000, 'source'); // another stream's
    sessions.openWs('s1', '10.0.0.9'); // a socket carries no media: a viewer, not in the distribution
    advance(2000);
    assert.equal(sessions.takeBytesServed('s1'), 200_500, 'every response body since its first session');
    assert.deepEqual(sessions.viewersByRendition('s1'), { '720p': 2, '360p': 1 });
    assert.deepEqual(sessions.viewersByRendition('s2'), { source: 1 });

    advance(1000);
    play('c', 's1', 'hls', 25_000, '360p'); // c switches down
    assert.equal(sessions.takeBytesServed('s1'), 25_000, 'since the previous take');
    assert.equal(sessions.takeBytesServed('s1'), 0, 'nothing served since');
    assert.equal(sessions.takeBytesServed('s2'), 1_000_000, "another stream's count is its own");
    assert.deepEqual(sessions.viewersByRendition('s1'), { '720p': 1, '360p': 2 });

    // a and b fall idle and end; c plays on
    for (let i = 0; i < 4; i++) {
      advance(10_000);
      play('c', 's1', 'hls', 1000, '360p');
      await sessions.flush();
    }
    assert.deepEqual(sessions.viewersByRendition('s1'), { '360p': 1 });
  });
});
