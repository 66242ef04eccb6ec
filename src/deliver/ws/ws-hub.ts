import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from 'uWebSockets.js';
import type { EventBus, StreamEvent } from '../../control/events/stream-events.js';
import type { RenditionInfo } from '../../package/rendition-info.js';
import type { Logger } from '../../log.js';
import type { Registry } from '../../ops/metrics.js';
import { every } from '../../ops/periodic.js';
import { statusLine } from '../../http/uws-helpers.js';
import { CLOSE_FORBIDDEN, CLOSE_NOT_FOUND, CLOSE_TRY_AGAIN_LATER, CLOSE_UNAUTHORIZED, chooseProtocol, extractToken } from './ws-auth.js';
import { REFUSE_PRIVATE, isForbidden, refusalMessage, type PlaybackGate } from '../playback-gate.js';
import {
  STREAM_ID_PATTERN,
  pongMessage,
  qualityChangedMessage,
  snapshotMessage,
  streamEndedMessage,
  streamInterruptedMessage,
  streamResumedMessage,
  streamMetricsMessage,
  streamStartedMessage,
  viewerCountMessage,
} from './ws-messages.js';
import type { SessionHandle, ViewerSessions } from '../sessions/viewer-session-tracker.js';
import { createWsMetrics, type WsMetrics, type WsRejectReason } from './ws-metrics.js';

/**
 * GET /api/v1/streams/:id/ws — live status of one stream.
 *
 * Refused before the upgrade (HTTP status, nothing allocated):
 *   400 bad stream id · 429 per-IP connection cap · 503 server shutting down.
 * Closed after the upgrade, once the stream is looked up (so browsers, which never see an
 * upgrade's HTTP status, learn why):
 *   4404 unknown stream · 1013 stream lookup failed (try again later) ·
 *   4401 private stream without a good viewer token (missing, invalid, expired, revoked) ·
 *   4403 a viewer token for another stream ·
 *   1003 binary frame · 1007 text that is not JSON · 1008 unsupported message type or more than
 *   maxMessagesPerSecond · 1009 inbound message over maxPayloadBytes · 1006 (abrupt, by uWS)
 *   inbound frame over the hard ceiling (OVERSIZE_HARD_LIMIT × maxPayloadBytes, never buffered),
 *   or send backlog over maxBackpressureBytes (slow consumer) · 1001 server shutting down.
 * Each is counted in nova_streaming_ws_rejected_total{reason} or
 * nova_streaming_ws_slow_consumer_drops_total.
 */

export interface WebSocketHubConfig {
  /** Seconds without traffic before uWS closes the socket; pings are sent automatically before that (60). */
  idleTimeoutSec: number;
  /** Per-socket send backlog above which the socket is closed as a slow consumer (64 KiB). */
  maxBackpressureBytes: number;
  /** Largest inbound frame (4 KiB); clients only ever send tiny pings. */
  maxPayloadBytes: number;
  /** Concurrent sockets (including upgrades in progress) per remote IP (100). */
  maxConnectionsPerIp: number;
  /** Inbound messages per second per socket before closing with 1008 (20). */
  maxMessagesPerSecond?: number;
  /** Period of viewer metrics (1000 ms). */
  metricsIntervalMs?: number;
  /** How many streams get a nova_streaming_peak_viewers label (100). */
  peakGaugeTopStreams?: number;
  /**
   * Observe every live stream's viewers once a period (the viewers histogram, the peak gauges): true.
   * A delivery thread's hub does not: the main thread's hub sees every stream and observes each once.
   */
  observeViewers?: boolean;
}

export interface StreamInfo {
  exists: boolean;
  private: boolean;
  /** Current state snapshot (as the REST API describes the stream); sent to each joining socket. */
  state: object;
}

/**
 * The viewer counts the hub reads and feeds: the control plane's counter on
 * the main thread, a delivery thread's messenger to it elsewhere.
 */
export interface HubViewers {
  readonly instanceId: string;
  wsJoined(streamId: string): void;
  wsLeft(streamId: string): void;
  /** viewers of the stream across instances (WebSocket and HLS/DASH sessions) */
  count(streamId: string): number;
  peak(streamId: string): number;
}

