import uWS from 'uWebSockets.js';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { LocalEventBus } from '../../../src/control/events/local-bus.js';
import type { EventBus } from '../../../src/control/events/stream-events.js';
import type { ViewerCountStore } from '../../../src/control/viewers/redis-viewer-store.js';
import { ViewerCounter, type ViewerCounterOptions } from '../../../src/control/viewers/viewer-counter.js';
import { registerWebSocketHub, type StreamInfo, type WebSocketHub, type WebSocketHubConfig } from '../../../src/deliver/ws/ws-hub.js';
import type { PlaybackGate } from '../../../src/deliver/playback-gate.js';

export const silentLog = pino({ level: 'silent' });

export interface HubFixture {
  port: number;
  url(streamId: string, query?: string): string;
  bus: EventBus;
  viewers: ViewerCounter;
  hub: WebSocketHub;
  registry: Registry;
  streams: Map<string, StreamInfo>;
  close(): Promise<void>;
}

export interface HubFixtureOptions {
  instanceId?: string;
  bus?: EventBus;
  store?: ViewerCountStore | null;
  config?: Partial<WebSocketHubConfig>;
  viewerOptions?: Partial<ViewerCounterOptions>;
  /** the viewer-token check; TEST_PLAYBACK_GATE when absent */
  playback?: PlaybackGate;
  /** Streams known to streamInfo(); default: "live1" public and "secret1" private. */
  streams?: Map<string, StreamInfo>;
}

export const DEFAULT_HUB_CONFIG: WebSocketHubConfig = {
  idleTimeoutSec: 60,
  maxBackpressureBytes: 64 * 1024,
  maxPayloadBytes: 4 * 1024,
  maxConnectionsPerIp: 100,
  maxMessagesPerSecond: 20,
  metricsIntervalMs: 1000,
};

/**
 * The hub's side of the viewer-token check, with tokens a test can write by
 * hand: "viewer.<stream>" is good for that stream (403 elsewhere), "expired"
 * and "revoked" are what they say, anything else is invalid. The real check
 * (RS256 viewer tokens, PlaybackAuthorizer) is exercised through the whole
 * server in test/e2e/private-streams.test.ts.
 */
export const TEST_PLAYBACK_GATE: PlaybackGate = (streamId, token) => {
  if (token === null || token === '') return { ok: false, reason: 'missing' };
  if (token === 'expired' || token === 'revoked') return { ok: false, reason: token };
  if (!token.startsWith('viewer.')) return { ok: false, reason: 'invalid' };
  return token === `viewer.${streamId}` ? { ok: true } : { ok: false, reason: 'wrong_stream' };
};

export async function startHub(options: HubFixtureOptions = {}): Promise<HubFixture> {
  const instanceId = options.instanceId ?? `test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const bus = options.bus ?? new LocalEventBus();
  const registry = new Registry();
  const viewers = new ViewerCounter({ instanceId, bus, store: options.store ?? null, log: silentLog, ...options.viewerOptions });
  const streams =
    options.streams ??
    new Map<string, StreamInfo>([
      ['live1', { exists: true, private: false, state: { id: 'live1', status: 'live' } }],
      ['secret1', { exists: true, private: true, state: { id: 'secret1', status: 'live' } }],
    ]);
  const app = uWS.App();
  const hub = registerWebSocketHub(app, {
    bus,
    viewers,
    metrics: registry,
    log: silentLog,
    config: { ...DEFAULT_HUB_CONFIG, ...options.config },
    streamInfo: async (streamId) => streams.get(streamId) ?? { exists: false, private: false, state: {} },
    playback: options.playback ?? TEST_PLAYBACK_GATE,
  });
  const listenSocket = await new Promise<uWS.us_listen_socket>((resolve, reject) =>
    app.listen('127.0.0.1', 0, (socket) => (socket ? resolve(socket) : reject(new Error('uWS listen failed')))),
  );
  const port = uWS.us_socket_local_port(listenSocket);
  return {
    port,
    url: (streamId, query) => `ws://127.0.0.1:${port}/api/v1/streams/${streamId}/ws${query ? `?${query}` : ''}`,
    bus,
    viewers,
    hub,
    registry,
    streams,
    async close() {
      hub.close();
      uWS.us_listen_socket_close(listenSocket);
      await viewers.close();
      if (!options.bus) await bus.close();
    },
  };
}

/** A metric's value (summed over label sets matching `labels`). */
export async function metricValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  let sum = 0;
  for (const value of values) {
    const valueLabels = value.labels as Record<string, string | number>;
    if (Object.entries(labels).every(([k, v]) => String(valueLabels[k]) === v)) sum += value.value;
  }
  return sum;
}
