import { Counter, Histogram, type Registry } from 'prom-client';
import type { Logger } from '../../log.js';
import { BREAKER_OPEN, type Breakers } from '../../ops/breakers.js';
import type { DurableEvent } from '../events/durable-event.js';
import type { ClaimedDelivery, WebhookRepository } from './webhook-repository.js';
import { sendWebhook, type WebhookAttemptResult } from './webhook-sender.js';

export interface WebhookDispatcherOptions {
  repo: WebhookRepository;
  breakers: Breakers;
  registry: Registry;
  logger: Logger;
  /** WEBHOOK_ALLOW_PRIVATE: targets on private and loopback addresses */
  allowInternal: boolean;
  /** WEBHOOK_TIMEOUT_MS: one attempt, connection to answer (5000) */
  timeoutMs: number;
  /** WEBHOOK_RETRY_WINDOW_MINUTES: a delivery is retried this long, then failed and its webhook disabled */
  retryWindowMs: number;
  /** first retry's delay, doubling per attempt with ±25 % jitter (WEBHOOK_RETRY_BASE_MS, 1000) */
  retryBaseMs: number;
  /** attempts in flight on this instance (WEBHOOK_CONCURRENCY, 16) */
  concurrency: number;
  /** …of which one webhook may hold at most this many: a receiver that never answers blocks only its own (2) */
  perWebhook?: number;
  /** how long a webhook's breaker stays open (WEBHOOK_BREAKER_RESET_MS, 30 s) */
  breakerResetMs: number;
  /** how long to wait before looking again while due deliveries wait for a free slot or a breaker (500 ms) */
  pollMs?: number;
  /**
   * The longest sleep until the next due delivery (60 s). Deliveries another
   * instance enqueues wake only that instance, so with several instances on
   * one PostgreSQL this is pollMs: each looks that often (webhooks.ts).
   */
  maxSleepMs?: number;
  now?: () => number;
}

const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * Webhook deliveries. handle() is the "webhooks" consumer group's handler
 * (one instance per event): it turns an event into one delivery per
 * subscribed webhook, idempotently. The dispatcher on every instance then
 * takes due deliveries (SKIP LOCKED), sends each signed, and records the
 * attempt: delivered on 2xx; otherwise retried with exponential backoff and
 * jitter until the retry window ends, when the delivery fails and its webhook
 * is disabled with a webhook_disabled notice. Each webhook has a breaker: an
 * open one leaves its deliveries waiting instead of spending attempts and
 * slots on a dead receiver.
 */
export class WebhookDispatcher {
  readonly #o: Required<WebhookDispatcherOptions>;
  readonly #busy = new Map<string, number>();
  readonly #inFlight = new Set<Promise<void>>();
  #wakeup: (() => void) | null = null;
  #woken = false;
  #closed = false;
  #running: Promise<void> | null = null;
  readonly #attempts: Counter<'result'>;
  readonly #disabled: Counter;
  readonly #latency: Histogram;

  constructor(options: WebhookDispatcherOptions) {
    this.#o = { perWebhook: 2, pollMs: 500, maxSleepMs: 60_000, now: Date.now, ...options };
    const registers = [options.registry];
    this.#attempts = new Counter({ name: 'nova_streaming_webhook_attempts_total', help: 'Webhook delivery attempts by result', labelNames: ['result'], registers });
    this.#disabled = new Counter({ name: 'nova_streaming_webhooks_disabled_total', help: 'Webhooks disabled after failing for their whole retry window', registers });
    this.#latency = new Histogram({
      name: 'nova_streaming_webhook_attempt_seconds',
      help: 'Duration of one webhook attempt, connection to answer',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
  }

  /** The consumer's handler: a delivery per subscribed webhook (none twice, however often the event comes). */
  async handle(event: DurableEvent): Promise<void> {
    const body = JSON.stringify({ type: event.type, timestamp: new Date(event.createdAt).toISOString(), data: snakeCase(event.event) });
    const added = await this.#o.repo.enqueue({ id: event.id, type: event.type, streamId: event.streamId, createdAt: new Date(event.createdAt) }, body, new Date(this.#o.now()));
    if (added > 0) this.wake();
  }

  start(): void {
    this.#running ??= this.#run();
  }

  wake(): void {
    this.#woken = true;
    this.#wakeup?.();
  }

  /** Stops taking deliveries and waits for the attempts in flight (each bounded by the timeout). */
  async close(): Promise<void> {
    this.#closed = true;
    this.wake();
    await this.#running;
    await Promise.all(this.#inFlight);
  }

  /**
   * Takes what is due, then sleeps until the next delivery is due, or until
   * woken: a delivery enqueued here, an attempt finished (a slot free), a
   * webhook enabled again.
   */
  async #run(): Promise<void> {
    while (!this.#closed) {
      let sleepMs = this.#o.pollMs;
      try {
        if (await this.#claim()) sleepMs = await this.#untilNextDue();
      } catch (err) {
        this.#o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'taking webhook deliveries failed');
      }
      if (this.#closed) break;
      if (this.#woken) {
        this.#woken = false;
        continue;
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, sleepMs);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#wakeup = done;
      });
      this.#wakeup = null;
      this.#woken = false;
    }
  }

