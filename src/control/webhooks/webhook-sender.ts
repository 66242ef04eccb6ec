import http from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { isInternalAddress, webhookLookup } from './webhook-target.js';

export interface WebhookAttemptResult {
  ok: boolean;
  /** the receiver's status, null when it did not answer */
  statusCode: number | null;
  /** why it failed; null on success */
  error: string | null;
  durationMs: number;
}

export interface WebhookMessage {
  url: string;
  /** the Standard Webhooks secret ("whsec_…") */
  secret: string;
  /** webhook-id: the event's id, the same on every attempt */
  id: string;
  body: string;
}

/** what is read of a receiver's answer before the connection is dropped: only its status matters */
const MAX_RESPONSE_BYTES = 64 * 1024;

/**
 * One signed POST per the Standard Webhooks spec (webhook-id,
 * webhook-timestamp, webhook-signature over "id.timestamp.body"). 2xx is
 * delivered; anything else, a timeout or a refused connection is a failure
 * with its reason. Redirects are not followed (a 3xx is a failure): a target
 * must not send the signed body elsewhere.
 */
export function sendWebhook(message: WebhookMessage, options: { timeoutMs: number; allowInternal: boolean; now?: () => number }): Promise<WebhookAttemptResult> {
  const started = performance.now();
  const now = options.now ?? Date.now;
  const timestamp = new Date(now());
  const signature = new Webhook(message.secret).sign(message.id, timestamp, message.body);
  const url = new URL(message.url);
  const finish = (statusCode: number | null, error: string | null): WebhookAttemptResult => ({
    ok: error === null,
    statusCode,
    error,
    durationMs: Math.round(performance.now() - started),
  });
  const literal = url.hostname.replace(/^\[|\]$/g, '');
  if (!options.allowInternal && isIP(literal) !== 0 && isInternalAddress(literal)) {
    return Promise.resolve(finish(null, 'target is a private or loopback address'));
  }
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: WebhookAttemptResult): void => {
      if (settled) return;
      settled = true;
      resolve(result);
    };
    const request = (url.protocol === 'https:' ? https : http).request(
      url,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(message.body),
          'user-agent': 'nova-streaming-webhooks',
          'webhook-id': message.id,
          'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
          'webhook-signature': signature,
        },
        lookup: webhookLookup(options.allowInternal) as never,
        timeout: options.timeoutMs,
        agent: false,
      },
      (response) => {
        const status = response.statusCode ?? 0;
        let read = 0;
        response.on('data', (chunk: Buffer) => {
          read += chunk.length;
          if (read > MAX_RESPONSE_BYTES) response.destroy();
        });
        const done = (): void => settle(finish(status, status >= 200 && status < 300 ? null : `HTTP ${status}`));
        response.on('end', done);
        response.on('close', done);
        response.on('error', done);
      },
    );
    // the whole attempt, not only the idle socket, is bounded by the timeout
    const deadline = setTimeout(() => {
      settle(finish(null, `no answer within ${options.timeoutMs} ms`));
      request.destroy();
    }, options.timeoutMs);
    request.on('timeout', () => request.destroy(new Error(`no answer within ${options.timeoutMs} ms`)));
    request.on('error', (err: NodeJS.ErrnoException) => settle(finish(null, err.code ? `${err.code}: ${err.message}` : err.message)));
    request.on('close', () => clearTimeout(deadline));
    request.end(message.body);
  });
}
