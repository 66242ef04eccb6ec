// @ts-check
/**
 * k6: the WebSocket viewer swarm of loadtest/ws/swarm.ts, as a k6 scenario.
 *
 *   k6 run -e WS_URL=ws://127.0.0.1:8080/api/v1/streams/<id>/ws -e VIEWERS=1000 -e HOLD_S=60 loadtest/k6/ws-viewers.js
 *
 * Each VU is one viewer: connects, holds the socket HOLD_S seconds, sends a
 * {"type":"ping"} every 20 s, and records delivery latency (receipt − server
 * `ts`), lost messages (gaps in `seq`) and unexpected closes.
 * Type-checked with @types/k6: npx tsc -p loadtest/k6/tsconfig.json
 */
import ws from 'k6/ws';
import { check } from 'k6';
import { Counter, Trend } from 'k6/metrics';

const WS_URL = __ENV.WS_URL || 'ws://127.0.0.1:8080/api/v1/streams/demo/ws';
const VIEWERS = Number(__ENV.VIEWERS || 100);
const HOLD_S = Number(__ENV.HOLD_S || 60);
const TOKEN = __ENV.TOKEN || '';

const deliveryLatency = new Trend('ws_delivery_latency_ms', true);
const lostMessages = new Counter('ws_lost_messages');
const receivedMessages = new Counter('ws_messages_received');
const unexpectedCloses = new Counter('ws_unexpected_closes');

/** @type {import('k6/options').Options} */
export const options = {
  scenarios: {
    viewers: { executor: 'per-vu-iterations', vus: VIEWERS, iterations: 1, maxDuration: `${HOLD_S + 60}s` },
  },
  thresholds: {
    ws_lost_messages: ['count==0'],
    ws_delivery_latency_ms: ['p(99)<1000'],
    checks: ['rate>0.99'],
  },
};

export default function () {
  /** @type {import('k6/ws').Params} */
  const params = TOKEN ? { headers: { 'Sec-WebSocket-Protocol': `nova.v1, bearer.${TOKEN}` } } : {};
  let lastSeq = -1;
  let closingOnPurpose = false;
  const res = ws.connect(WS_URL, params, (socket) => {
    socket.on('message', (data) => {
      /** @type {{type: string, ts: number, seq: number}} */
      const message = JSON.parse(data);
      if (message.type !== 'snapshot' && message.type !== 'pong') {
        receivedMessages.add(1);
        deliveryLatency.add(Date.now() - message.ts);
        if (lastSeq >= 0 && message.seq > lastSeq + 1) lostMessages.add(message.seq - lastSeq - 1);
      }
      lastSeq = message.seq;
    });
    socket.on('close', () => {
      if (!closingOnPurpose) unexpectedCloses.add(1);
    });
    socket.setInterval(() => socket.send(JSON.stringify({ type: 'ping' })), 20_000);
    socket.setTimeout(() => {
      closingOnPurpose = true;
      socket.close();
    }, HOLD_S * 1000);
  });
  check(res, { 'upgraded (101)': (r) => r !== null && r.status === 101 });
}
