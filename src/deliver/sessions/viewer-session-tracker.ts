import { createHash, randomUUID } from 'node:crypto';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import { every, type PeriodicTask } from '../../ops/periodic.js';
import type { RequestContext } from '../../http/uws-helpers.js';
import { CmcdData, readCmcd } from '../http/cmcd.js';
import { clientKey } from '../http/client-key.js';
import type { ServedKind } from '../http/media-metrics.js';

export type ViewerProtocol = 'hls' | 'llhls' | 'dash' | 'ws';

/** One session as written to viewer_sessions (a snapshot taken at flush time, off the request path). */
export interface ViewerSessionRecord {
  id: string;
  streamId: string;
  protocol: ViewerProtocol;
  /** CMCD sid, the player's own session id, or a fingerprint of address and user agent */
  clientKey: string;
  instanceId: string;
  startedAt: Date;
  lastSeenAt: Date;
  endedAt: Date | null;
  renditions: string[];
  renditionSwitches: number;
  requests: number;
  bytesServed: number;
  startupMs: number | null;
  watchMs: number;
  cmcd: boolean;
  cmcdSid: string | null;
  contentId: string | null;
  streamFormat: string | null;
  rebufferCount: number;
  rebufferMs: number;
  rebufferRatio: number | null;
  avgBitrateKbps: number | null;
  avgThroughputKbps: number | null;
  bufferLengthMs: number | null;
  /**
   * The row was written before and only what changes with every request moved since (the
   * counters, watch time and the CMCD means): an UPDATE of those suffices (see rowRefreshMs).
   */
  countersOnly?: boolean;
}

/** Where sessions go: the control plane (the database, the QoE counters), injected by the composition root. */
export interface ViewerSessionSink {
  /** Writes one batch of sessions; resolves to the statements it ran; may reject, the batch is then retried. */
  write(records: readonly ViewerSessionRecord[]): Promise<number>;
  /** Seconds watched and seconds rebuffering by CMCD-reporting viewers since the previous call. */
  qoe(watchSeconds: number, rebufferSeconds: number): void;
}

export interface ViewerSessionTrackerOptions {
  instanceId: string;
  sink: ViewerSessionSink;
  registry: Registry;
  log: Logger;
  /** sessions tracked at once; a new one beyond is served but not tracked (100 000) */
  maxSessions?: number;
  /** an HLS/DASH session without a request for this long has ended (30 s) */
  idleMs?: number;
  /** how often dirty sessions are written (2 s) */
  flushIntervalMs?: number;
  /** a session whose only changes are its counters is written at most this often (10 s) */
  rowRefreshMs?: number;
  now?: () => number;
  /** start the flush timer (true); tests call flush() themselves */
  autoStart?: boolean;
}

/** The media context as the routes see it once the session is known (set after the stream is found). */
/** What delivery holds of a viewer session: its key (also the viewer counter's). */
export interface SessionHandle {
  readonly clientKey: string;
}

/**
 * The sessions as delivery feeds them: the tracker itself on the thread that
 * owns it, or a delivery thread's messenger to it (deliver/threads/).
 */
export interface ViewerSessions {
  request(streamId: string, family: 'hls' | 'dash', ctx: RequestContext, params: URLSearchParams): SessionHandle | null;
  served(session: SessionHandle, kind: ServedKind, bodyBytes: number, rendition: string | null): void;
  openWs(streamId: string, address: string): SessionHandle | null;
  closeWs(session: SessionHandle): void;
}

export interface ViewerContext extends RequestContext {
  viewer?: SessionHandle | null;
}

/** a bs with no earlier media request of the session to measure from counts this much at most */
const MAX_STALL_MS = 30_000;
/** a bs this close after the last credited stall continues it (another track's request reporting the same stall) */
const SAME_STALL_MS = 500;
/** records kept for retry while the database is away; ~300 bytes each */
const MAX_PENDING_RECORDS = 50_000;
/** rows per statement: 24 parameters each, far below PostgreSQL's 65 535 */
const WRITE_BATCH = 1000;

