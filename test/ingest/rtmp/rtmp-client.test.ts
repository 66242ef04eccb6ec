import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RtmpClient, parseRtmpUrl } from '../../../src/ingest/rtmp/rtmp-client.js';
import { RtmpClientSession, RtmpStatusError } from '../../../src/ingest/rtmp/rtmp-client-session.js';
import { RtmpServerSession } from '../../../src/ingest/rtmp/rtmp-server-session.js';
import { startTestRtmpServer } from './rtmp-test-server.js';

/** Client and server sessions wired back to back in-process (delivery on a microtask, like a socket). */
function wire(accept: boolean, chunkSize: number) {
  const events: string[] = [];
  const video: Array<[number, number]> = [];
  let server!: RtmpServerSession;
  const client = new RtmpClientSession((bytes) => queueMicrotask(() => server.push(bytes)), { chunkSize });
  server = new RtmpServerSession(
    {
      send: (bytes) => queueMicrotask(() => client.push(bytes)),
      onPublishRequest: (app, name, tcUrl) => {
        events.push(`publish ${app} ${name} ${tcUrl}`);
        setImmediate(() => (accept ? server.acceptPublish() : server.rejectPublish('NetStream.Publish.Denied', 'no')));
      },
      onUnpublish: () => events.push('unpublish'),
      onMetadata: (meta) => events.push(`meta ${JSON.stringify(meta)}`),
      onVideo: (ts, body) => video.push([ts, body.length]),
      onAudio: () => undefined,
    },
    { maxMessageBytes: 1 << 20, maxChunkSize: 65536 },
  );
  return { client, server, events, video };
}

describe('RtmpClientSession ↔ RtmpServerSession', () => {
  for (const chunkSize of [128, 4096, 60000]) {
    it(`publishes, sends metadata and frames, unpublishes (chunk size ${chunkSize})`, async () => {
      const { client, server, events, video } = wire(true, chunkSize);
      client.start();
      const connectResult = await client.connect('live', 'rtmp://h/live');
      assert.equal((connectResult[1] as Record<string, unknown>).code, 'NetConnection.Connect.Success');
      await client.publish('key1');
      assert.equal(server.state, 'publishing');
      client.sendMetadata({ width: 1280, height: 720, encoder: 'nova' });
      client.sendVideo(0, new Uint8Array(100_000).fill(0x17, 0, 1));
      client.sendVideo(33, new Uint8Array(5000).fill(0x27, 0, 1));
      client.sendVideo(0x1000000, new Uint8Array(10)); // extended timestamp
      client.unpublish('key1');
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(events, ['publish live key1 rtmp://h/live', 'meta {"width":1280,"height":720,"encoder":"nova"}', 'unpublish']);
      assert.deepEqual(video, [[0, 100_000], [33, 5000], [0x1000000, 10]]);
    });
  }

  it('rejects publish with the status code the server sent', async () => {
    const { client } = wire(false, 4096);
    client.start();
    await client.connect('live', 'rtmp://h/live');
    await assert.rejects(client.publish('key1'), (err: unknown) => err instanceof RtmpStatusError && err.statusCode === 'NetStream.Publish.Denied');
  });
});

describe('RtmpClient over TCP', () => {
  it('parses rtmp URLs', () => {
    assert.deepEqual(parseRtmpUrl('rtmp://127.0.0.1:1940/live/abc?sig=1'), {
      host: '127.0.0.1',
      port: 1940,
      app: 'live',
      streamName: 'abc?sig=1',
      tcUrl: 'rtmp://127.0.0.1:1940/live',
    });
    assert.equal(parseRtmpUrl('rtmp://example.com/app/k').port, 1935);
    assert.throws(() => parseRtmpUrl('http://x/live/k'));
  });

  it('publishes to our test server over a socket and is refused when the server denies', async () => {
    const server = await startTestRtmpServer({ rejectPublish: true });
    try {
      const client = await RtmpClient.connect(`rtmp://127.0.0.1:${server.port}/live/test`);
      await assert.rejects(client.publish(), (err: unknown) => err instanceof RtmpStatusError && err.statusCode === 'NetStream.Publish.Denied');
      client.destroy();
    } finally {
      await server.close();
    }
  });
});