export interface WebSocketHubDeps {
  /** the hub only listens */
  bus: Pick<EventBus, 'subscribe'>;
  viewers: HubViewers;
  /** a joined socket is a viewer session (protocol ws) from join to close */
  sessions?: ViewerSessions;
  metrics: Registry;
  log: Logger;
  config: WebSocketHubConfig;
  streamInfo(streamId: string): Promise<StreamInfo>;
  /** checks a private stream's viewer token; absent: private streams refuse everyone. Public streams never ask it. */
  playback?: PlaybackGate;
}

export interface WebSocketHub {
  readonly path: string;
  /** Open sockets on this hub. */
  connectionCount(): number;
  /** The last seq broadcast for a stream on this hub (0 = none yet). */
  lastSeq(streamId: string): number;
  metrics: WsMetrics;
  /**
   * This server lost the origin of a stream it serves as an edge (interrupted) or has it
   * back: its sockets here are told (stream_interrupted / stream_resumed). Local, not on the bus.
   */
  streamInterrupted(streamId: string, interrupted: boolean): void;
  /** The streams this hub knows live, with their renditions (a delivery thread started late learns them from these). */
  liveStreams(): Array<{ streamId: string; renditions: RenditionInfo[] }>;
  /** Stops listening to the bus and closes every socket with 1001. */
  close(): void;
}

interface SocketData {
  streamId: string;
  ip: string;
  /** a private stream's viewer token, from the query or Sec-WebSocket-Protocol */
  token: string | null;
  /** subscribed and counted: the stream was found and the viewer admitted */
  joined: boolean;
  /** closed (set in close(), so an admission still under way stops there) */
  gone: boolean;
  session: SessionHandle | null;
  serverClosing: boolean;
  windowStartMs: number;
  messagesInWindow: number;
}

/** Per stream on this hub: its topic, last broadcast seq and what a joining socket is told. */
interface StreamChannel {
  topic: string;
  seq: number;
  live: boolean;
  renditions: RenditionInfo[];
  renditionsKey: string;
}

const UWS_OVERSIZE_MESSAGE = 'Received too big message';
/**
 * uWS drops a frame over its maxPayloadLength without a close frame (the client
 * sees 1006 and no reason). Letting uWS accept up to this many times our limit
 * lets the hub answer the usual oversize message with a proper 1009; only
 * frames beyond that are cut off by uWS unread.
 */
const OVERSIZE_HARD_LIMIT = 16;