/**
 * Bytes served to one stream's sessions since they were last taken (takeBytesServed): every
 * session of the stream adds to the same object, so a response costs one more field update,
 * not a map lookup.
 */
export interface StreamBytesServed {
  bytes: number;
}

/**
 * One viewer: mutable fields updated in place by each of its requests (no
 * object per request). Times are epoch ms.
 */
export class ViewerSession {
  lastSeenAt: number;
  endedAt = 0;
  requests = 0;
  bytesServed = 0;
  /** first main-track segment or part served, 0 before */
  firstMediaAt = 0;
  rendition: string | null = null;
  readonly renditions: string[] = [];
  renditionSwitches = 0;
  cmcd = false;
  cmcdSid: string | null = null;
  contentId: string | null = null;
  streamFormat: string | null = null;
  rebufferCount = 0;
  rebufferMs = 0;
  /** the end of the last stall credited (a later bs counts from there) */
  rebufferedUntil = 0;
  /** the previous video (0) and audio (1) request carrying CMCD: when, and the buffer it reported */
  readonly prevMediaAt = [0, 0];
  readonly prevBufferMs = [NaN, NaN];
  bitrateWeighted = 0;
  bitrateWeight = 0;
  throughputSum = 0;
  throughputCount = 0;
  bufferLengthMs = NaN;
  /** changed since the last write */
  dirty = true;
  /**
   * changed in a way a reader of the row would notice at once (new, a stall, a rendition or
   * protocol change, the end); counters alone (requests, bytes, watch time) wait for rowRefreshMs
   */
  notable = true;
  /** when the row was last written (0: never) */
  writtenAt = 0;
  reportedWatchMs = 0;
  reportedRebufferMs = 0;

  constructor(
    readonly id: string,
    readonly streamId: string,
    readonly clientKey: string,
    public protocol: ViewerProtocol,
    readonly startedAt: number,
    /** its stream's egress, shared by the stream's sessions */
    readonly streamServed: StreamBytesServed,
  ) {
    this.lastSeenAt = startedAt;
  }

  /** First media served to the last request: the time the viewer was watching (or stalled). */
  watchMs(): number {
    return this.firstMediaAt === 0 ? 0 : Math.max(0, this.lastSeenAt - this.firstMediaAt);
  }

  /** What the player said on this request (CMCD). */
  applyCmcd(cmcd: CmcdData, now: number): void {
    // what a player says once (or seldom) is notable, so that a counters-only write can leave it out
    if (!this.cmcd) {
      this.cmcd = true;
      this.notable = true;
    }
    if (cmcd.sid !== null && this.cmcdSid === null) {
      this.cmcdSid = cmcd.sid;
      this.notable = true;
    }
    if (cmcd.cid !== null && cmcd.cid !== this.contentId) {
      this.contentId = cmcd.cid;
      this.notable = true;
    }
    if (cmcd.sf !== null && cmcd.sf !== this.streamFormat) {
      this.streamFormat = cmcd.sf;
      this.notable = true;
    }
    const slot = cmcd.ot === 'a' ? 1 : 0;
    if (cmcd.bs) {
      // The buffer ran dry between the previous request and this one: from when the buffer the
      // previous request reported ran out (it drains at 1x) until now, at most MAX_STALL_MS back.
      const prevAt = this.prevMediaAt[slot]!;
      const prevBuffer = this.prevBufferMs[slot]!;
      let start = prevAt === 0 ? now : prevAt + (prevBuffer === prevBuffer ? prevBuffer : 0);
      if (start < this.rebufferedUntil) start = this.rebufferedUntil;
      if (start < now - MAX_STALL_MS) start = now - MAX_STALL_MS;
      if (now - this.rebufferedUntil > SAME_STALL_MS) this.rebufferCount++;
      this.notable = true;
      if (start < now) this.rebufferMs += now - start;
      this.rebufferedUntil = now;
    }
    const br = cmcd.br;
    if (br === br) {
      const weight = cmcd.d > 0 ? cmcd.d : 1000;
      this.bitrateWeighted += br * weight;
      this.bitrateWeight += weight;
    }
    if (cmcd.mtp === cmcd.mtp) {
      this.throughputSum += cmcd.mtp;
      this.throughputCount++;
    }
    // Media object requests are what the next bs is measured from. Not manifests: hls.js repeats
    // the last buffer length on its playlist reloads, which would hide the stall behind them.
    const ot = cmcd.ot;
    if (ot === 'v' || ot === 'av' || ot === 'a' || (ot === null && cmcd.d === cmcd.d)) {
      this.prevMediaAt[slot] = now;
      this.prevBufferMs[slot] = cmcd.bl;
      if (cmcd.bl === cmcd.bl) this.bufferLengthMs = cmcd.bl;
    }
  }

