/**
 * Enhanced RTMP v2's Reconnect Request at the byte level: the onStatus a draining server sends
 * (one table, checked in both directions), the connect command's capsEx, the session sending
 * the request on the wire, and our client announcing and receiving it.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeCommand } from '../../../src/ingest/rtmp/rtmp-command.js';
import { RtmpClientSession } from '../../../src/ingest/rtmp/rtmp-client-session.js';
import { RtmpServerSession } from '../../../src/ingest/rtmp/rtmp-server-session.js';
import {
  CapsExMask,
  RECONNECT_REQUEST_CODE,
  capsExOf,
  encodeReconnectRequest,
  reconnectRequestOf,
  reconnectTcUrl,
  supportsReconnect,
  type ReconnectRequest,
} from '../../../src/ingest/rtmp/reconnect-request.js';
import type { Amf0Object } from '../../../src/ingest/rtmp/amf0.js';
import { ClientBytes, SessionHarness } from './session-harness.js';

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));
const ascii = (s: string): string => Buffer.from(s, 'utf8').toString('hex');
/** an AMF0 string: u16 length then the bytes */
const str = (s: string): string => `02 ${Buffer.byteLength(s).toString(16).padStart(4, '0')} ${ascii(s)}`;
/** an AMF0 object key */
const key = (s: string): string => `${Buffer.byteLength(s).toString(16).padStart(4, '0')} ${ascii(s)}`;

/** onStatus, transaction id 0, null command object: the spec's NetConnection onStatus head */
const ON_STATUS_HEAD = `${str('onStatus')} 00 0000000000000000 05`;

interface ReconnectCase {
  name: string;
  bytes: Uint8Array;
  decoded: ReconnectRequest;
  /** bytes our encoder never produces (another property order, a wrong level): decode-only */
  decodeOnly?: boolean;
}

const cases: ReconnectCase[] = [
  {
    name: 'code and level only (reconnect to the current tcUrl)',
    bytes: hex(`${ON_STATUS_HEAD} 03 ${key('level')} ${str('status')} ${key('code')} ${str(RECONNECT_REQUEST_CODE)} 0000 09`),
    decoded: {},
  },
  {
    name: 'with a description',
    bytes: hex(
      `${ON_STATUS_HEAD} 03 ${key('level')} ${str('status')} ${key('code')} ${str(RECONNECT_REQUEST_CODE)} ${key('description')} ${str('The streaming server is undergoing updates.')} 0000 09`,
    ),
    decoded: { description: 'The streaming server is undergoing updates.' },
  },
  {
    name: 'with a description and an absolute tcUrl',
    bytes: hex(
      `${ON_STATUS_HEAD} 03 ${key('level')} ${str('status')} ${key('code')} ${str(RECONNECT_REQUEST_CODE)} ${key('description')} ${str('moving')} ${key('tcUrl')} ${str('rtmp://foo.mydomain.com:1935/realtimeapp')} 0000 09`,
    ),
    decoded: { tcUrl: 'rtmp://foo.mydomain.com:1935/realtimeapp', description: 'moving' },
  },
  {
    name: "properties in the spec table's order",
    bytes: hex(`${ON_STATUS_HEAD} 03 ${key('tcUrl')} ${str('/realtimeapp')} ${key('code')} ${str(RECONNECT_REQUEST_CODE)} ${key('level')} ${str('status')} 0000 09`),
    decoded: { tcUrl: '/realtimeapp' },
    decodeOnly: true,
  },
  {
    name: 'a tcUrl that is not a string counts as absent',
    bytes: hex(`${ON_STATUS_HEAD} 03 ${key('level')} ${str('status')} ${key('code')} ${str(RECONNECT_REQUEST_CODE)} ${key('tcUrl')} 05 0000 09`),
    decoded: {},
    decodeOnly: true,
  },
];

describe('Reconnect Request golden table', () => {
  for (const c of cases) {
    it(`decodes ${c.name}`, () => {
      assert.deepEqual(reconnectRequestOf(decodeCommand(20, c.bytes)), c.decoded);
    });
    if (!c.decodeOnly) {
      it(`encodes ${c.name}`, () => {
        assert.equal(Buffer.from(encodeReconnectRequest(c.decoded)).toString('hex'), Buffer.from(c.bytes).toString('hex'));
      });
    }
  }

  it('is not read into other onStatus codes or commands', () => {
    const publishStart = hex(`${ON_STATUS_HEAD} 03 ${key('level')} ${str('status')} ${key('code')} ${str('NetStream.Publish.Start')} 0000 09`);
    assert.equal(reconnectRequestOf(decodeCommand(20, publishStart)), null);
    const result = hex(`${str('_result')} 00 3ff0000000000000 05 03 ${key('code')} ${str(RECONNECT_REQUEST_CODE)} 0000 09`);
    assert.equal(reconnectRequestOf(decodeCommand(20, result)), null, 'only onStatus carries it');
    const noInfo = hex(ON_STATUS_HEAD);
    assert.equal(reconnectRequestOf(decodeCommand(20, noInfo)), null);
  });

  it('round-trips any description and tcUrl', () => {
    fc.assert(
      fc.property(fc.record({ tcUrl: fc.string(), description: fc.string() }, { requiredKeys: [], noNullPrototype: true }), (request) => {
        assert.deepEqual(reconnectRequestOf(decodeCommand(20, encodeReconnectRequest(request))), request);
      }),
    );
  });
});