export function registerWebSocketHub(app: TemplatedApp, deps: WebSocketHubDeps): WebSocketHub {
  const { bus, viewers, log, config } = deps;
  const metrics = createWsMetrics(deps.metrics);
  const maxMessagesPerSecond = config.maxMessagesPerSecond ?? 20;
  const metricsIntervalMs = config.metricsIntervalMs ?? 1000;
  const peakGaugeTopStreams = config.peakGaugeTopStreams ?? 100;
  const gate = deps.playback ?? REFUSE_PRIVATE;
  const channels = new Map<string, StreamChannel>();
  const connectionsPerIp = new Map<string, number>();
  const sockets = new Set<WebSocket<SocketData>>();
  const peakLabelled = new Set<string>();
  const path = '/api/v1/streams/:id/ws';
  /**
   * uWS sends published messages when its loop drains its topics (at the end
   * of a uWS callback, or in the loop's next turn for a publish from a timer,
   * a bus socket or a thread's port) and closes, right then, sockets whose
   * backlog passed the limit, with 1006. A 1006 within two turns of a
   * broadcast is counted as a slow-consumer drop (a client vanishing in that
   * window is miscounted; rare, and bounded by one per broadcast).
   */
  let broadcastPending = false;
  const clearBroadcastPending = (): void => {
    broadcastPending = false;
  };
  const clearBroadcastPendingLater = (): void => void setImmediate(clearBroadcastPending);
  let closed = false;
  /** streams whose origin this server lost (an edge), until it has them back */
  const interruptedStreams = new Set<string>();

  function channelOf(streamId: string): StreamChannel {
    let channel = channels.get(streamId);
    if (!channel) {
      channel = { topic: `stream/${streamId}`, seq: 0, live: false, renditions: [], renditionsKey: '[]' };
      channels.set(streamId, channel);
    }
    return channel;
  }

  function reject(why: WsRejectReason): void {
    metrics.rejected.inc({ reason: why });
  }

  function releaseIp(ip: string): void {
    const count = (connectionsPerIp.get(ip) ?? 1) - 1;
    if (count > 0) connectionsPerIp.set(ip, count);
    else connectionsPerIp.delete(ip);
  }

  function refuse(res: HttpResponse, status: number, why: WsRejectReason, message: string): void {
    reject(why);
    metrics.connectionFailures.inc({ reason: why });
    res.cork(() => {
      res.writeStatus(statusLine(status));
      res.writeHeader('content-type', 'application/json; charset=utf-8');
      res.writeHeader('cache-control', 'no-store');
      res.end(JSON.stringify({ error: { code: why, message } }));
    });
  }

  /** Serialises nothing when nobody listens; otherwise one string for every subscriber. */
  function broadcast(channel: StreamChannel, build: (seq: number, ts: number) => string): void {
    if (app.numSubscribers(channel.topic) === 0) return;
    channel.seq++;
    // set before the publish: a socket it closes for its backlog closes inside it
    if (!broadcastPending) {
      broadcastPending = true;
      setImmediate(clearBroadcastPendingLater);
    }
    try {
      app.publish(channel.topic, build(channel.seq, Date.now()), false);
    } catch (err) {
      metrics.broadcastErrors.inc();
      log.error({ err, topic: channel.topic }, 'websocket broadcast failed');
    }
  }

  function onEvent(event: StreamEvent): void {
    const streamId = event.streamId;
    if (!STREAM_ID_PATTERN.test(streamId)) {
      metrics.broadcastErrors.inc();
      return;
    }
    switch (event.type) {
      case 'stream_started': {
        const channel = channelOf(streamId);
        const renditionsKey = JSON.stringify(event.renditions);
        // A resync re-announces live streams; a start we already know changes nothing for viewers.
        if (channel.live && channel.renditionsKey === renditionsKey) return;
        channel.live = true;
        channel.renditions = event.renditions;
        channel.renditionsKey = renditionsKey;
        broadcast(channel, (seq, ts) => streamStartedMessage(streamId, seq, ts, event.renditions));
        return;
      }
      case 'stream_ended': {
        const channel = channelOf(streamId);
        channel.live = false;
        channel.renditions = [];
        channel.renditionsKey = '[]';
        interruptedStreams.delete(streamId);
        broadcast(channel, (seq, ts) => streamEndedMessage(streamId, seq, ts, event.reason));
        if (peakLabelled.delete(streamId)) {
          metrics.peakViewers.remove({ stream: streamId });
          metrics.currentViewers.remove({ stream: streamId });
        }
        if (app.numSubscribers(channel.topic) === 0) channels.delete(streamId);
        return;
      }
      case 'quality_changed': {
        const channel = channelOf(streamId);
        channel.renditions = event.renditions;
        channel.renditionsKey = JSON.stringify(event.renditions);
        broadcast(channel, (seq, ts) => qualityChangedMessage(streamId, seq, ts, event.renditions));
        return;
      }
      case 'stream_metrics': {
        const channel = channels.get(streamId);
        if (!channel) return;
        const count = viewers.count(streamId);
        broadcast(channel, (seq, ts) => streamMetricsMessage(streamId, seq, ts, count, event.ingressBitrate, event.fps, event.renditions));
        return;
      }
      case 'viewer_count_changed': {
        // Every instance computes the global count itself; another instance's figure is not ours to repeat.
        if (event.instanceId !== viewers.instanceId) return;
        const channel = channels.get(streamId);
        if (!channel) return;
        broadcast(channel, (seq, ts) => viewerCountMessage(streamId, seq, ts, event.viewers, event.peak));
        return;
      }
    }
  }

  function observeViewers(): void {
    const live: Array<{ streamId: string; peak: number; count: number }> = [];
    for (const [streamId, channel] of channels) {
      if (!channel.live) continue;
      const count = viewers.count(streamId);
      metrics.viewers.observe(count);
      live.push({ streamId, peak: viewers.peak(streamId), count });
    }
    live.sort((a, b) => b.peak - a.peak);
    const keep = new Set<string>();
    for (let i = 0; i < live.length && i < peakGaugeTopStreams; i++) {
      const { streamId, peak, count } = live[i]!;
      keep.add(streamId);
      peakLabelled.add(streamId);
      metrics.peakViewers.set({ stream: streamId }, peak);
      metrics.currentViewers.set({ stream: streamId }, count);
    }
    for (const streamId of peakLabelled) {
      if (keep.has(streamId)) continue;
      peakLabelled.delete(streamId);
      metrics.peakViewers.remove({ stream: streamId });
      metrics.currentViewers.remove({ stream: streamId });
    }
  }

  /**
   * Upgrades at once, in uWS's own callback: the stream is looked up after the
   * socket opens (admit). An upgrade made later, from res.cork() after an
   * await, trips a uWS 20.30 bug: when the socket's memory is resized in place
   * on adoption, cork() reads the freed HTTP state, may find "connection:
   * close" there and shuts the new WebSocket down right after its snapshot
   * (fixed upstream in uWebSockets fe7c01a, 2026, in builds that need a newer glibc).
   */
  function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): void {
    const streamId = req.getParameter(0) ?? '';
    if (closed) return refuse(res, 503, 'lookup_failed', 'server shutting down');
    if (!STREAM_ID_PATTERN.test(streamId)) return refuse(res, 400, 'bad_stream_id', 'invalid stream id');
    const ip = Buffer.from(res.getRemoteAddressAsText()).toString();
    const current = connectionsPerIp.get(ip) ?? 0;
    if (current >= config.maxConnectionsPerIp) return refuse(res, 429, 'ip_limit', 'too many connections from this address');
    // the socket holds this reservation until close()
    connectionsPerIp.set(ip, current + 1);
    const protocolHeader = req.getHeader('sec-websocket-protocol');
    const data: SocketData = {
      streamId,
      ip,
      token: extractToken(req.getQuery() ?? '', protocolHeader),
      joined: false,
      gone: false,
      session: null,
      serverClosing: false,
      windowStartMs: 0,
      messagesInWindow: 0,
    };
    res.upgrade(data, req.getHeader('sec-websocket-key'), chooseProtocol(protocolHeader), req.getHeader('sec-websocket-extensions'), context);
  }

  /** Looks the stream up (and a private stream's token), then joins the socket or closes it with the reason. */
  async function admit(ws: WebSocket<SocketData>, data: SocketData): Promise<void> {
    let info: StreamInfo;
    let refusal: { code: number; reason: string; why: WsRejectReason } | null = null;
    try {
      info = await deps.streamInfo(data.streamId);
      if (!info.exists) refusal = { code: CLOSE_NOT_FOUND, reason: 'no such stream', why: 'not_found' };
      // the same check as the stream's HLS and DASH; a public stream's viewers need no token and any they send is ignored
      else if (info.private) {
        const check = await gate(data.streamId, data.token);
        if (!check.ok) {
          const forbidden = isForbidden(check.reason);
          refusal = { code: forbidden ? CLOSE_FORBIDDEN : CLOSE_UNAUTHORIZED, reason: refusalMessage(check.reason), why: forbidden ? 'forbidden' : 'unauthorized' };
        }
      }
    } catch (err) {
      if (data.gone) return;
      log.error({ err, streamId: data.streamId }, 'stream lookup failed for a websocket');
      return refuseSocket(ws, { code: CLOSE_TRY_AGAIN_LATER, reason: 'stream lookup failed', why: 'lookup_failed' });
    }
    if (data.gone || data.serverClosing) return;
    if (refusal) return refuseSocket(ws, refusal);
    ws.cork(() => join(ws, data, info.state));
  }

  function refuseSocket(ws: WebSocket<SocketData>, refusal: { code: number; reason: string; why: WsRejectReason }): void {
    if (ws.getUserData().serverClosing) return;
    metrics.connectionFailures.inc({ reason: refusal.why });
    endSocket(ws, refusal.code, refusal.reason, refusal.why);
  }

  function join(ws: WebSocket<SocketData>, data: SocketData, state: object): void {
    const channel = channelOf(data.streamId);
    ws.subscribe(channel.topic);
    viewers.wsJoined(data.streamId);
    data.joined = true;
    data.session = deps.sessions?.openWs(data.streamId, data.ip) ?? null;
    const count = viewers.count(data.streamId);
    ws.send(
      snapshotMessage(data.streamId, channel.seq, Date.now(), {
        live: channel.live,
        viewers: count,
        // The counter raises its peak at its next tick; the joiner is already counted now.
        peak: Math.max(viewers.peak(data.streamId), count),
        interrupted: interruptedStreams.has(data.streamId),
        renditions: channel.renditions,
        state,
      }),
      false,
    );
  }

  function endSocket(ws: WebSocket<SocketData>, code: number, reason: string, why: WsRejectReason | null): void {
    const data = ws.getUserData();
    if (data.serverClosing) return;
    data.serverClosing = true;
    if (why) reject(why);
    ws.end(code, reason);
  }

  function onMessage(ws: WebSocket<SocketData>, message: ArrayBuffer, isBinary: boolean): void {
    const data = ws.getUserData();
    if (data.serverClosing) return;
    if (message.byteLength > config.maxPayloadBytes) return endSocket(ws, 1009, 'message too big', 'oversize');
    const now = Date.now();
    if (now - data.windowStartMs >= 1000) {
      data.windowStartMs = now;
      data.messagesInWindow = 0;
    }
    if (++data.messagesInWindow > maxMessagesPerSecond) return endSocket(ws, 1008, 'message rate limit exceeded', 'flood');
    if (isBinary) return endSocket(ws, 1003, 'binary messages are not accepted', 'binary');
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(message).toString('utf8'));
    } catch {
      return endSocket(ws, 1007, 'message is not valid JSON', 'invalid_json');
    }
    if (typeof parsed === 'object' && parsed !== null && (parsed as { type?: unknown }).type === 'ping') {
      ws.send(pongMessage(data.streamId, channels.get(data.streamId)?.seq ?? 0, now), false);
      return;
    }
    endSocket(ws, 1008, 'unsupported message type', 'unsupported_message');
  }

  app.ws<SocketData>(path, {
    idleTimeout: config.idleTimeoutSec,
    sendPingsAutomatically: true,
    maxPayloadLength: config.maxPayloadBytes * OVERSIZE_HARD_LIMIT,
    maxBackpressure: config.maxBackpressureBytes,
    // Typed as a number in this uWS build's .d.ts; the addon reads it as a boolean.
    closeOnBackpressureLimit: 1,
    upgrade,
    open: (ws) => {
      sockets.add(ws);
      metrics.connections.inc();
      const data = ws.getUserData();
      admit(ws, data).catch((err: unknown) => log.error({ err }, 'websocket admission failed'));
    },
    message: onMessage,
    close: (ws, code, message) => {
      sockets.delete(ws);
      metrics.connections.dec();
      const data = ws.getUserData();
      data.gone = true;
      releaseIp(data.ip);
      if (data.joined) {
        viewers.wsLeft(data.streamId);
        if (data.session !== null) deps.sessions!.closeWs(data.session);
        const channel = channels.get(data.streamId);
        if (channel && !channel.live && app.numSubscribers(channel.topic) === 0) channels.delete(data.streamId);
      }
      if (data.serverClosing || code !== 1006) return;
      if (message.byteLength > 0 && Buffer.from(message).toString() === UWS_OVERSIZE_MESSAGE) reject('oversize');
      else if (message.byteLength === 0 && broadcastPending) metrics.slowConsumerDrops.inc();
    },
  });

  const unsubscribe = bus.subscribe(onEvent);
  const metricsTimer = config.observeViewers === false ? null : every(metricsIntervalMs, observeViewers);

  return {
    path,
    metrics,
    connectionCount: () => sockets.size,
    lastSeq: (streamId) => channels.get(streamId)?.seq ?? 0,
    streamInterrupted(streamId, interrupted) {
      // remembered for viewers who join while it lasts: their snapshot says so
      if (interrupted) interruptedStreams.add(streamId);
      else interruptedStreams.delete(streamId);
      const channel = channels.get(streamId);
      if (!channel) return;
      broadcast(channel, (seq, ts) => (interrupted ? streamInterruptedMessage(streamId, seq, ts, 1) : streamResumedMessage(streamId, seq, ts)));
    },
    liveStreams() {
      const live: Array<{ streamId: string; renditions: RenditionInfo[] }> = [];
      for (const [streamId, channel] of channels) if (channel.live) live.push({ streamId, renditions: channel.renditions });
      return live;
    },
    close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      metricsTimer?.cancel();
      for (const ws of [...sockets]) {
        ws.getUserData().serverClosing = true;
        ws.end(1001, 'server shutting down');
      }
    },
  };
}