  record(instanceId: string, countersOnly = false): ViewerSessionRecord {
    const watchMs = this.watchMs();
    return {
      countersOnly,
      id: this.id,
      streamId: this.streamId,
      protocol: this.protocol,
      clientKey: this.clientKey,
      instanceId,
      startedAt: new Date(this.startedAt),
      lastSeenAt: new Date(this.lastSeenAt),
      endedAt: this.endedAt === 0 ? null : new Date(this.endedAt),
      renditions: this.renditions.slice(),
      renditionSwitches: this.renditionSwitches,
      requests: this.requests,
      bytesServed: this.bytesServed,
      startupMs: this.firstMediaAt === 0 ? null : this.firstMediaAt - this.startedAt,
      watchMs,
      cmcd: this.cmcd,
      cmcdSid: this.cmcdSid,
      contentId: this.contentId,
      streamFormat: this.streamFormat,
      rebufferCount: this.rebufferCount,
      rebufferMs: Math.round(this.rebufferMs),
      rebufferRatio: this.cmcd && watchMs > 0 ? Math.min(1, this.rebufferMs / watchMs) : null,
      avgBitrateKbps: this.bitrateWeight > 0 ? this.bitrateWeighted / this.bitrateWeight : null,
      avgThroughputKbps: this.throughputCount > 0 ? this.throughputSum / this.throughputCount : null,
      bufferLengthMs: this.bufferLengthMs === this.bufferLengthMs ? this.bufferLengthMs : null,
    };
  }
}

/** A stream's sessions by client key, HLS and DASH apart (one browser may play both without CMCD). */
interface StreamSessions {
  readonly hls: Map<string, ViewerSession>;
  readonly dash: Map<string, ViewerSession>;
  /** WebSocket viewers by session id: each socket is one viewer */
  readonly ws: Map<string, ViewerSession>;
  readonly served: StreamBytesServed;
}

/**
 * Viewer sessions of the media routes and the WebSocket hub, tracked on the
 * main thread where they are served: per request one CMCD parse into a reused
 * object, one map lookup and field updates. Every flush interval the sessions
 * that changed are snapshotted and written in one upsert through the sink,
 * never on the request path; a session idle for `idleMs` ends and is written
 * one last time. The QoE counters are fed from the same pass. Per stream it
 * also keeps what the per-second stream metrics read: the bytes served (one
 * field update a response) and, counted when asked, the sessions by rendition.
 */
export class ViewerSessionTracker implements ViewerSessions {
  private readonly streams = new Map<string, StreamSessions>();
  private readonly cmcd = new CmcdData();
  private readonly instanceId: string;
  private readonly sink: ViewerSessionSink;
  private readonly log: Logger;
  private readonly now: () => number;
  private readonly maxSessions: number;
  private readonly idleMs: number;
  private readonly rowRefreshMs: number;
  private size = 0;
  /** sessions ended since the last flush (their last write) */
  private ended: ViewerSession[] = [];
  /** records a failed write left, retried first */
  private pending: ViewerSessionRecord[] = [];
  private flushing: Promise<void> | null = null;
  /** rebuffering not yet reported to the sink (see collectAndWrite) */
  private rebufferOwedMs = 0;
  private readonly timer: PeriodicTask | null;
  private readonly rejected: Counter;
  private readonly written: Counter;
  private readonly statements: Counter;
  private readonly dropped: Counter;

