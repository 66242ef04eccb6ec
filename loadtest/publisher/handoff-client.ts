/**
 * Our publisher's RTMP connection, honouring Enhanced RTMP v2 Reconnect Requests as the spec
 * describes: its connect announces support (capsEx); on a request it connects and publishes on
 * the same key to the request's tcUrl (else the same URL: through an L4 balancer, another
 * instance) while media keeps flowing to the old connection; at the next keyframe it sends the
 * stream's headers and the media from there on to the new connection, timestamps continuing,
 * then leaves the old one without an unpublish (the stream goes on elsewhere). A hand-off that
 * fails leaves the publisher where it was; a later request may try again.
 */
import { NovaError } from '../../src/errors.js';
import { RtmpClient } from '../../src/ingest/rtmp/rtmp-client.js';
import type { RtmpMetadata } from '../../src/ingest/rtmp/rtmp-client-session.js';
import { reconnectTcUrl, type ReconnectRequest } from '../../src/ingest/rtmp/reconnect-request.js';

export type HandOffEvent =
  /** tcUrl: the request's (null: the current one); the addresses are tcUrls, never the stream key */
  | { type: 'reconnect_request'; from: string; tcUrl: string | null; description: string | null }
  /** media from timelineMs (a keyframe) on goes to `to`; tookMs: from the request to that keyframe */
  | { type: 'hand_off'; from: string; to: string; timelineMs: number; tookMs: number }
  | { type: 'hand_off_failed'; to: string; error: string };

/** What a new connection needs before media: sent after each publish, at the first media's timestamp. */
export interface StreamHeaders {
  metadata: RtmpMetadata;
  /** FLV video tag body of the AVC sequence header */
  videoConfig: Uint8Array;
  /** FLV audio tag body of the AAC sequence header */
  audioConfig: Uint8Array;
}

export interface HandOffClientOptions {
  /** our RTMP chunk size; default 4096 */
  chunkSize?: number;
  onEvent?: (event: HandOffEvent) => void;
}

export class HandOffClient {
  private current: RtmpClient;
  /** published on the new address, waiting for the next keyframe */
  private ready: RtmpClient | null = null;
  private connecting = false;
  private requestedAt = 0;
  private headers: StreamHeaders | null = null;
  private readonly leaving: Promise<void>[] = [];
  private retiredBytes = 0;
  private closed = false;
  private handOffCount = 0;

  private constructor(
    first: RtmpClient,
    private readonly options: HandOffClientOptions,
  ) {
    this.current = first;
  }

  /** TCP connect, handshake and the RTMP connect command (announcing Reconnect support). */
  static async open(url: string, options: HandOffClientOptions = {}): Promise<HandOffClient> {
    let self: HandOffClient | null = null;
    let client: RtmpClient | null = null;
    client = await RtmpClient.connect(url, {
      chunkSize: options.chunkSize,
      onReconnectRequest: (request) => {
        if (self !== null && client !== null) self.onRequest(client, request);
      },
    });
    self = new HandOffClient(client, options);
    return self;
  }

  /** Publishes on the URL's key and sends the stream's headers at `timestamp`; resolves on NetStream.Publish.Start. */
  async publish(headers: StreamHeaders, timestamp = 0): Promise<void> {
    this.headers = headers;
    await this.current.publish();
    sendHeaders(this.current, headers, timestamp);
  }

  /** The tcUrl media goes to now. */
  get tcUrl(): string {
    return this.current.url.tcUrl;
  }

  get handOffs(): number {
    return this.handOffCount;
  }

  /** Bytes written to every connection so far, handshakes and chunk headers included. */
  get bytesSent(): number {
    return this.retiredBytes + this.current.bytesSent;
  }

  get congested(): boolean {
    return this.current.congested;
  }

  drain(): Promise<void> {
    return this.current.drain();
  }

  sendMetadata(meta: RtmpMetadata): void {
    this.current.sendMetadata(meta);
  }

  /** One FLV video tag body; a keyframe is where a pending hand-off happens. */
  sendVideo(timestamp: number, body: Uint8Array, keyframe: boolean): void {
    // the old connection gone before a keyframe (closed at the end of a drain): move now
    if (this.ready !== null && (keyframe || this.current.isClosed)) this.switchTo(this.ready, timestamp);
    this.current.sendVideo(timestamp, body);
  }

  sendAudio(timestamp: number, body: Uint8Array): void {
    if (this.ready !== null && this.current.isClosed) this.switchTo(this.ready, timestamp);
    this.current.sendAudio(timestamp, body);
  }

  /** Unpublishes and closes the current connection; a hand-off still pending is abandoned. */
  async close(): Promise<void> {
    this.closed = true;
    const pending = this.ready;
    this.ready = null;
    pending?.destroy();
    await this.current.close();
    await Promise.all(this.leaving);
  }

  private onRequest(from: RtmpClient, request: ReconnectRequest): void {
    // only the connection media goes to may move us, and one hand-off at a time
    if (from !== this.current || this.connecting || this.ready !== null || this.closed) return;
    this.emit({ type: 'reconnect_request', from: from.url.tcUrl, tcUrl: request.tcUrl ?? null, description: request.description ?? null });
    let tcUrl: string;
    try {
      tcUrl = reconnectTcUrl(from.url.tcUrl, request.tcUrl);
    } catch (err) {
      this.emit({ type: 'hand_off_failed', to: request.tcUrl ?? '', error: err instanceof Error ? err.message : String(err) });
      return;
    }
    this.requestedAt = performance.now();
    this.connecting = true;
    void this.connectNext(tcUrl, `${tcUrl}/${from.url.streamName}`);
  }

  private async connectNext(tcUrl: string, url: string): Promise<void> {
    let next: RtmpClient | null = null;
    try {
      next = await RtmpClient.connect(url, {
        chunkSize: this.options.chunkSize,
        onReconnectRequest: (request) => {
          if (next !== null) this.onRequest(next, request);
        },
      });
      await next.publish();
      if (this.closed) throw new NovaError('NOVA_ERR_RTMP_PROTOCOL', 'publisher closed during the hand-off');
      this.ready = next;
    } catch (err) {
      next?.destroy();
      this.emit({ type: 'hand_off_failed', to: tcUrl, error: err instanceof Error ? err.message : String(err) });
    } finally {
      this.connecting = false;
    }
  }

  private switchTo(next: RtmpClient, timestamp: number): void {
    const old = this.current;
    this.ready = null;
    this.current = next;
    if (this.headers !== null) sendHeaders(next, this.headers, timestamp);
    this.retiredBytes += old.bytesSent;
    this.handOffCount++;
    // no FCUnpublish/deleteStream: the stream is not over, it continues on the new connection
    this.leaving.push(old.close(undefined, false));
    this.emit({ type: 'hand_off', from: old.url.tcUrl, to: next.url.tcUrl, timelineMs: timestamp, tookMs: Math.round(performance.now() - this.requestedAt) });
  }

  private emit(event: HandOffEvent): void {
    this.options.onEvent?.(event);
  }
}

function sendHeaders(client: RtmpClient, headers: StreamHeaders, timestamp: number): void {
  client.sendMetadata(headers.metadata);
  client.sendVideo(timestamp, headers.videoConfig);
  client.sendAudio(timestamp, headers.audioConfig);
}
