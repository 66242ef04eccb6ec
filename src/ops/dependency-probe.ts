/**
 * An outside dependency's health (the database) as last probed, for the probes
 * Kubernetes sends. Liveness (/health) reads it without waiting: a database that
 * hangs must not fail every pod's liveness and have the kubelet restart them all,
 * ending every stream. Readiness (/ready) awaits a probe, bounded by a timeout, so a
 * hung database takes the pod out of the Services instead.
 *
 * Probes are started by those requests (and one at start), never by a timer. One runs
 * at a time until it outlives the timeout; then a new one may start (the hung one may
 * be stuck on a single dead connection that the next probe avoids), up to MAX_PENDING
 * unsettled at once, since each may hold a pool connection until it settles.
 */

export interface ProbeState {
  ok: boolean;
  detail: string;
}

/** unsettled probes at most: a dependency this stuck is down, and each holds a connection */
const MAX_PENDING = 3;

interface Unsettled {
  readonly startedAt: number;
  readonly settled: Promise<boolean>;
}

export class DependencyProbe {
  /** probes not yet settled, by start order (at most MAX_PENDING) */
  private readonly unsettled = new Map<number, Unsettled>();
  private started = 0;
  /** the outcome of the latest-started probe that has settled */
  private last: (ProbeState & { seq: number }) | null = null;

  /**
   * @param probe resolves when the dependency answers
   * @param detail shown beside a healthy state (e.g. "postgres")
   */
  constructor(
    readonly name: string,
    private readonly probe: () => Promise<void>,
    private readonly detail: string,
    readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** The state as known now, without waiting; starts a probe when none is running. */
  current(): ProbeState {
    this.start();
    return this.state();
  }

  /** The state as known now, starting nothing (for metrics collection). */
  state(): ProbeState {
    // Unanswered for longer than the timeout: the oldest probe started since the last answer.
    const lastSeq = this.last?.seq ?? 0;
    let oldest = Infinity;
    for (const [seq, probe] of this.unsettled) if (seq > lastSeq && probe.startedAt < oldest) oldest = probe.startedAt;
    const waitedMs = this.now() - oldest;
    if (waitedMs >= this.timeoutMs) return { ok: false, detail: `no answer for ${waitedMs} ms` };
    if (this.last !== null) return { ok: this.last.ok, detail: this.last.detail };
    return { ok: false, detail: 'first probe running' };
  }

  /** Awaits a probe (the running one or a new one): false when it fails or takes longer than the timeout. */
  async check(): Promise<boolean> {
    const settled = this.start();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), this.timeoutMs);
    });
    try {
      return await Promise.race([settled, timedOut]);
    } finally {
      clearTimeout(timer);
    }
  }

  private start(): Promise<boolean> {
    const newest = this.unsettled.get(this.started);
    if (newest !== undefined && (this.now() - newest.startedAt < this.timeoutMs || this.unsettled.size >= MAX_PENDING)) return newest.settled;
    const seq = ++this.started;
    let attempt: Promise<void>;
    try {
      attempt = this.probe();
    } catch (err) {
      attempt = Promise.reject(err);
    }
    const settled = attempt.then(
      () => this.settle(seq, { ok: true, detail: this.detail }),
      (err: unknown) => this.settle(seq, { ok: false, detail: err instanceof Error ? err.message : String(err) }),
    );
    this.unsettled.set(seq, { startedAt: this.now(), settled });
    return settled;
  }

  private settle(seq: number, outcome: ProbeState): boolean {
    this.unsettled.delete(seq);
    // An abandoned probe that settles after a newer one says nothing new.
    if (this.last === null || seq > this.last.seq) this.last = { ...outcome, seq };
    return outcome.ok;
  }
}
