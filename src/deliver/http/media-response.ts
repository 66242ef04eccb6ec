import type { HttpResponse } from 'uWebSockets.js';
import { endHead, statusLine, type RequestContext } from '../../http/uws-helpers.js';

/**
 * Writes one media or playlist response from memory: status, headers and
 * body in one cork; bodies past a threshold go out with tryEnd/onWritable
 * so a slow reader holds a view of the stored bytes instead of uWS
 * buffering a copy. A body may come in pieces (a segment served as its
 * parts): large ones are streamed piece by piece, never concatenated.
 *
 * Bytes in shared memory (a PartArena: live parts) are reused once the
 * segment store drops them, which may happen while a slow reader is still
 * being served: what such a reader has not taken when the first write
 * stalls is copied into memory of the response's own. Nothing here reads
 * shared bytes after the call that was given them returns.
 */

/** Below this uWS's own copy is cheaper than the onWritable dance. */
const STREAM_THRESHOLD = 256 * 1024;

export type HeaderList = string[]; // [name, value, name, value, …]: no object per header

/** A body in pieces sent back to back (a segment served as its parts): never concatenated when large. */
export type BodyChunks = readonly Uint8Array[];

export function chunksLength(chunks: BodyChunks): number {
  let total = 0;
  for (let i = 0; i < chunks.length; i++) total += chunks[i]!.byteLength;
  return total;
}

/** Bytes [start, end) of a chunked body, as views (no copy). */
export function sliceChunks(chunks: BodyChunks, start: number, end: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  let offset = 0;
  for (const chunk of chunks) {
    const chunkEnd = offset + chunk.byteLength;
    if (chunkEnd > start && offset < end) out.push(chunk.subarray(Math.max(0, start - offset), Math.min(chunk.byteLength, end - offset)));
    offset = chunkEnd;
    if (offset >= end) break;
  }
  return out;
}

export function writeResponse(
  res: HttpResponse,
  ctx: RequestContext,
  status: number,
  headers: HeaderList,
  body: Uint8Array | BodyChunks | string | null,
  headOnly: boolean,
  /** headers prepared once (headerBlock), written before `headers`; null: none */
  block: HeaderBlock | null = null,
): void {
  if (ctx.aborted) return;
  if (Array.isArray(body)) {
    const chunks = body as BodyChunks;
    const total = chunksLength(chunks);
    if (chunks.length === 1) {
      writeResponse(res, ctx, status, headers, chunks[0]!, headOnly, block);
    } else if (total < STREAM_THRESHOLD && !headOnly) {
      // small enough that one copy (uWS would make its own anyway) beats streaming pieces
      writeResponse(res, ctx, status, headers, Buffer.concat(chunks, total), false, block);
    } else {
      res.cork(() => {
        res.writeStatus(statusLine(status));
        writeHeaders(res, block, headers);
        if (headOnly) endHead(res, total);
        else streamChunks(res, ctx, chunks, total);
      });
    }
    return;
  }
  const single = body as Uint8Array | string | null;
  res.cork(() => {
    // uWS writes "200 OK" itself before the first header: one native call less per answer, the same bytes
    if (status !== 200) res.writeStatus(statusLine(status));
    writeHeaders(res, block, headers);
    if (single === null) {
      res.endWithoutBody();
      return;
    }
    const size = typeof single === 'string' ? Buffer.byteLength(single) : single.byteLength;
    if (headOnly) {
      endHead(res, size);
      return;
    }
    if (typeof single === 'string' || size < STREAM_THRESHOLD) {
      res.end(single);
      return;
    }
    streamBody(res, ctx, single);
  });
}

function writeHeaders(res: HttpResponse, block: HeaderBlock | null, headers: HeaderList): void {
  if (block !== null) res.writeHeader(block.key, block.value);
  for (let i = 0; i < headers.length; i += 2) res.writeHeader(headers[i]!, headers[i + 1]!);
}

/**
 * A prepared answer (prepared-texts.ts): its header block, then `extra`
 * headers that depend on the request (CORS for an allow-list), then the
 * body; null body: none (304). The same bytes as writeResponse with the
 * headers one by one and the text as a string.
 */
