import type { EventBus, StreamEvent } from './stream-events.js';

/** The in-process bus: the default when REDIS_URL is unset. Delivery is synchronous and in order. */
export class LocalEventBus implements EventBus {
  private readonly handlers = new Set<(event: StreamEvent) => void>();
  constructor(private readonly onHandlerError: (err: unknown) => void = () => {}) {}

  publish(event: StreamEvent): void {
    for (const handler of this.handlers) {
      try {
        handler(event);
      } catch (err) {
        this.onHandlerError(err);
      }
    }
  }

  /** The same as publish: in one process there is nobody to send it on to. */
  receive(event: StreamEvent): void {
    this.publish(event);
  }

  subscribe(handler: (event: StreamEvent) => void): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}