  constructor(options: ViewerSessionTrackerOptions) {
    this.instanceId = options.instanceId;
    this.sink = options.sink;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.maxSessions = options.maxSessions ?? 100_000;
    this.idleMs = options.idleMs ?? 30_000;
    this.rowRefreshMs = options.rowRefreshMs ?? 10_000;
    const registry = options.registry;
    const tracker = this;
    new Gauge({
      name: 'nova_streaming_viewer_sessions',
      help: 'Viewer sessions tracked on this instance (HLS, LL-HLS, DASH and WebSocket)',
      registers: [registry],
      collect() {
        this.set(tracker.size);
      },
    });
    this.rejected = new Counter({
      name: 'nova_streaming_viewer_sessions_untracked_total',
      help: 'Viewer sessions not tracked because the tracker was full (they are still served)',
      registers: [registry],
    });
    this.written = new Counter({
      name: 'nova_streaming_viewer_session_rows_written_total',
      help: 'viewer_sessions rows upserted',
      registers: [registry],
    });
    this.statements = new Counter({
      name: 'nova_streaming_viewer_session_write_statements_total',
      help: 'viewer_sessions write statements that succeeded (per batch of up to 1000 rows: an upsert of new and changed rows, an update of counters-only rows)',
      registers: [registry],
    });
    this.dropped = new Counter({
      name: 'nova_streaming_viewer_session_rows_dropped_total',
      help: 'viewer_sessions row updates dropped unwritten (database unreachable for long)',
      registers: [registry],
    });
    this.timer = options.autoStart === false ? null : every(options.flushIntervalMs ?? 2000, () => void this.flush());
  }

  /** Sessions tracked now. */
  get sessionCount(): number {
    return this.size;
  }

  /**
   * A media request of `streamId` (its token already checked): the session it
   * belongs to, created on its first request, with this request's CMCD applied.
   * Null when the tracker is full.
   */
  request(streamId: string, family: 'hls' | 'dash', ctx: RequestContext, params: URLSearchParams): ViewerSession | null {
    const cmcd = this.cmcd;
    const hasCmcd = readCmcd(ctx, params, cmcd);
    return this.requestKeyed(streamId, family, cmcd.sid ?? clientKey(ctx, params), hasCmcd ? cmcd : null);
  }

  /**
   * request() once the request is read: its session key (CMCD sid, or the
   * client's fingerprint) and its CMCD, if any. A delivery thread reads its
   * requests itself and hands the main thread's tracker only this.
   */
  requestKeyed(streamId: string, family: 'hls' | 'dash', key: string, cmcd: CmcdData | null): ViewerSession | null {
    const now = this.now();
    const sessions = this.sessionsOf(streamId);
    const map = family === 'dash' ? sessions.dash : sessions.hls;
    let session = map.get(key);
    if (session === undefined) {
      if (this.size >= this.maxSessions) {
        this.rejected.inc();
        return null;
      }
      session = new ViewerSession(randomUUID(), streamId, key, family, now, sessions.served);
      map.set(key, session);
      this.size++;
    }
    session.lastSeenAt = now;
    session.requests++;
    session.dirty = true;
    if (cmcd !== null) session.applyCmcd(cmcd, now);
    return session;
  }

  /**
   * A response of the session went out: its body bytes, and for a whole
   * main-track segment or part the rendition it belongs to (startup, renditions).
   */
  served(session: ViewerSession, kind: ServedKind, bodyBytes: number, rendition: string | null): void {
    session.bytesServed += bodyBytes;
    session.streamServed.bytes += bodyBytes;
    if (kind === 'part' && session.protocol === 'hls') {
      session.protocol = 'llhls';
      session.notable = true;
    }
    if (rendition === null) return;
    if (session.firstMediaAt === 0) {
      session.firstMediaAt = this.now();
      session.notable = true;
    }
    if (rendition !== session.rendition) {
      session.notable = true;
      if (session.rendition !== null) session.renditionSwitches++;
      session.rendition = rendition;
      if (!session.renditions.includes(rendition)) session.renditions.push(rendition);
    }
  }

