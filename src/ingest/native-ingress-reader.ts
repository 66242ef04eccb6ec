import type net from 'node:net';
import { NovaError } from '../errors.js';
import { loadNativeAddon } from '../native-addon.js';

/**
 * The native ingress reader (native/ingress-reader): a thread of its own that
 * reads publishers' sockets straight into their ingress rings, in the same
 * record format as the JavaScript path (RtmpIngestServer.onSocketData), so
 * the worker cannot tell them apart. Built by `bash native/build.sh`; when it
 * is not built the server reads in JavaScript.
 *
 * While a publisher's media flows, its worker claims the socket and reads it
 * at its own looks (WorkerSocketReader), so the reader thread wakes for it
 * only when the worker falls behind or at EOF.
 */
export interface NativeIngressReader {
  /**
   * Starts reading `socket` (accepted paused, never read by Node) into `ring`
   * (the ByteRing's SharedArrayBuffer). `control` gets producerPaused when the ring is
   * full and socketClosed at EOF or a read error; `onEvent` runs on this thread
   * when the consumer must be woken ('wake') or the socket closed ('closed').
   * Returns a handle for resume() and detach().
   */
  attach(socket: net.Socket, ring: SharedArrayBuffer, control: Int32Array, indices: ControlIndices, onEvent: (event: 'wake' | 'closed', errno: number) => void): number;
  /** the ring was drained after it filled: read again */
  resume(handle: number): void;
  /** after it returns the reader thread no longer touches the socket or the ring; idempotent */
  detach(handle: number): void;
  /** socket reads that returned bytes since start: by the reader thread, and by workers on claimed sockets */
  readCounts(): { reader: number; worker: number };
}

/**
 * A worker's side of the reader (the addon loaded in the worker thread): it reads the socket of
 * a connection it runs (the handle main's attach() returned, passed in IngestTask) into its ring.
 */
export interface WorkerSocketReader {
  /**
   * From now on this thread reads the socket at its looks (read()); the reader thread reads it
   * only once `lowWaterBytes` wait unread (a worker behind) or at EOF. False when the socket is gone.
   */
  claim(handle: number, lowWaterBytes: number): boolean;
  /**
   * Reads what the claimed socket holds into the ring: 'read' (records written), 'none' (nothing
   * waiting, or no room in the ring), 'gone' (closed: socketClosed is set and main told, as when
   * the reader thread reads EOF; or detached).
   */
  read(handle: number): 'read' | 'none' | 'gone';
  /** the reader thread reads the socket as bytes arrive again; no-op when not claimed or gone */
  release(handle: number): void;
}

export interface ControlIndices {
  producerPaused: number;
  socketClosed: number;
}

interface Addon {
  start(onEvent: (id: number, kind: number, errno: number) => void, pacingMs: number): void;
  attach(id: number, fd: number, ring: Int32Array, control: Int32Array, producerPausedIndex: number, socketClosedIndex: number): void;
  resume(id: number): void;
  detach(id: number): void;
  claim(id: number, lowWaterBytes: number): boolean;
  release(id: number): void;
  readClaimed(id: number): number;
  stats(): [number, number];
}

const EVENT_KINDS = ['wake', 'closed'] as const;

let instance: NativeIngressReader | null | undefined;

/**
 * The reader, started on first use; null when the addon is not built (or cannot load: `reason` says why).
 * `pacingMs` (first use only): how long the reader thread sleeps after a round of reads; whatever
 * arrives meanwhile is read in the next round, for every publisher at once (one wake-up per round
 * instead of one per packet). The workers' poll tick (ingestPollTickMs): bytes read more often
 * would only wait in the ring for the worker's next look.
 */
export function nativeIngressReader(pacingMs = 5): { reader: NativeIngressReader | null; reason: string } {
  if (instance !== undefined) return { reader: instance, reason: instance ? 'loaded' : loadError };
  instance = load(pacingMs);
  return { reader: instance, reason: instance ? 'loaded' : loadError };
}

let loadError = '';

/** The addon, loaded into this thread; null with `loadError` set. */
function loadAddon(): Addon | null {
  const { addon, reason } = loadNativeAddon<Addon>('ingress_reader');
  if (addon === null) loadError = reason;
  return addon;
}

const READ_OUTCOMES = ['none', 'read'] as const;

let workerInstance: WorkerSocketReader | null | undefined;

/**
 * This worker thread's side of the reader, or null when the addon cannot load here (the worker
 * then leaves every read to the reader thread). Only for handles of a reader started on the main thread.
 */
export function workerSocketReader(): WorkerSocketReader | null {
  if (workerInstance !== undefined) return workerInstance;
  const addon = loadAddon();
  workerInstance =
    addon === null
      ? null
      : {
          claim: (handle, lowWaterBytes) => addon.claim(handle, lowWaterBytes),
          read: (handle) => READ_OUTCOMES[addon.readClaimed(handle)] ?? 'gone',
          release: (handle) => addon.release(handle),
        };
  return workerInstance;
}

function load(pacingMs: number): NativeIngressReader | null {
  const addon = loadAddon();
  if (addon === null) return null;
  const handlers = new Map<number, (event: 'wake' | 'closed', errno: number) => void>();
  addon.start((id, kind, errno) => handlers.get(id)?.(EVENT_KINDS[kind] ?? 'closed', errno), pacingMs);
  let nextId = 1;
  return {
    attach(socket, ring, control, indices, onEvent) {
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd !== 'number' || fd < 0) throw new NovaError('NOVA_ERR_INTERNAL', 'the socket has no descriptor to read');
      const id = nextId++;
      handlers.set(id, onEvent);
      try {
        addon.attach(id, fd, new Int32Array(ring), control, indices.producerPaused, indices.socketClosed);
      } catch (err) {
        handlers.delete(id);
        throw err;
      }
      return id;
    },
    resume(handle) {
      addon.resume(handle);
    },
    detach(handle) {
      addon.detach(handle);
      handlers.delete(handle);
    },
    readCounts() {
      const [reader, worker] = addon.stats();
      return { reader, worker };
    },
  };
}
