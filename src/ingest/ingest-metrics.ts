import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The per-stream buffers in shared memory (docs/operations.md, "Memory"). */
export type StreamBufferStructure = 'part_arena' | 'ingress_ring' | 'frame_queue';
const STRUCTURES: readonly StreamBufferStructure[] = ['part_arena', 'ingress_ring', 'frame_queue'];

/** What the stream buffer gauges read at each scrape (RtmpIngestServer.bufferBytes). */
export type StreamBufferReading = () => {
  total: Record<StreamBufferStructure, number>;
  streams: Map<string, Record<StreamBufferStructure, number>>;
};

/** Ingest's metrics, created once per server on its registry. */
export class IngestMetrics {
  readonly activeStreams: Gauge;
  readonly connections: Gauge;
  readonly nativeReaderSockets: Gauge;
  readonly socketReads: Counter<'by'>;
  readonly latency: Histogram;
  readonly bytes: Counter;
  readonly frames: Counter<'track'>;
  readonly connectionErrors: Counter<'code'>;
  readonly timestampRepairs: Counter;
  readonly droppedFrames: Counter;
  readonly partArenaFallbacks: Counter;
  readonly publishRejected: Counter<'reason'>;
  readonly takeovers: Counter;
  readonly longGops: Counter;
  readonly draining: Gauge;
  readonly reconnectRequests: Counter;
  readonly publisherHandOffs: Counter;
  readonly drainClosedConnections: Counter;
  readonly streamBuffers: Gauge<'structure'>;
  readonly streamBuffersPerStream: Gauge<'stream' | 'structure'>;
  private nativeReadCounts: (() => { reader: number; worker: number }) | null = null;
  private streamBufferReading: StreamBufferReading | null = null;

  constructor(registry: Registry) {
    const registers = [registry];
    this.activeStreams = new Gauge({ name: 'nova_streaming_active_streams', help: 'Streams being published to this instance', registers });
    this.connections = new Gauge({ name: 'nova_streaming_rtmp_connections', help: 'Open RTMP connections', registers });
    this.nativeReaderSockets = new Gauge({
      name: 'nova_streaming_rtmp_native_reader_sockets',
      help: 'Open RTMP connections whose socket the native reader thread reads (the others are read on the main thread)',
      registers,
    });
    const counts = (): { reader: number; worker: number } | undefined => this.nativeReadCounts?.();
    this.socketReads = new Counter({
      name: 'nova_streaming_rtmp_socket_reads_total',
      help:
        'Reads of publisher sockets by the native reader: by the reader thread (handshake, commands, a worker behind, EOF) or by a worker on a socket it claimed while media flows (this process)',
      labelNames: ['by'],
      registers,
      collect() {
        const now = counts();
        if (now === undefined) return;
        this.reset();
        this.inc({ by: 'reader_thread' }, now.reader);
        this.inc({ by: 'worker' }, now.worker);
      },
    });
    this.latency = new Histogram({
      name: 'nova_streaming_rtmp_ingestion_latency_seconds',
      help: 'Arrival at the socket (estimated from the kernel\'s receive times with the native reader; the read in JavaScript) to frame packaged, per frame; a stream nobody transcodes batches its frames until a part is due (up to a part target)',
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers,
    });
    this.bytes = new Counter({ name: 'nova_streaming_rtmp_ingested_bytes_total', help: 'RTMP bytes received', registers });
    this.frames = new Counter({
      name: 'nova_streaming_rtmp_ingested_frames_total',
      help: 'Access units parsed from RTMP',
      labelNames: ['track'],
      registers,
    });
    this.connectionErrors = new Counter({
      name: 'nova_streaming_rtmp_connection_errors_total',
      help: 'RTMP connections closed for a protocol error, by error code',
      labelNames: ['code'],
      registers,
    });
    this.timestampRepairs = new Counter({
      name: 'nova_streaming_timestamp_repairs_total',
      help: 'Timestamps that jumped, repeated or wrapped and were repaired',
      registers,
    });
    this.droppedFrames = new Counter({
      name: 'nova_streaming_frame_queue_dropped_total',
      help: 'Frames not written to a full per-stream frame queue',
      registers,
    });
    this.partArenaFallbacks = new Counter({
      name: 'nova_streaming_part_arena_fallbacks_total',
      help: 'CMAF parts written to a buffer of their own because their connection\'s part arena was full at its largest',
      registers,
    });
    this.publishRejected = new Counter({
      name: 'nova_streaming_rtmp_publish_rejected_total',
      help: 'Publish attempts refused',
      labelNames: ['reason'],
      registers,
    });
    this.takeovers = new Counter({
      name: 'nova_streaming_rtmp_takeovers_total',
      help: 'Publishers replaced by a newer one on the same key',
      registers,
    });
    this.longGops = new Counter({
      name: 'nova_streaming_long_gop_total',
      help: 'Segments longer than the target because the keyframe interval exceeds it',
      registers,
    });
    this.draining = new Gauge({
      name: 'nova_streaming_rtmp_draining',
      help: '1 while this instance drains its publishers (SIGTERM): the RTMP listener is closed and they are asked to move',
      registers,
    });
    this.reconnectRequests = new Counter({
      name: 'nova_streaming_rtmp_reconnect_requests_total',
      help: 'Enhanced RTMP v2 Reconnect Requests sent to publishers that announced support (drain)',
      registers,
    });
    this.publisherHandOffs = new Counter({
      name: 'nova_streaming_rtmp_publisher_handoffs_total',
      help: 'Publishers that left after a Reconnect Request, before the drain grace ended (to publish again through the load balancer)',
      registers,
    });
    this.drainClosedConnections = new Counter({
      name: 'nova_streaming_rtmp_drain_closed_connections_total',
      help: 'RTMP connections still open when a drain grace ended, closed so their encoders reconnect elsewhere',
      registers,
    });
    const buffers = (): ReturnType<StreamBufferReading> | undefined => this.streamBufferReading?.();
    this.streamBuffers = new Gauge({
      name: 'nova_streaming_stream_buffer_bytes',
      help: 'Resident bytes of the per-stream shared buffers, all streams together: part arenas (live, and retired ones until the store lets go of their parts; ladder ones included), ingress rings of open connections, frame queues',
      labelNames: ['structure'],
      registers,
      collect() {
        const reading = buffers();
        if (reading === undefined) return;
        for (const structure of STRUCTURES) this.set({ structure }, reading.total[structure]);
      },
    });
    this.streamBuffersPerStream = new Gauge({
      name: 'nova_streaming_stream_buffer_bytes_per_stream',
      help: 'Resident bytes of each live stream\'s shared buffers as ingest holds them (its connection\'s part arenas, ingress ring, frame queue); a stream leaves the series when it ends',
      labelNames: ['stream', 'structure'],
      registers,
      collect() {
        const reading = buffers();
        if (reading === undefined) return;
        this.reset();
        for (const [stream, bytes] of reading.streams) for (const structure of STRUCTURES) this.set({ stream, structure }, bytes[structure]);
      },
    });
  }

  /** Exports the per-stream buffer sizes (streamBuffers, streamBuffersPerStream) from now on. */
  countStreamBuffers(reading: StreamBufferReading): void {
    this.streamBufferReading = reading;
  }

  /** Exports the native reader's socket read counts (socketReads) from now on. */
  countNativeReads(readCounts: () => { reader: number; worker: number }): void {
    this.nativeReadCounts = readCounts;
  }
}