  /** A WebSocket viewer joined `streamId`; `address` is fingerprinted, not stored. */
  openWs(streamId: string, address: string): ViewerSession | null {
    if (this.size >= this.maxSessions) {
      this.rejected.inc();
      return null;
    }
    const now = this.now();
    const key = createHash('sha1').update(address).digest('base64url').slice(0, 16);
    const sessions = this.sessionsOf(streamId);
    const session = new ViewerSession(randomUUID(), streamId, key, 'ws', now, sessions.served);
    // a socket's media is its messages: counted as watched from the join
    session.firstMediaAt = now;
    sessions.ws.set(session.id, session);
    this.size++;
    return session;
  }

  /** The WebSocket closed: the session ends now. */
  closeWs(session: ViewerSession): void {
    const sessions = this.streams.get(session.streamId);
    if (sessions === undefined || !sessions.ws.delete(session.id)) return;
    session.lastSeenAt = this.now();
    this.end(session, session.lastSeenAt);
    this.dropIfEmpty(session.streamId, sessions);
  }

  /** The rebuffering ratio of the stream's CMCD viewers now (their stalled time over their watch time); null when none report. */
  rebufferRatio(streamId: string): number | null {
    const sessions = this.streams.get(streamId);
    if (sessions === undefined) return null;
    let watch = 0;
    let rebuffer = 0;
    for (const map of [sessions.hls, sessions.dash]) {
      for (const session of map.values()) {
        if (!session.cmcd) continue;
        watch += session.watchMs();
        rebuffer += session.rebufferMs;
      }
    }
    return watch > 0 ? Math.min(1, rebuffer / watch) : null;
  }

  /**
   * Bytes served to the stream's sessions (response bodies of every HLS, LL-HLS and DASH
   * request, playlists included) since the previous call for it, or since its first session
   * here; the count starts again from 0. 0 without sessions. One reader: the per-second
   * recorder. A response counts once it has gone out, whole.
   */
  takeBytesServed(streamId: string): number {
    const served = this.streams.get(streamId)?.served;
    if (served === undefined) return 0;
    const bytes = served.bytes;
    served.bytes = 0;
    return bytes;
  }

  /**
   * The stream's live HLS, LL-HLS and DASH sessions by the rendition of the last whole segment
   * or part they fetched (the quality distribution), e.g. {"720p": 12, "source": 3}. Sessions
   * that fetched none yet, and WebSocket viewers (their socket carries no media), are not in it.
   */
  viewersByRendition(streamId: string): Record<string, number> {
    // a Map, then fromEntries: any rendition name becomes an own property (no prototype keys)
    const counts = new Map<string, number>();
    const sessions = this.streams.get(streamId);
    if (sessions !== undefined) {
      for (const map of [sessions.hls, sessions.dash]) {
        for (const session of map.values()) {
          const rendition = session.rendition;
          if (rendition !== null) counts.set(rendition, (counts.get(rendition) ?? 0) + 1);
        }
      }
    }
    return Object.fromEntries(counts);
  }

