import { isNovaError } from '../errors.js';
import net from 'node:net';
import { MessageChannel, type MessagePort } from 'node:worker_threads';
import { performance } from 'node:perf_hooks';
import type { Piscina } from 'piscina';
import type { Logger } from '../log.js';
import { ByteRing } from '../stream/byte-ring.js';
import { PartArenaReader } from '../package/media-message.js';
import { PartArena } from '../stream/part-arena.js';
import type { IngestMetrics, StreamBufferStructure } from './ingest-metrics.js';
import type { NativeIngressReader } from './native-ingress-reader.js';
import {
  IngressControl,
  type IngestCloseReason,
  type IngestLimits,
  type IngestTask,
  type MainToWorker,
  type StreamResumeState,
  type WorkerToMain,
} from './ingest-messages.js';
import type { MediaSink } from '../package/media-sink.js';
import { supportsReconnect, type ReconnectRequest } from './rtmp/reconnect-request.js';
import type { AudioTrackConfig, VideoTrackConfig } from '../stream/media-frame.js';
import type { StreamEndReason } from './stream-end-reason.js';
import type { LogRateLimiter } from '../ops/log-rate-limiter.js';

/** What ingest needs from the control plane: key checks and the stream's life (its media goes to the MediaSink). */
export interface IngestLifecycle {
  /**
   * Resolves the stream a key publishes to, or null for an unknown or revoked key. `resume`:
   * where the stream left off on another instance (its publisher moved here).
   */
  authorize(app: string, streamName: string): Promise<{ streamId: string; resume?: StreamResumeState | null } | null>;
  started(streamId: string): Promise<void>;
  tracksChanged(streamId: string, video: VideoTrackConfig | null, audio: AudioTrackConfig | null): void;
  /**
   * The publisher was asked to reconnect elsewhere and will move at its next keyframe, where this
   * instance stops packaging: `openMsn` is the last segment it begins (the stream's continuity, shared
   * with the instance it moves to, must say so before it arrives there).
   */
  handingOff?(streamId: string, openMsn: number): void;
  longGop(streamId: string, observedMs: number): void;
  stats(streamId: string, bytes: number, videoFrames: number): void;
  ended(streamId: string, reason: StreamEndReason): Promise<void>;
}

export interface RtmpIngestOptions {
  /** reads sockets into the rings off the JavaScript threads; null: this thread reads them */
  nativeReader: NativeIngressReader | null;
  host: string;
  port: number;
  limits: IngestLimits;
  ingressRingBytes: number;
  frameQueueBytes: number;
  maxConnections: number;
  onDuplicatePublish: 'takeover' | 'refuse';
  /** whether a consumer (the transcoder) will read a stream's frame queue: only such a stream gets one */
  frameQueueWanted: (streamId: string) => boolean;
  /** mux MPEG-TS only for streams a TS client asked for (requestTs); false: for every stream */
  tsOnDemand: boolean;
}

const RECEIVED_AT_BYTES = 8;
/** how long a returned task's final 'closed' message may lag its result before the connection is finished anyway */
const LAST_MESSAGE_GRACE_MS = 1000;
/**
 * A ring must hold at least two of the largest socket reads (64 KiB in Node) with their
 * headers, or a read that can never fit would throw in the data handler (RTMP_INGRESS_RING_BYTES
 * accepts 64 KiB). Smaller settings are raised to this.
 */
const MIN_INGRESS_RING_BYTES = 2 * ByteRing.recordBytes(64 * 1024 + RECEIVED_AT_BYTES);
/** ingress rings kept for reuse: enough for a burst of connections (their pages are returned while idle) */
const MAX_IDLE_RINGS = 16;
/** what a drain tells publishers: no tcUrl, so they come back through the same address (the balancer) */
const DRAIN_RECONNECT_REQUEST: ReconnectRequest = { description: 'This server is shutting down: reconnect to go on publishing.' };
/** how long a drain waits for the connections it closed at the end of its grace before destroying their sockets */
const DRAIN_CLOSE_WAIT_MS = LAST_MESSAGE_GRACE_MS + 1000;

