/**
 * One IngestConnection run inline on the calling thread, under the server's
 * default limits, accepting its publish as the main thread does for a good
 * key: for measurements that want a connection's own work without the
 * server around it (bench/ingest-micro.ts, peers/node-read-floor.ts).
 */
import { loadConfig } from '../../src/config.js';
import { IngestConnection } from '../../src/ingest/ingest-connection.js';
import { ingestLimits, type WorkerToMain } from '../../src/ingest/ingest-messages.js';
import { ByteRing } from '../../src/stream/byte-ring.js';

const DEFAULT_LIMITS = ingestLimits(loadConfig({}));

export interface InlineIngestOptions {
  /** the connection's messages (replies to send, media, stats…), as the worker would post them */
  emit: (message: WorkerToMain, transfer?: ArrayBuffer[]) => void;
  /** runs the acceptance later: it arrives as a message would, never inside push() */
  defer: (accept: () => void) => void;
  frameQueueBytes: number;
  /** the stream gets a frame queue, as it does when the transcoder reads it (default: none, as with the ladder off) */
  frameQueueReader?: boolean;
  /** mux MPEG-TS from the start, as the server does once a TS client asked (default: no, as the server before one asks) */
  tsWanted?: boolean;
  /** the accepted stream's frame queue, for a caller that reads it */
  onFrameQueue?: (queue: SharedArrayBuffer) => void;
}

export function inlineIngestConnection(options: InlineIngestOptions): IngestConnection {
  const connection: IngestConnection = new IngestConnection(DEFAULT_LIMITS, (message, transfer) => {
    if (message.type === 'publish') {
      const frameQueue = options.frameQueueReader === true ? ByteRing.create(options.frameQueueBytes).buffer : null;
      if (frameQueue !== null) options.onFrameQueue?.(frameQueue);
      options.defer(() => connection.handle({ type: 'publish_accepted', streamId: 'inline', frameQueue, resume: null, tsWanted: options.tsWanted ?? false }));
    }
    options.emit(message, transfer);
  });
  return connection;
}