export function writePrepared(
  res: HttpResponse,
  ctx: RequestContext,
  status: 200 | 304,
  headers: HeaderBlock,
  extra: HeaderList | null,
  body: Uint8Array | null,
  headOnly: boolean,
): void {
  if (ctx.aborted) return;
  res.cork(() => {
    if (status !== 200) res.writeStatus(statusLine(status));
    res.writeHeader(headers.key, headers.value);
    if (extra !== null) for (let i = 0; i < extra.length; i += 2) res.writeHeader(extra[i]!, extra[i + 1]!);
    if (body === null) res.endWithoutBody();
    else if (headOnly) endHead(res, body.byteLength);
    else res.end(body);
  });
}

/**
 * What a stalled response has not sent yet, from `sent` bytes into the body, in one buffer of its
 * own (see the header comment): copied once, without the part the socket already took, and then
 * written with one call per writable event rather than one per piece.
 */
function unsentCopy(chunks: BodyChunks, sent: number, total: number): Uint8Array {
  // not zeroed: every byte is written below
  const rest = Buffer.allocUnsafeSlow(total - sent);
  let offset = 0; // body offset at which chunks[i] begins
  let at = 0;
  for (let i = 0; i < chunks.length; i++) {
    const chunk = chunks[i]!;
    const end = offset + chunk.byteLength;
    if (end > sent) {
      const from = Math.max(0, sent - offset);
      rest.set(from === 0 ? chunk : chunk.subarray(from), at);
      at += chunk.byteLength - from;
    }
    offset = end;
  }
  return rest;
}

/** Writes `rest` (the body from `sent` on, ours to keep) on each writable event until the response ends. */
function finishOnWritable(res: HttpResponse, ctx: RequestContext, startOffset: number, sent: number, rest: Uint8Array, total: number): void {
  res.onWritable((offset) => {
    if (ctx.aborted) return true;
    const [ok] = res.tryEnd(rest.subarray(offset - startOffset - sent), total);
    return ok;
  });
}

function streamBody(res: HttpResponse, ctx: RequestContext, body: Uint8Array): void {
  const total = body.byteLength;
  const startOffset = res.getWriteOffset();
  const [ok, done] = res.tryEnd(body, total);
  if (done || ok) return;
  const sent = res.getWriteOffset() - startOffset;
  // bytes of the caller's own (not shared memory) stay valid: no copy
  const rest = body.buffer instanceof SharedArrayBuffer ? unsentCopy([body], sent, total) : body.subarray(sent);
  finishOnWritable(res, ctx, startOffset, sent, rest, total);
}

/** Like streamBody, over pieces: tryEnd per piece against the total; what a stalled socket has not taken goes on as one copy. */
function streamChunks(res: HttpResponse, ctx: RequestContext, chunks: BodyChunks, total: number): void {
  const startOffset = res.getWriteOffset();
  for (let i = 0; i < chunks.length; i++) {
    const [ok, done] = res.tryEnd(chunks[i]!, total);
    if (done) return;
    if (!ok) break;
  }
  const sent = res.getWriteOffset() - startOffset;
  finishOnWritable(res, ctx, startOffset, sent, unsentCopy(chunks, sent, total), total);
}

/**
 * A block of response headers written with one uWS call: uWS writes
 * `key: value\r\n`, so the first header's name as the key and the rest
 * joined by CRLF as the value put exactly the bytes of one writeHeader per
 * header on the wire, without a native call and two string conversions per
 * header per request. Only for headers that come from the server, never
 * from a request (a value with CRLF in it would become a header of its own).
 */
export interface HeaderBlock {
  readonly key: Buffer;
  readonly value: Buffer;
}

export function headerBlock(headers: HeaderList): HeaderBlock {
  let value = headers[1]!;
  for (let i = 2; i < headers.length; i += 2) value += `\r\n${headers[i]!}: ${headers[i + 1]!}`;
  return { key: Buffer.from(headers[0]!), value: Buffer.from(value) };
}