  /** Ends idle sessions, feeds the QoE counters, writes what changed (one statement per 1000 rows); never rejects. */
  flush(): Promise<void> {
    this.flushing ??= this.collectAndWrite().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  /** Ends every session and writes them (before the database closes). */
  async close(): Promise<void> {
    this.timer?.cancel();
    await this.flushing;
    const now = this.now();
    for (const [streamId, sessions] of this.streams) {
      for (const map of [sessions.hls, sessions.dash]) for (const session of map.values()) this.end(session, session.lastSeenAt);
      for (const session of sessions.ws.values()) {
        session.lastSeenAt = now;
        this.end(session, now);
      }
      this.streams.delete(streamId);
    }
    await this.flush();
  }

  private sessionsOf(streamId: string): StreamSessions {
    let sessions = this.streams.get(streamId);
    if (sessions === undefined) {
      sessions = { hls: new Map(), dash: new Map(), ws: new Map(), served: { bytes: 0 } };
      this.streams.set(streamId, sessions);
    }
    return sessions;
  }

  private end(session: ViewerSession, at: number): void {
    session.endedAt = at;
    session.dirty = true;
    this.size--;
    this.ended.push(session);
  }

  private dropIfEmpty(streamId: string, sessions: StreamSessions): void {
    if (sessions.hls.size === 0 && sessions.dash.size === 0 && sessions.ws.size === 0) this.streams.delete(streamId);
  }

  private async collectAndWrite(): Promise<void> {
    const now = this.now();
    const records: ViewerSessionRecord[] = [];
    let watchMs = 0;
    let rebufferMs = 0;
    for (const [streamId, sessions] of this.streams) {
      for (const map of [sessions.hls, sessions.dash]) {
        for (const [key, session] of map) {
          if (now - session.lastSeenAt > this.idleMs) {
            map.delete(key);
            this.end(session, session.lastSeenAt);
          }
        }
      }
      // a socket is alive until it closes; written when it opens and when it closes, not every flush
      for (const session of sessions.ws.values()) session.lastSeenAt = now;
      this.dropIfEmpty(streamId, sessions);
      for (const map of [sessions.hls, sessions.dash, sessions.ws]) {
        for (const session of map.values()) {
          if (session.cmcd) {
            const watch = session.watchMs();
            watchMs += watch - session.reportedWatchMs;
            rebufferMs += session.rebufferMs - session.reportedRebufferMs;
            session.reportedWatchMs = watch;
            session.reportedRebufferMs = session.rebufferMs;
          }
          // a thousand viewers' counters rewritten every flush was most of the tracker's cost
          if (session.dirty && (session.notable || now - session.writtenAt >= this.rowRefreshMs)) {
            // written before and nothing notable since: an update of the counters (half the database's work of an upsert)
            const countersOnly = !session.notable && session.writtenAt !== 0;
            session.dirty = false;
            session.notable = false;
            session.writtenAt = now;
            records.push(session.record(this.instanceId, countersOnly));
          }
        }
      }
    }
    const ended = this.ended;
    this.ended = [];
    for (const session of ended) {
      if (session.cmcd) {
        const watch = session.watchMs();
        watchMs += watch - session.reportedWatchMs;
        rebufferMs += session.rebufferMs - session.reportedRebufferMs;
      }
      records.push(session.record(this.instanceId));
    }
    // A stall is credited when the request after it arrives, in one piece, while its time was
    // watched (and reported) before: the counters get no more rebuffering than watch time per
    // report, and the rest follows with the next reports instead of being cut off.
    const owed = this.rebufferOwedMs + rebufferMs;
    const reported = Math.min(owed, watchMs);
    this.rebufferOwedMs = owed - reported;
    if (watchMs > 0 || reported > 0) this.sink.qoe(watchMs / 1000, reported / 1000);

    let batch = this.pending.length === 0 ? records : this.pending.concat(records);
    this.pending = [];
    if (batch.length > MAX_PENDING_RECORDS) {
      this.dropped.inc(batch.length - MAX_PENDING_RECORDS);
      batch = batch.slice(batch.length - MAX_PENDING_RECORDS);
    }
    for (let i = 0; i < batch.length; i += WRITE_BATCH) {
      const rows = batch.slice(i, i + WRITE_BATCH);
      try {
        const statements = await this.sink.write(rows);
        this.written.inc(rows.length);
        this.statements.inc(statements);
      } catch (err) {
        // the rest waits for the next flush, behind newer snapshots of the same sessions (the last wins)
        this.pending = batch.slice(i);
        this.log.error({ err: err instanceof Error ? err.message : String(err), rows: this.pending.length }, 'writing viewer sessions failed; retrying with the next flush');
        return;
      }
    }
  }
}
