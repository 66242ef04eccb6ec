import { ByteRing } from '../src/stream/byte-ring.js';
import { FrameQueueReader } from '../src/stream/frame-queue.js';
import { createLogger } from '../src/log.js';
import { StreamTranscoder } from '../src/transcode/stream-transcoder.js';
import type { MainToTranscode, TranscodeTask, TranscodeToMain } from '../src/transcode/transcode-messages.js';

const WAIT_SLICE_MS = 250;
/** records per read before yielding to the event loop, where FFmpeg's output pipes are served */
const RECORDS_PER_SLICE = 256;

/**
 * Piscina task: the transcode stage of one live stream, for the stream's
 * whole life. A thin adapter: records from the stream's shared frame queue
 * into StreamTranscoder, its messages out through the task's MessagePort.
 * FFmpeg's stdin and output pipes live on this thread's event loop, so the
 * main thread sees only finished parts and segments (transferred).
 */
export default async function runTranscodeStream(task: TranscodeTask): Promise<void> {
  const port = task.port;
  const emit = (message: TranscodeToMain, transfer?: ArrayBuffer[]): void => port.postMessage(message, transfer);
  // Lines go to the main thread's logger (tests capture it); a worker must not write its own stdout.
  const logger = createLogger(task.logLevel, { stream: task.streamId }, { write: (line: string) => emit({ type: 'log', line }) });
  const reader = new FrameQueueReader(ByteRing.attach(task.frameQueue));
  const transcoder = new StreamTranscoder({
    streamId: task.streamId,
    ffmpegPath: task.ffmpegPath,
    encoder: task.encoder,
    ladder: task.ladder,
    encode: task.encode,
    targetDurationMs: task.targetDurationMs,
    partTargetMs: task.partTargetMs,
    stallTimeoutMs: task.stallTimeoutMs,
    maxLagMs: task.maxLagMs,
    backoff: { initialMs: task.restartBackoffMs },
    thumbnail: task.thumbnail,
    emit,
    logger,
  });
  let stopRequested = false;
  port.on('message', (message: MainToTranscode) => {
    if (message.type === 'stop') {
      stopRequested = true;
      reader.ring.notify();
    }
  });

  try {
    while (!stopRequested) {
      reader.read(transcoder, RECORDS_PER_SLICE);
      if (reader.done) break;
      if (reader.ring.bytesUsed > 0) {
        // more waiting: let the pipes' I/O run, then continue
        await new Promise<void>((resolve) => setImmediate(resolve));
        continue;
      }
      await reader.waitForData(WAIT_SLICE_MS);
    }
  } catch (err) {
    logger.error({ err: err instanceof Error ? err.message : String(err) }, 'transcode task failed');
  } finally {
    await transcoder.stop();
    port.close();
  }
}
