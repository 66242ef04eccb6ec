import type { StreamEvent } from '../../control/events/stream-events.js';
import type { CmcdData } from '../http/cmcd.js';
import type { MediaRoutesConfig } from '../http/media-routes.js';
import type { ServedKind } from '../http/media-metrics.js';
import type { PlaybackCheck } from '../playback-gate.js';
import type { StreamInfo, WebSocketHubConfig } from '../ws/ws-hub.js';
import type { StoreChangeEntry } from './store-changes.js';

/** What a delivery thread is started with (its workerData). */
export interface DeliveryThreadSetup {
  index: number;
  host: string;
  /** the public port, shared with the other delivery threads (SO_REUSEPORT) */
  port: number;
  /** the main thread's loopback listener, where every request that is not media goes */
  forward: { port: number; secret: string };
  store: { windowSegments: number; keepAfterWindow: number; maxBytes: number };
  media: MediaRoutesConfig;
  ws: WebSocketHubConfig;
  /** media requests are told to the main thread's viewer-session tracker */
  sessions: boolean;
  /** a TS playlist request asks for MPEG-TS (TS_ON_DEMAND) */
  tsOnDemand: boolean;
  instanceId: string;
  logLevel: string;
}

/** A request's CMCD as posted: the fields of CmcdData (the class's methods do not cross threads). */
export type CmcdValues = { [K in keyof CmcdData as CmcdData[K] extends (...args: never[]) => unknown ? never : K]: CmcdData[K] };

/** What a stream lookup found: the stream is in this thread's store now, not live, or a problem to answer (an edge's origin lost). */
export type LookupOutcome = { kind: 'found' } | { kind: 'not_live' } | { kind: 'problem'; status: number; code: string; message: string };

/**
 * One viewer-session observation of a thread, applied in order by the main
 * thread's tracker: a media request (its key and CMCD, read on the thread), a
 * response served, a WebSocket viewer joining or leaving.
 */
export type SessionOp =
  /** served: the response went out in the same event-loop turn (most do): one op for both */
  | { op: 'request'; handle: number; streamId: string; family: 'hls' | 'dash'; key: string; cmcd: CmcdValues | null; served: ServedOp | null }
  /** a response served in a later turn (an LL-HLS blocking reload); the thread forgets the handle after it */
  | ({ op: 'served'; handle: number } & ServedOp)
  | { op: 'ws-open'; handle: number; streamId: string; address: string }
  | { op: 'ws-close'; handle: number };

/** A response of a session: its body bytes and, for whole media, its rendition. */
export interface ServedOp {
  kind: ServedKind;
  bytes: number;
  rendition: string | null;
}

export type MainToThread =
  | { t: 'changes'; seq: number; entries: StoreChangeEntry[] }
  | { t: 'lookup'; id: number; outcome: LookupOutcome }
  | { t: 'authorized'; id: number; check: PlaybackCheck }
  | { t: 'stream-info'; id: number; info: StreamInfo | null }
  | { t: 'event'; event: StreamEvent }
  | { t: 'interrupted'; streamId: string; interrupted: boolean }
  /** viewer counts of the streams this thread's hub asked about, as the main thread's counter has them */
  | { t: 'viewers'; counts: Array<[streamId: string, count: number, peak: number]>; joinsSeen: number }
  | { t: 'metrics'; id: number }
  /** fault injection: the thread throws, as a bug would (DeliveryThreads.injectFault) */
  | { t: 'fail' }
  | { t: 'close' };

export type ThreadToMain =
  | { t: 'listening' }
  | { t: 'listen-failed'; message: string }
  | { t: 'applied'; seq: number }
  | { t: 'lookup'; id: number; streamId: string }
  | { t: 'authorize'; id: number; streamId: string; token: string | null }
  | { t: 'stream-info'; id: number; streamId: string }
  | { t: 'ts'; streamId: string }
  /**
   * streams this thread served in the last second, with how many requests (the main thread keeps an edge's replicas of them in use),
   * with the public playlists asked for (rendered by the main thread from then on, see shared-playlists.ts)
   */
  | { t: 'touch'; streams: Array<[streamId: string, requests: number, playlists: string[]]> }
  /** playlists and MPDs requested since the last turn, once per stream and client */
  | { t: 'playback'; requests: Array<[streamId: string, clientKey: string]> }
  | { t: 'sessions'; ops: SessionOp[] }
  /** WebSocket joins (+1) and leaves (−1), numbered: the main thread says how many it has counted */
  | { t: 'ws-viewers'; changes: Array<[streamId: string, delta: 1 | -1]>; upTo: number }
  | { t: 'metrics'; id: number; metrics: unknown[] }
  | { t: 'closed' };
