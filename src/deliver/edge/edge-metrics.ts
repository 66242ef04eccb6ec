import { Counter, Gauge, type Registry } from 'prom-client';

/** Origin–edge delivery's metrics, both sides, created once per server on its registry. */
export class EdgeMetrics {
  /** media requests for a stream this instance replicates: served from the replica (hit) or after establishing it (miss) */
  readonly requests: Counter<'result'>;
  /** the hit child bound once: counted on every media request a replica serves */
  readonly requestHits: { inc(value?: number): void };
  /** objects received from an origin, by kind: each is fetched once however many viewers ask */
  readonly upstreamObjects: Counter<'kind'>;
  /** objects received that the replica held already (a resync's snapshot): every other one crossed once */
  readonly upstreamDuplicates: Counter<'kind'>;
  readonly upstreamBytes: Counter;
  /** requests that waited on a replica another request was already establishing */
  readonly coalescedWaiters: Counter;
  readonly originLookups: Counter<'result'>;
  readonly originFailures: Counter<'reason'>;
  readonly replicas: Gauge;
  readonly circuitOpen: Gauge<'origin'>;
  readonly streamMoves: Counter<'kind'>;
  /** origin side: edges following this instance's streams */
  readonly feedSubscribers: Gauge;
  readonly feedBytesSent: Counter;
  readonly feedObjectsSent: Counter<'kind'>;
  readonly feedDrops: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.requests = new Counter({
      name: 'nova_streaming_edge_requests_total',
      help: 'Media requests for streams ingested on another instance: served from the local replica (hit) or after setting it up (miss)',
      labelNames: ['result'],
      registers,
    });
    this.requestHits = this.requests.labels({ result: 'hit' });
    this.upstreamObjects = new Counter({
      name: 'nova_streaming_edge_upstream_objects_total',
      help: 'Inits, parts and segments received from origins (each object once per edge, however many viewers ask)',
      labelNames: ['kind'],
      registers,
    });
    this.upstreamDuplicates = new Counter({
      name: 'nova_streaming_edge_upstream_duplicates_total',
      help: 'Objects received from an origin that the replica already held (resent by a snapshot after a reconnect)',
      labelNames: ['kind'],
      registers,
    });
    this.upstreamBytes = new Counter({ name: 'nova_streaming_edge_upstream_bytes_total', help: 'Feed bytes received from origins', registers });
    this.coalescedWaiters = new Counter({
      name: 'nova_streaming_edge_coalesced_waiters_total',
      help: 'Requests that waited on a replica another request was already setting up (one upstream connection for all)',
      registers,
    });
    this.originLookups = new Counter({
      name: 'nova_streaming_edge_origin_lookups_total',
      help: 'Lookups of the instance ingesting a stream, by result',
      labelNames: ['result'],
      registers,
    });
    this.originFailures = new Counter({
      name: 'nova_streaming_edge_origin_failures_total',
      help: 'Failed or lost feeds from origins, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.replicas = new Gauge({ name: 'nova_streaming_edge_replicas', help: 'Streams this instance replicates from their origin', registers });
    this.circuitOpen = new Gauge({
      name: 'nova_streaming_edge_origin_circuit_open',
      help: '1 while the circuit to an origin is open (requests for its streams fail fast with 503)',
      labelNames: ['origin'],
      registers,
    });
    this.streamMoves = new Counter({
      name: 'nova_streaming_stream_moves_total',
      help: 'Streams whose publisher moved between instances: continued here from another instance (arrived), or a replica that followed its stream to a new origin (followed); departures are nova_streaming_rtmp_publisher_handoffs_total',
      labelNames: ['kind'],
      registers,
    });
    this.feedSubscribers = new Gauge({ name: 'nova_streaming_edge_feed_subscribers', help: 'Edges following streams ingested here', registers });
    this.feedBytesSent = new Counter({ name: 'nova_streaming_edge_feed_bytes_sent_total', help: 'Feed bytes written to edges', registers });
    this.feedObjectsSent = new Counter({
      name: 'nova_streaming_edge_feed_objects_sent_total',
      help: 'Inits, parts and segments written to edges (one per object per following edge)',
      labelNames: ['kind'],
      registers,
    });
    this.feedDrops = new Counter({ name: 'nova_streaming_edge_feed_drops_total', help: 'Edge feeds dropped because the edge fell too far behind', registers });
  }
}