  /** ms until the earliest pending delivery is due; pollMs when one is due already (it waits for a slot or a breaker) */
  async #untilNextDue(): Promise<number> {
    const due = await this.#o.breakers.run('postgres', () => this.#o.repo.nextDueAt());
    if (due === null) return this.#o.maxSleepMs;
    const ms = due.getTime() - this.#o.now();
    return ms <= 0 ? this.#o.pollMs : Math.min(ms, this.#o.maxSleepMs);
  }

  /** Takes due deliveries into free slots; true when it took all that were due (then nothing due is left waiting). */
  async #claim(): Promise<boolean> {
    const free = this.#o.concurrency - this.#inFlight.size;
    if (free <= 0) return false;
    const exclude = [...this.#busy].filter(([, n]) => n >= this.#o.perWebhook).map(([id]) => id);
    const now = this.#o.now();
    const claimed = await this.#o.breakers.run('postgres', () => this.#o.repo.claimDue(free, exclude, new Date(now), new Date(now + this.#o.timeoutMs + 5000)));
    const giveBack: string[] = [];
    for (const delivery of claimed) {
      const busy = this.#busy.get(delivery.webhookId) ?? 0;
      if (busy >= this.#o.perWebhook || this.#o.breakers.state(breakerName(delivery.webhookId)) === BREAKER_OPEN) {
        giveBack.push(delivery.id);
        continue;
      }
      this.#busy.set(delivery.webhookId, busy + 1);
      const attempt = this.#attempt(delivery).finally(() => {
        this.#inFlight.delete(attempt);
        const left = (this.#busy.get(delivery.webhookId) ?? 1) - 1;
        if (left > 0) this.#busy.set(delivery.webhookId, left);
        else this.#busy.delete(delivery.webhookId);
        this.wake();
      });
      this.#inFlight.add(attempt);
    }
    // an open breaker's deliveries wait for it to half-open; the others are due again at once
    await this.#o.repo.release(giveBack, new Date(now));
    return claimed.length < free && giveBack.length === 0 && exclude.length === 0;
  }

  async #attempt(delivery: ClaimedDelivery): Promise<void> {
    const breaker = this.#o.breakers.get(
      breakerName(delivery.webhookId),
      async (d: ClaimedDelivery): Promise<WebhookAttemptResult> => {
        const result = await sendWebhook({ url: d.url, secret: d.secret, id: d.eventId, body: d.body }, { timeoutMs: this.#o.timeoutMs, allowInternal: this.#o.allowInternal, now: this.#o.now });
        if (!result.ok) throw Object.assign(new Error(result.error ?? 'failed'), { result });
        return result;
      },
      { volumeThreshold: 3, errorThresholdPercentage: 50, resetTimeoutMs: this.#o.breakerResetMs },
    );
    let result: WebhookAttemptResult;
    try {
      result = await breaker.fire(delivery);
    } catch (err) {
      const failed = (err as { result?: WebhookAttemptResult }).result;
      if (!failed) {
        // the breaker refused it (opened meanwhile): not an attempt; it waits for the breaker
        await this.#o.repo.release([delivery.id], new Date(this.#o.now() + this.#o.breakerResetMs)).catch(() => {});
        return;
      }
      result = failed;
    }
    this.#attempts.inc({ result: result.ok ? 'delivered' : 'failed' });
    this.#latency.observe(result.durationMs / 1000);
    const at = new Date(this.#o.now());
    const attempt = { at, statusCode: result.statusCode, error: result.error, durationMs: result.durationMs };
    try {
      if (result.ok) {
        await this.#o.repo.recordAttempt(delivery, attempt, { status: 'delivered', nextAttemptAt: at });
        return;
      }
      const windowEnd = delivery.createdAt.getTime() + this.#o.retryWindowMs;
      if (at.getTime() >= windowEnd) {
        await this.#o.repo.recordAttempt(delivery, attempt, { status: 'failed', nextAttemptAt: at });
        const reason = `every attempt for ${Math.round(this.#o.retryWindowMs / 1000)} s failed; the last: ${result.error ?? 'failed'}`;
        if (await this.#o.repo.disable(delivery.webhookId, reason, at)) {
          this.#disabled.inc();
          this.#o.logger.warn({ webhook: delivery.webhookId, url: delivery.url, reason }, 'webhook disabled');
        }
        return;
      }
      const delay = Math.min(this.#o.retryBaseMs * 2 ** delivery.attempts, MAX_RETRY_DELAY_MS) * (0.75 + Math.random() * 0.5);
      // the last attempt lands at the end of the window, not past it
      const nextAttemptAt = new Date(Math.min(at.getTime() + delay, windowEnd));
      await this.#o.repo.recordAttempt(delivery, attempt, { status: 'pending', nextAttemptAt });
    } catch (err) {
      // unrecorded: the lease runs out and the delivery is taken again (the receiver may get it twice; same webhook-id)
      this.#o.logger.error({ err: err instanceof Error ? err.message : String(err), delivery: delivery.id }, 'recording a webhook attempt failed');
    }
  }
}

export function breakerName(webhookId: string): string {
  return `webhook:${webhookId}`;
}

/** The event as a webhook body's data: snake_case keys, as the REST API and WebSocket messages write them. */
function snakeCase(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCase);
  if (typeof value !== 'object' || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value)) out[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = snakeCase(inner);
  return out;
}