describe('capsEx in the connect command object', () => {
  const table: Array<[string, Amf0Object, number]> = [
    ['absent', { app: 'live' }, 0],
    ['Reconnect', { capsEx: 1 }, 1],
    ['Reconnect | Multitrack', { capsEx: 3 }, 3],
    ['Multitrack alone', { capsEx: 2 }, 2],
    ['a string', { capsEx: '1' }, 0],
    ['negative', { capsEx: -1 }, 0],
    ['fractional', { capsEx: 1.5 }, 0],
    ['beyond 32 bits', { capsEx: 2 ** 32 }, 0],
    ['NaN', { capsEx: Number.NaN }, 0],
  ];
  for (const [name, object, expected] of table) {
    it(`reads ${name} as ${expected}`, () => assert.equal(capsExOf(object), expected));
  }
  it('the Reconnect bit is 0x01', () => {
    assert.equal(CapsExMask.reconnect, 0x01);
    assert.equal(supportsReconnect(3), true);
    assert.equal(supportsReconnect(2), false);
  });

  it('decodes the capsEx of a connect command from its bytes, and answers with ours', () => {
    // connect, transaction 1, {app: "live", tcUrl: "rtmp://h/live", capsEx: 1 (a double)}
    const payload = hex(
      `${str('connect')} 00 3ff0000000000000 03 ${key('app')} ${str('live')} ${key('tcUrl')} ${str('rtmp://h/live')} ${key('capsEx')} 00 3ff0000000000000 0000 09`,
    );
    const length = payload.length.toString(16).padStart(6, '0');
    const h = new SessionHarness();
    h.push(new ClientBytes().handshake().raw(hex(`03 000000 ${length} 14 00000000`)).raw(payload).bytes());
    assert.equal(h.session.peerCapsEx, 1);
    const result = h.replyCommands().find((c) => c.name === '_result' && c.transactionId === 1);
    assert.equal((result?.args[0] as Amf0Object).capsEx, CapsExMask.reconnect, 'the server states it may send a Reconnect Request');
  });

  it('an FFmpeg-style connect without capsEx reads as 0', () => {
    const h = new SessionHarness();
    h.push(new ClientBytes().publishPreamble().bytes());
    assert.equal(h.session.peerCapsEx, 0);
  });
});

describe('RtmpServerSession.requestReconnect on the wire', () => {
  it('sends the onStatus on message stream 0, chunk stream 3, after a publish', () => {
    const h = new SessionHarness();
    h.push(new ClientBytes().publishPreamble().bytes());
    assert.equal(h.session.state, 'publishing');
    assert.equal(h.session.requestReconnect({ description: 'The streaming server is undergoing updates.' }), true);
    const payload = cases[1].bytes;
    // type 0 header: the last message on chunk stream 3 (Publish.Start) was on message stream 1
    const golden = `03 000000 ${payload.length.toString(16).padStart(6, '0')} 14 00000000 ${Buffer.from(payload).toString('hex')}`;
    assert.equal(Buffer.from(h.sent[h.sent.length - 1]).toString('hex'), golden.replace(/\s+/g, ''));
    assert.equal(h.session.state, 'publishing', 'media keeps flowing until the client leaves');
    h.push(new ClientBytes().message(6, 9, 1, 40, hex('2701000000')).bytes());
    assert.equal(h.video.length, 1);
  });

  it('has nobody to ask before connect', () => {
    const h = new SessionHarness();
    h.push(new ClientBytes().handshake().bytes());
    assert.equal(h.session.requestReconnect(), false);
  });
});

describe('RtmpClientSession and the Reconnect Request', () => {
  function wire(onReconnectRequest?: (request: ReconnectRequest) => void) {
    let server!: RtmpServerSession;
    const client = new RtmpClientSession((bytes) => queueMicrotask(() => server.push(bytes)), { onReconnectRequest });
    server = new RtmpServerSession(
      {
        send: (bytes) => queueMicrotask(() => client.push(bytes)),
        onPublishRequest: () => setImmediate(() => server.acceptPublish()),
        onUnpublish: () => undefined,
        onMetadata: () => undefined,
        onVideo: () => undefined,
        onAudio: () => undefined,
      },
      { maxMessageBytes: 1 << 20, maxChunkSize: 65536 },
    );
    return { client, server };
  }

  it('announces Reconnect in capsEx only when it honours requests, and hands them over', async () => {
    const requests: ReconnectRequest[] = [];
    const { client, server } = wire((request) => requests.push(request));
    client.start();
    await client.connect('live', 'rtmp://lb:1940/live');
    await client.publish('key1');
    assert.equal(server.peerCapsEx, CapsExMask.reconnect);
    server.requestReconnect({ tcUrl: '//192.0.2.0/live', description: 'draining' });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(requests, [{ tcUrl: '//192.0.2.0/live', description: 'draining' }]);

    const plain = wire();
    plain.client.start();
    await plain.client.connect('live', 'rtmp://lb:1940/live');
    assert.equal(plain.server.peerCapsEx, 0);
  });

  it("resolves the request's tcUrl against the current one (the spec's four examples)", () => {
    const current = 'rtmp://lb.example:1940/live';
    assert.equal(reconnectTcUrl(current, undefined), current);
    assert.equal(reconnectTcUrl(current, 'rtmp://foo.mydomain.com:1935/realtimeapp'), 'rtmp://foo.mydomain.com:1935/realtimeapp');
    assert.equal(reconnectTcUrl(current, 'rtmp://127.0.0.1/realtimeapp'), 'rtmp://127.0.0.1/realtimeapp');
    assert.equal(reconnectTcUrl(current, '//192.0.2.0/realtimeapp'), 'rtmp://192.0.2.0/realtimeapp');
    assert.equal(reconnectTcUrl(current, '/realtimeapp'), 'rtmp://lb.example:1940/realtimeapp');
  });
});