interface Connection {
  id: number;
  socket: net.Socket;
  log: Logger;
  ring: ByteRing;
  control: Int32Array;
  port: MessagePort;
  /** a socket chunk that did not fit in the ring; the socket is paused while set */
  pending: Buffer | null;
  /** the native reader's handle while it reads this socket, else null */
  nativeHandle: number | null;
  /** the arenas the worker writes this connection's parts into */
  parts: PartArenaReader;
  streamId: string | null;
  /** set when this connection's stream was handed to a newer publisher */
  endReason: StreamEndReason | null;
  /** what the publisher's connect announced of Enhanced RTMP v2 (known from its publish command on) */
  capsEx: number;
  /** when a drain sent this connection a Reconnect Request (performance.now()), else NaN */
  reconnectRequestedAt: number;
  /** a drain closed this connection at the end of its grace */
  closedByDrain: boolean;
  done: Promise<void>;
  resolveDone: () => void;
  /** the pool task returned (its result may arrive before its last port messages) */
  taskDone: boolean;
  /** the task's final 'closed' message was handled */
  closedMessageSeen: boolean;
  finished: boolean;
}

interface LiveStream {
  streamId: string;
  connection: Connection;
  /** only for a stream a consumer reads (the transcoder, or a watchFrameQueue caller), else null */
  frameQueue: ByteRing | null;
}

/**
 * The RTMP listener on the main thread. It only moves bytes: each socket's
 * data is copied into that connection's shared ring and a pool task does the
 * rest. It also owns publish decisions (key check, duplicate publishers)
 * because they need the database and see every connection.
 */
export class RtmpIngestServer {
  private readonly server: net.Server;
  private readonly connections = new Map<number, Connection>();
  private readonly live = new Map<string, LiveStream>();
  /** streams a TS client has asked for: their publishers' connections mux MPEG-TS (kept across republishes) */
  private readonly tsWanted = new Set<string>();
  /** what a republish on a key continues from, by stream id */
  private readonly resumeStates = new Map<string, StreamResumeState>();
  private nextConnectionId = 1;
  /**
   * Ingress rings of finished connections, reused by new ones. A ring per connection
   * allocated and dropped (4 MiB each by default) made glibc's heap grow without bound
   * under connection churn (its mmap threshold adapts upwards, and freed arena chunks
   * stay resident): measured +1.5 MiB RSS per short-lived connection, flat with reuse.
   */
  private readonly idleRings: ByteRing[] = [];
  /** streams whose next publishes get a frame queue whatever frameQueueWanted says (watchFrameQueue) */
  private readonly frameQueueWatched = new Set<string>();
  private readonly receivedAtHeader = new Uint8Array(RECEIVED_AT_BYTES);
  private readonly receivedAtView = new DataView(this.receivedAtHeader.buffer);
  private closing = false;
  /** the drain under way or done (the listener is closed then), else null */
  private drainRun: Promise<void> | null = null;
  private drainRequest: ReconnectRequest = {};
  /** what the drain did, for its closing log line (the metrics count the same) */
  private readonly drainCounts = { asked: 0, handedOff: 0 };
  private listenerClosed: Promise<void> | null = null;

