import type { HttpResponse } from 'uWebSockets.js';
import { statusLine, type RequestContext } from './uws-helpers.js';

/**
 * Writes one media or playlist response from memory: status, headers and
 * body in one cork; bodies past a threshold go out with tryEnd/onWritable
 * so a slow reader holds a view of the stored bytes instead of uWS
 * buffering a copy.
 */

/** Below this uWS's own copy is cheaper than the onWritable dance. */
const STREAM_THRESHOLD = 256 * 1024;

export type HeaderList = string[]; // [name, value, name, value, …]: no object per header

export function writeResponse(
  res: HttpResponse,
  ctx: RequestContext,
  status: number,
  headers: HeaderList,
  body: Uint8Array | string | null,
  headOnly: boolean,
): void {
  if (ctx.aborted) return;
  res.cork(() => {
    res.writeStatus(statusLine(status));
    for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
    if (body === null) {
      res.endWithoutBody();
      return;
    }
    const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
    if (headOnly) {
      res.endWithoutBody(size);
      return;
    }
    if (typeof body === 'string' || size < STREAM_THRESHOLD) {
      res.end(body);
      return;
    }
    streamBody(res, ctx, body);
  });
}

function streamBody(res: HttpResponse, ctx: RequestContext, body: Uint8Array): void {
  const total = body.byteLength;
  const startOffset = res.getWriteOffset();
  const [ok, done] = res.tryEnd(body, total);
  if (done || ok) return;
  res.onWritable((offset) => {
    if (ctx.aborted) return true;
    const [retryOk] = res.tryEnd(body.subarray(offset - startOffset), total);
    return retryOk;
  });
}
