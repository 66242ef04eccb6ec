/**
 * The bench's server under test: one uWS app with the real WebSocket hub,
 * a LocalEventBus and a ViewerCounter (timers off: the bench drives counts),
 * publishing viewer_count_changed on command. Run by ws-bench.ts (IPC).
 */
import { performance } from 'node:perf_hooks';
import uWS from 'uWebSockets.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { LocalEventBus } from '../../src/control/events/local-bus.js';
import { ViewerCounter } from '../../src/control/viewers/viewer-counter.js';
import { registerWebSocketHub } from '../../src/deliver/ws/ws-hub.js';
import { BENCH_STREAM, type ServerCommand, type ServerReply } from './ws-bench-protocol.js';

const log = pino({ level: 'warn' });
const bus = new LocalEventBus();
const instanceId = 'bench';
const viewers = new ViewerCounter({ instanceId, bus, autoStart: false });
const app = uWS.App();
const hub = registerWebSocketHub(app, {
  bus,
  viewers,
  metrics: new Registry(),
  log,
  config: {
    idleTimeoutSec: 120,
    maxBackpressureBytes: 64 * 1024,
    maxPayloadBytes: 4 * 1024,
    maxConnectionsPerIp: 1_000_000,
  },
  streamInfo: async () => ({ exists: true, private: false, state: { id: BENCH_STREAM } }),
});

function reply(message: ServerReply): void {
  process.send!(message);
}

app.listen('127.0.0.1', 0, (socket) => {
  if (!socket) throw new Error('listen failed');
  reply({ kind: 'listening', port: uWS.us_socket_local_port(socket) });
});

process.on('message', (command: ServerCommand) => {
  if (command.cmd === 'stats') reply({ kind: 'stats', rss: process.memoryUsage().rss, connections: hub.connectionCount() });
  else if (command.cmd === 'exit') process.exit(0);
  else if (command.cmd === 'broadcast') {
    let sent = 0;
    let lateTicks = 0;
    const fanOutMs: number[] = [];
    let expected = Date.now() + command.intervalMs;
    const timer = setInterval(() => {
      if (Date.now() - expected > command.intervalMs / 2) lateTicks++;
      expected += command.intervalMs;
      sent++;
      const count = hub.connectionCount();
      const begun = performance.now();
      bus.publish({ type: 'viewer_count_changed', streamId: BENCH_STREAM, instanceId, at: Date.now(), viewers: count, peak: count });
      // uWS writes published messages before the loop moves on: setImmediate runs after that.
      setImmediate(() => fanOutMs.push(performance.now() - begun));
      if (sent === command.count) {
        clearInterval(timer);
        // Let the last publish flush before answering.
        setTimeout(() => reply({ kind: 'broadcast_done', broadcasts: sent, lateTicks, fanOutMs }), 50);
      }
    }, command.intervalMs);
  }
});