  constructor(
    private readonly options: RtmpIngestOptions,
    private readonly pool: Piscina,
    private readonly lifecycle: IngestLifecycle,
    /** where each stream's packaged media goes (the segment store, or what stands in front of it) */
    private readonly media: Pick<MediaSink, 'add'>,
    private readonly metrics: IngestMetrics,
    private readonly log: Logger,
    /** for what any peer can trigger at will (a refused publish, a protocol error): counted always, logged up to a rate */
    private readonly logLimiter: LogRateLimiter,
  ) {
    if (options.nativeReader !== null) metrics.countNativeReads(() => options.nativeReader!.readCounts());
    metrics.countStreamBuffers(() => this.bufferBytes());
    // With the native reader, Node never reads a publisher's socket: it is accepted paused and handed over.
    this.server = net.createServer({ noDelay: true, pauseOnConnect: options.nativeReader !== null }, (socket) => this.accept(socket));
    this.server.maxConnections = options.maxConnections;
  }

  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        resolve((this.server.address() as net.AddressInfo).port);
      });
    });
  }

  get liveStreamIds(): string[] {
    return [...this.live.keys()];
  }

  /** The shared frame queue of a live stream (for the transcoder and tests), or null: none, or no such stream. */
  frameQueueOf(streamId: string): SharedArrayBuffer | null {
    return this.live.get(streamId)?.frameQueue?.buffer ?? null;
  }

  /**
   * The stream's publishes from now on get a frame queue, fed from their first frame, even with
   * nobody else reading it (a tool, a test recording what ingest parsed). Until the server stops.
   */
  watchFrameQueue(streamId: string): void {
    this.frameQueueWatched.add(streamId);
  }

  /**
   * Resident bytes of the per-connection and per-stream buffers, by structure: what each live
   * stream holds (its connection's part arenas, ingress ring and frame queue), and in total,
   * with what is idle or still draining (arenas of ended connections the store still serves
   * from are counted in the total, on this thread's view of them).
   */
  bufferBytes(): { total: Record<StreamBufferStructure, number>; streams: Map<string, Record<StreamBufferStructure, number>> } {
    const streams = new Map<string, Record<StreamBufferStructure, number>>();
    let ingressRing = 0;
    for (const connection of this.connections.values()) {
      ingressRing += connection.ring.capacity;
      if (connection.streamId === null) continue;
      const stream = this.live.get(connection.streamId);
      if (stream?.connection !== connection) continue;
      streams.set(connection.streamId, {
        part_arena: connection.parts.residentBytes,
        ingress_ring: connection.ring.capacity,
        frame_queue: stream.frameQueue?.capacity ?? 0,
      });
    }
    let frameQueue = 0;
    for (const stream of this.live.values()) frameQueue += stream.frameQueue?.capacity ?? 0;
    return { total: { part_arena: PartArena.residentBytesOnThread(), ingress_ring: ingressRing, frame_queue: frameQueue }, streams };
  }

  /**
   * A TS client asked for this stream: its publisher's connection muxes MPEG-TS from the next
   * segment on, and so does any later publisher on it. Idempotent; unknown streams are remembered
   * for when they publish.
   */
  requestTs(streamId: string): void {
    if (this.tsWanted.has(streamId)) return;
    this.tsWanted.add(streamId);
    const stream = this.live.get(streamId);
    if (stream) this.send(stream.connection, { type: 'ts_wanted' });
  }

  /** Disconnects a stream's publisher (DELETE on the API, shutdown). */
  stopStream(streamId: string, reason: StreamEndReason): Promise<void> {
    const stream = this.live.get(streamId);
    if (!stream) return Promise.resolve();
    stream.connection.endReason = reason;
    this.stopConnection(stream.connection);
    return stream.connection.done;
  }

  /** True once drain() has been called: the listener is closed and publishers are being moved. */
  get draining(): boolean {
    return this.drainRun !== null;
  }

  /**
   * Drains this instance (SIGTERM) so that its publishers continue on another: the listener
   * closes (an L4 balancer then sends new connections elsewhere), every publisher whose connect
   * announced Enhanced RTMP v2 reconnect support gets the Reconnect Request (`request`: no tcUrl
   * means "the same address", which through the balancer is another instance), and after graceMs
   * every connection still open is closed, so the other encoders reconnect on their own. Streams
   * that end so end 'disconnected' (their publisher is expected back), never as a clean unpublish.
   * Resolves once every connection is gone, at once when none is left before the grace ends.
   * Idempotent: a second call returns the first drain.
   */
  drain(graceMs: number, request: ReconnectRequest = DRAIN_RECONNECT_REQUEST): Promise<void> {
    this.drainRun ??= this.runDrain(graceMs, request);
    return this.drainRun;
  }

  private async runDrain(graceMs: number, request: ReconnectRequest): Promise<void> {
    const startedAt = performance.now();
    this.drainRequest = request;
    this.metrics.draining.set(1);
    void this.closeListener();
    const all = [...this.connections.values()];
    for (const connection of all) this.requestReconnect(connection);
    this.log.info({ connections: all.length, reconnectRequests: this.drainCounts.asked, graceMs }, 'draining: RTMP listener closed, publishers asked to reconnect');
    await settledWithin(all.map((connection) => connection.done), graceMs);
    const left = [...this.connections.values()];
    for (const connection of left) {
      connection.closedByDrain = true;
      // dropped, not shut down: the encoder reconnects (through the balancer, to another instance)
      connection.endReason ??= 'disconnected';
      this.stopConnection(connection);
    }
    this.metrics.drainClosedConnections.inc(left.length);
    if (!(await settledWithin(left.map((connection) => connection.done), DRAIN_CLOSE_WAIT_MS))) {
      for (const connection of left) connection.socket.destroy();
    }
    const { asked, handedOff } = this.drainCounts;
    this.log.info({ reconnectRequests: asked, handedOff, closed: left.length, ms: Math.round(performance.now() - startedAt) }, 'drain complete');
  }

  /** Sends a publisher the Reconnect Request if it announced support; once per connection. */
  private requestReconnect(connection: Connection): void {
    if (!Number.isNaN(connection.reconnectRequestedAt) || !supportsReconnect(connection.capsEx)) return;
    connection.reconnectRequestedAt = performance.now();
    this.drainCounts.asked++;
    this.send(connection, { type: 'reconnect_request', request: this.drainRequest });
    this.metrics.reconnectRequests.inc();
    connection.log.info({ stream: connection.streamId }, 'reconnect request sent');
  }

  private closeListener(): Promise<void> {
    // the callback runs once every connection is gone, not when accepting stops (at once)
    this.listenerClosed ??= new Promise<void>((resolve) => this.server.close(() => resolve()));
    return this.listenerClosed;
  }

  /** Stops accepting, ends every stream cleanly (segments flushed, ENDED), waits at most graceMs. */
  async close(graceMs: number): Promise<void> {
    this.closing = true;
    const serverClosed = this.closeListener();
    const all = [...this.connections.values()];
    for (const connection of all) {
      connection.endReason = 'shutdown';
      this.stopConnection(connection);
    }
    const finished = Promise.all(all.map((connection) => connection.done));
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, graceMs).unref());
    await Promise.race([finished, timeout]);
    for (const connection of this.connections.values()) connection.socket.destroy();
    await serverClosed;
  }

  private accept(socket: net.Socket): void {
    if (this.closing || this.drainRun !== null) {
      socket.destroy();
      return;
    }
    const id = this.nextConnectionId++;
    const ring = this.idleRings.pop() ?? ByteRing.create(Math.max(this.options.ingressRingBytes, MIN_INGRESS_RING_BYTES));
    const controlBuffer = new SharedArrayBuffer(IngressControl.length * Int32Array.BYTES_PER_ELEMENT);
    const { port1, port2 } = new MessageChannel();
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => (resolveDone = resolve));
    const log = this.log.child({ connection: id, remote: `${socket.remoteAddress}:${socket.remotePort}` });
    const connection: Connection = {
      id,
      socket,
      log,
      ring,
      control: new Int32Array(controlBuffer),
      port: port1,
      pending: null,
      parts: new PartArenaReader((reason) => this.log.error({ code: 'NOVA_ERR_INTERNAL', connection: id }, reason)),
      nativeHandle: null,
      streamId: null,
      endReason: null,
      capsEx: 0,
      reconnectRequestedAt: Number.NaN,
      closedByDrain: false,
      done,
      resolveDone,
      taskDone: false,
      closedMessageSeen: false,
      finished: false,
    };
    this.connections.set(id, connection);
    this.metrics.connections.inc();
    log.debug('rtmp connection accepted');

    // a look's messages come as one (workers/ingest-connection.worker.ts, WorkerOutbox)
    port1.on('message', (messages: WorkerToMain[]) => {
      for (let i = 0; i < messages.length; i++) this.onWorkerMessage(connection, messages[i]!, log);
    });
    socket.on('error', (err) => log.debug({ err: err.message }, 'rtmp socket error'));
    socket.on('close', () => {
      this.detachNative(connection);
      Atomics.store(connection.control, IngressControl.socketClosed, 1);
      ring.notify();
    });
    if (!this.readNatively(connection, log)) {
      socket.on('data', (chunk: Buffer) => this.onSocketData(connection, chunk));
      socket.resume(); // accepted paused when a native reader exists
    }

    // Finish only once the task has returned AND its last message ('closed': reason, error code) has
    // arrived: the result comes back on Piscina's own channel and can overtake the messages still
    // queued on ours, and closing our port on the result alone dropped them (ENDED with the wrong
    // reason, protocol errors never logged). A task that failed sends no 'closed': it finishes at once.
    const task: IngestTask = {
      connectionId: id,
      ingress: ring.buffer,
      control: controlBuffer,
      port: port2,
      limits: this.options.limits,
      nativeHandle: connection.nativeHandle,
    };
    this.pool
      .run(task, { transferList: [port2] })
      .then(
        () => {
          connection.taskDone = true;
          if (connection.closedMessageSeen) this.finish(connection, log);
          else setTimeout(() => this.finish(connection, log), LAST_MESSAGE_GRACE_MS).unref();
        },
        (err: unknown) => {
          log.error({ err: err instanceof Error ? err.message : String(err) }, 'ingest task failed');
          connection.taskDone = true;
          this.finish(connection, log);
        },
      );
  }

  /** Hands the socket to the native reader; false (this thread reads it) when there is none or it refuses. */
  private readNatively(connection: Connection, log: Logger): boolean {
    const reader = this.options.nativeReader;
    if (reader === null) return false;
    try {
      connection.nativeHandle = reader.attach(connection.socket, connection.ring.buffer, connection.control, IngressControl, (event, errno) => {
        // EOF is errno 0; a failed read (ECONNRESET from an encoder that vanished) is worth a line
        if (event === 'closed' && errno !== 0) log.info({ errno }, 'publisher socket read failed: connection closing');
        connection.ring.notify();
      });
      this.metrics.nativeReaderSockets.inc();
      return true;
    } catch (err) {
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'native reader refused the socket: reading it in JavaScript');
      return false;
    }
  }

  private detachNative(connection: Connection): void {
    if (connection.nativeHandle === null) return;
    this.options.nativeReader?.detach(connection.nativeHandle);
    connection.nativeHandle = null;
    this.metrics.nativeReaderSockets.dec();
  }

  private onSocketData(connection: Connection, chunk: Buffer): void {
    this.receivedAtView.setFloat64(0, performance.timeOrigin + performance.now(), true);
    if (connection.ring.tryWrite(this.receivedAtHeader, chunk)) {
      // A plain atomic add while the stream flows: the worker then looks at its rings on a tick
      // it shares across connections (workers/ingest-connection.worker.ts) and does not ask to be
      // woken; a cross-thread wake only for a connection idle for a while (see ByteRing.notify).
      // Batching on this side (a shared 10 ms timer here) was tried and saved nothing: the worker
      // still woke once per connection, and this thread paid for the timer.
      connection.ring.notify();
      return;
    }
    // Ring full: stop reading the socket (TCP pushes back on the encoder) until the worker drains.
    connection.pending = chunk;
    connection.socket.pause();
    Atomics.store(connection.control, IngressControl.producerPaused, 1);
    connection.ring.notify();
  }

  private resumeProducer(connection: Connection): void {
    const pending = connection.pending;
    if (pending === null) return;
    this.receivedAtView.setFloat64(0, performance.timeOrigin + performance.now(), true);
    if (connection.ring.tryWrite(this.receivedAtHeader, pending)) {
      connection.pending = null;
      connection.ring.notify();
      connection.socket.resume();
    } else {
      Atomics.store(connection.control, IngressControl.producerPaused, 1);
      connection.ring.notify();
    }
  }

  private onWorkerMessage(connection: Connection, message: WorkerToMain, log: Logger): void {
    switch (message.type) {
      case 'send':
        if (!connection.socket.destroyed) connection.socket.write(message.bytes);
        break;
      case 'resume_producer':
        if (connection.nativeHandle !== null) this.options.nativeReader?.resume(connection.nativeHandle);
        else this.resumeProducer(connection);
        break;
      case 'publish':
        connection.capsEx = message.capsEx;
        void this.onPublish(connection, message.app, message.streamName, log);
        // a publish on a connection made before the drain began: asked at once, like the others
        if (this.drainRun !== null) this.requestReconnect(connection);
        break;
      case 'unpublish':
        if (connection.streamId) log.info({ stream: connection.streamId }, 'publisher unpublished');
        break;
      case 'handing_off':
        if (connection.streamId) this.lifecycle.handingOff?.(connection.streamId, message.openMsn);
        break;
      case 'tracks':
        if (connection.streamId) this.lifecycle.tracksChanged(connection.streamId, message.video, message.audio);
        break;
      case 'part_arena':
        connection.parts.attach(message.buffer);
        break;
      case 'media': {
        // the store releases what it drops, and what it never took; the reader what no stream takes
        const streamId = connection.streamId;
        const media = connection.parts.received(message, streamId !== null);
        if (media !== null && streamId !== null) this.media.add(streamId, media);
        break;
      }
      case 'long_gop':
        this.metrics.longGops.inc();
        if (connection.streamId) this.lifecycle.longGop(connection.streamId, message.observedMs);
        break;
      case 'stats':
        this.metrics.bytes.inc(message.bytes);
        this.metrics.frames.inc({ track: 'video' }, message.videoFrames);
        this.metrics.frames.inc({ track: 'audio' }, message.audioFrames);
        for (let i = 0; i < message.latencies.length; i++) this.metrics.latency.observe(message.latencies[i]! / 1000);
        if (message.timestampRepairs > 0) this.metrics.timestampRepairs.inc(message.timestampRepairs);
        if (message.droppedFrames > 0) this.metrics.droppedFrames.inc(message.droppedFrames);
        if (message.partArenaFallbacks > 0) this.metrics.partArenaFallbacks.inc(message.partArenaFallbacks);
        if (connection.streamId) this.lifecycle.stats(connection.streamId, message.bytes, message.videoFrames);
        break;
      case 'resume_state':
        if (connection.streamId) this.resumeStates.set(connection.streamId, message.state);
        break;
      case 'closed':
        if (message.code) {
          this.metrics.connectionErrors.inc({ code: message.code });
          if (this.logLimiter.allow(`rtmp connection closed on error: ${message.code}`)) log.warn({ code: message.code, reason: message.message, closeReason: message.reason }, 'rtmp connection closed on error');
        } else {
          log.debug({ reason: message.reason }, 'rtmp connection ended');
        }
        if (connection.endReason === null) {
          const reason = endReasonOf(message.reason);
          // asked to reconnect, a publisher that unpublishes before leaving still comes back
          connection.endReason = reason === 'unpublished' && !Number.isNaN(connection.reconnectRequestedAt) ? 'disconnected' : reason;
        }
        connection.socket.end();
        setTimeout(() => connection.socket.destroy(), 1000).unref();
        connection.closedMessageSeen = true;
        if (connection.taskDone) this.finish(connection, log);
        break;
    }
  }

  /** Whether a stream's last session here left where to continue from (a republish continues its numbering). */
  hasResumeState(streamId: string): boolean {
    return this.resumeStates.has(streamId);
  }

  private async onPublish(connection: Connection, app: string, streamName: string, log: Logger): Promise<void> {
    // The moment the publish command arrived: the lifecycle's "ACTIVE within 1 s" runs from here.
    log.debug({ app }, 'publish requested');
    const reject = (code: 'NetStream.Publish.BadName' | 'NetStream.Publish.Denied', description: string, reason: string) => {
      this.metrics.publishRejected.inc({ reason });
      // The key is never logged: only that it was refused and why.
      if (this.logLimiter.allow(`publish refused: ${reason}`)) log.warn({ reason, app }, 'publish refused');
      this.send(connection, { type: 'publish_rejected', code, description });
      setTimeout(() => this.stopConnection(connection), 200).unref();
    };
    let target: { streamId: string; resume?: StreamResumeState | null } | null;
    try {
      target = await this.lifecycle.authorize(app, streamName);
    } catch (err) {
      if (isNovaError(err) && err.code === 'NOVA_ERR_DATABASE_UNAVAILABLE') {
        // the encoder is told why, and that it is worth trying again: OBS and FFmpeg retry on their own
        reject('NetStream.Publish.Denied', `${err.code}: ${err.message}`, 'database_unavailable');
        return;
      }
      log.error({ err: err instanceof Error ? err.message : String(err) }, 'key check failed');
      reject('NetStream.Publish.Denied', 'server error', 'error');
      return;
    }
    if (target === null) {
      reject('NetStream.Publish.BadName', 'unknown or revoked stream key', 'bad_key');
      return;
    }
    if (connection.socket.destroyed || this.closing) return;
    const { streamId } = target;
    const current = this.live.get(streamId);
    if (current && current.connection !== connection) {
      if (this.options.onDuplicatePublish === 'refuse') {
        reject('NetStream.Publish.BadName', 'stream is already being published', 'duplicate');
        return;
      }
      // Newest publisher wins (OBS reconnecting after a network blip while the old socket lingers).
      log.info({ stream: streamId, replaced: current.connection.id }, 'publisher takeover');
      this.metrics.takeovers.inc();
      current.connection.endReason = 'taken_over';
      this.stopConnection(current.connection);
      await current.connection.done;
      if (connection.socket.destroyed) return;
    }
    // A frame queue only for a stream someone reads frame by frame: 16 MiB written through is 16 MiB resident.
    const frameQueue = this.frameQueueWatched.has(streamId) || this.options.frameQueueWanted(streamId) ? ByteRing.create(this.options.frameQueueBytes) : null;
    connection.streamId = streamId;
    this.live.set(streamId, { streamId, connection, frameQueue });
    // numbering continues from whichever session went furthest: this instance's last, or another's since
    const local = this.resumeStates.get(streamId) ?? null;
    const shared = target.resume ?? null;
    const resume = shared !== null && (local === null || shared.nextMsn > local.nextMsn) ? shared : local;
    this.send(connection, { type: 'publish_accepted', streamId, frameQueue: frameQueue?.buffer ?? null, resume, tsWanted: !this.options.tsOnDemand || this.tsWanted.has(streamId) });
    this.metrics.activeStreams.set(this.live.size);
    log.info({ stream: streamId, app, resumed: resume !== null }, 'stream publishing');
    try {
      await this.lifecycle.started(streamId);
    } catch (err) {
      log.error({ err: err instanceof Error ? err.message : String(err), stream: streamId }, 'marking stream active failed');
    }
  }

  private send(connection: Connection, message: MainToWorker): void {
    try {
      connection.port.postMessage(message);
    } catch {
      // port already closed: the connection is gone
    }
  }

  private stopConnection(connection: Connection): void {
    Atomics.store(connection.control, IngressControl.stopRequested, 1);
    connection.ring.notify();
  }

  private finish(connection: Connection, log: Logger): void {
    if (connection.finished) return;
    connection.finished = true;
    this.connections.delete(connection.id);
    this.metrics.connections.dec();
    connection.port.close();
    this.detachNative(connection);
    if (!connection.socket.destroyed) connection.socket.destroy();
    // The task has returned, so the worker no longer reads the ring; the socket is gone, so nothing writes it.
    if (connection.taskDone && this.idleRings.length < MAX_IDLE_RINGS) {
      connection.ring.reset();
      connection.ring.discardData(); // resident again only when the next connection writes it
      this.idleRings.push(connection.ring);
    }
    connection.parts.close(); // the arenas' memory goes back as the store lets go of their parts
    const streamId = connection.streamId;
    const stream = streamId !== null ? this.live.get(streamId) : undefined;
    if (streamId !== null && stream?.connection === connection) {
      this.live.delete(streamId);
      this.metrics.activeStreams.set(this.live.size);
      const reason = connection.endReason ?? 'disconnected';
      if (!Number.isNaN(connection.reconnectRequestedAt) && !connection.closedByDrain && reason === 'disconnected') {
        this.metrics.publisherHandOffs.inc();
        this.drainCounts.handedOff++;
        log.info({ stream: streamId, ms: Math.round(performance.now() - connection.reconnectRequestedAt) }, 'publisher left after the reconnect request');
      }
      // A dropped publisher may come back (reconnect grace): its TS clients are still there.
      if (reason !== 'taken_over' && reason !== 'disconnected') this.tsWanted.delete(streamId);
      // A taken-over stream stays live under its new publisher: no ENDED in between.
      if (reason !== 'taken_over') {
        this.lifecycle.ended(streamId, reason).catch((err: unknown) => {
          log.error({ err: err instanceof Error ? err.message : String(err), stream: streamId }, 'marking stream ended failed');
        });
      }
    }
    connection.resolveDone();
  }
}

/** Resolves true when every promise has resolved, false after ms if they have not by then. */
function settledWithin(promises: Promise<void>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  return Promise.race([Promise.all(promises).then(() => true), timeout]).finally(() => clearTimeout(timer));
}

function endReasonOf(reason: IngestCloseReason): StreamEndReason {
  switch (reason) {
    case 'unpublished':
      return 'unpublished';
    case 'idle_timeout':
      return 'idle_timeout';
    case 'protocol_error':
      return 'error';
    case 'stopped':
      return 'shutdown';
    default:
      return 'disconnected';
  }
}
