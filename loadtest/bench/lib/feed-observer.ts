/**
 * What an origin publishes, counted from outside the edge under test: the
 * bench subscribes to the stream's feed on the origin's internal listener
 * (as an edge does, with the shared secret) and counts the distinct inits,
 * parts and segments that arrive live (after the snapshot). An edge that
 * fetched each object once received exactly as many in the same interval.
 */
import http from 'node:http';
import { FeedFrameReader, type FeedFrame } from '../../../src/deliver/edge/feed-frames.js';

export interface PublishedCounts {
  /** distinct inits, parts and segments published (every track, every rendition) */
  objects: number;
  /** of those, the video parts and segments: each changes the video media playlist */
  videoPlaylistChanges: number;
}

export class FeedObserver {
  private readonly seen = new Set<string>();
  private inits = 0;
  private videoChanges = 0;
  private live = false;

  private constructor(private readonly request: http.ClientRequest) {}

  /** Subscribes and resolves once the snapshot is over (what follows is live). */
  static open(internalUrl: string, secret: string, streamId: string, timeoutMs = 10_000): Promise<FeedObserver> {
    const request = http.get(`${internalUrl}/internal/v1/streams/${encodeURIComponent(streamId)}/feed`, {
      headers: { authorization: `Bearer ${secret}` },
      agent: false,
    });
    const observer = new FeedObserver(request);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        request.destroy();
        reject(new Error(`the origin's feed of ${streamId} did not sync within ${timeoutMs} ms`));
      }, timeoutMs);
      // after the sync an error only ends the counting (close() destroys the request on purpose)
      request.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      request.once('response', (response) => {
        if (response.statusCode !== 200) {
          clearTimeout(timer);
          response.resume();
          reject(new Error(`the origin's feed of ${streamId} answered ${response.statusCode}`));
          return;
        }
        const reader = new FeedFrameReader();
        response.on('error', () => {});
        response.on('data', (chunk: Buffer) =>
          reader.push(chunk, (frame) => {
            if (frame.message.t === 'synced') {
              observer.live = true;
              clearTimeout(timer);
              resolve(observer);
            } else if (observer.live) {
              observer.count(frame);
            }
          }),
        );
      });
    });
  }

  /** Counts since the snapshot ended. */
  counts(): PublishedCounts {
    return { objects: this.inits + this.seen.size, videoPlaylistChanges: this.videoChanges };
  }

  close(): void {
    this.request.destroy();
  }

  private count(frame: FeedFrame): void {
    const m = frame.message;
    if (m.t === 'init') {
      this.inits++;
      return;
    }
    if (m.t !== 'part' && m.t !== 'segment') return;
    const key = `${m.t}/${m.g}/${m.rendition}/${m.track}/${m.msn}/${m.t === 'part' ? m.index : ''}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    if (m.track === 'video') this.videoChanges++;
  }
}
