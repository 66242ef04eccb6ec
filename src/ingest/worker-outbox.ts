import type { MessagePort } from 'node:worker_threads';
import type { WorkerToMain } from './ingest-messages.js';

/**
 * The worker's side of a connection's port: what an ingest connection emits while the worker
 * looks at its ring leaves as one message (an array, in emit order) when the look ends; what it
 * emits outside a look (a reply to a main-thread message) leaves at once, so a publisher waiting
 * on a command's answer never waits for the next look.
 *
 * Why: a look at a publishing connection cuts a video part and an audio part (and every
 * target duration two segments, every second the stats), each a message, and each message
 * a dispatch on the main thread (MessagePort event, async-hooks scope, microtask checkpoint)
 * before any of our code runs: ~120 messages per 10 s stream, ~16 ms of the main thread's CPU
 * in perf with their handling. One per look: the main thread woke ~126 instead of ~160 times
 * per stream; its CPU moved by about a millisecond, within the machine's noise. It also lets
 * the main thread see a look's changes together (a publisher's video and audio configs).
 */
export class WorkerOutbox {
  // reused: postMessage() has cloned them by the time it returns
  private readonly messages: WorkerToMain[] = [];
  private readonly transfer: ArrayBuffer[] = [];
  private looking = false;

  constructor(private readonly port: MessagePort) {}

  /** What the connection emits until end() leaves in one message then. */
  begin(): void {
    this.looking = true;
  }

  send(message: WorkerToMain, transfer?: ArrayBuffer[]): void {
    if (!this.looking) {
      this.port.postMessage([message], transfer);
      return;
    }
    this.messages.push(message);
    if (transfer !== undefined) for (const buffer of transfer) this.transfer.push(buffer);
  }

  /** Posts what the look emitted (nothing when it emitted nothing); later sends leave at once. */
  end(): void {
    this.looking = false;
    if (this.messages.length === 0) return;
    this.port.postMessage(this.messages, this.transfer);
    this.messages.length = 0;
    this.transfer.length = 0;
  }
}
