/** IPC between the ws-bench orchestrator and its server/client children. */

export type ServerCommand = { cmd: 'stats' } | { cmd: 'broadcast'; intervalMs: number; count: number } | { cmd: 'exit' };
export type ServerReply =
  | { kind: 'listening'; port: number }
  | { kind: 'stats'; rss: number; connections: number }
  /**
   * fanOutMs: per broadcast, from just before the server serialised it to the end of the event-loop
   * iteration that wrote it to every socket: the server's own cost, whatever the clients do.
   */
  | { kind: 'broadcast_done'; broadcasts: number; lateTicks: number; fanOutMs: number[] };

export type ClientCommand =
  /** latencySample: read and time every K-th socket live, the rest at report time (1 = all live). */
  | { cmd: 'connect'; url: string; count: number; localAddresses: string[]; concurrency: number; latencySample: number }
  | { cmd: 'report'; expectedBroadcasts: number }
  | { cmd: 'exit' };
export type ClientReply =
  | { kind: 'progress'; connected: number; failed: number }
  | { kind: 'connected'; connected: number; failed: number; elapsedMs: number }
  | {
      kind: 'report';
      connected: number;
      open: number;
      received: number;
      lost: number;
      unexpectedCloses: number;
      /** Count of deliveries per whole millisecond of latency (index = ms; last bucket = overflow). */
      latencyHistogram: number[];
    };

export const LATENCY_BUCKETS = 60_001;

/** The stream every bench viewer watches. */
export const BENCH_STREAM = 'bench';
