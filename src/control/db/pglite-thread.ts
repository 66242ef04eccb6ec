import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Worker } from 'node:worker_threads';
import { startProcess, startWorker, workerFile } from '../../worker-file.js';
import type { PGliteErrorFields, PGliteReply, PGliteRequest, PGliteThreadData } from './pglite-thread-messages.js';

/** What the Kysely dialect needs of PGlite: one query at a time on its single session. */
export interface PGliteSession {
  query<R>(sql: string, params: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
}

interface Pending {
  resolve(result: { rows: unknown[]; affectedRows?: number }): void;
  reject(err: Error): void;
}

/**
 * PGlite running on its own worker thread (see `workers/pglite-database.worker.ts`
 * for why). Queries go over the thread's message port; rows come back
 * structured-cloned (Dates, bigints and byte arrays survive as such).
 * The thread keeps the process alive only while a query is pending.
 */
export class PGliteThread implements PGliteSession {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;
  #closed: Promise<void> | null = null;
  #exited = false;

  private constructor(worker: Worker) {
    this.#worker = worker;
    worker.on('message', (reply: PGliteReply) => this.#onReply(reply));
    worker.on('error', (err) => this.#failAll(err));
    worker.on('exit', (code) => {
      this.#exited = true;
      this.#failAll(new Error(`the PGlite thread exited (${code})`));
    });
  }

  /**
   * Starts the thread and opens PGlite in it; rejects with PGlite's own error when it cannot open.
   * A directory without a database is first initialized by a child process
   * (`workers/pglite-initdb.process.ts`: initdb's memory leaves with it). Resident memory is not
   * free here: on the VM this was measured on, a process's thread that wakes is charged CPU in
   * proportion to the process's RSS, and an idle server with initdb's memory still in it (915 MiB)
   * spent 11–14 ms of CPU a second.
   */
  static async open(dataDir: string): Promise<PGliteThread> {
    if (dataDir !== 'memory://' && !existsSync(join(dataDir, 'PG_VERSION'))) await initializeDatabase(dataDir);
    const worker = await startThread({ dataDir });
    worker.removeAllListeners('error');
    worker.unref();
    return new PGliteThread(worker);
  }

  query<R>(sql: string, params: unknown[]): Promise<{ rows: R[]; affectedRows?: number }> {
    if (this.#closed !== null || this.#exited) return Promise.reject(new Error('the embedded database is closed'));
    const id = this.#nextId++;
    if (this.#pending.size === 0) this.#worker.ref();
    const request: PGliteRequest = { kind: 'query', id, sql, params };
    this.#worker.postMessage(request);
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as Pending['resolve'], reject });
    });
  }

  /** Closes PGlite (flushing a directory-backed database) and ends the thread. */
  close(): Promise<void> {
    this.#closed ??= this.#exited
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          this.#worker.ref();
          this.#worker.once('exit', () => resolve());
          const request: PGliteRequest = { kind: 'close' };
          this.#worker.postMessage(request);
        });
    return this.#closed;
  }

  #onReply(reply: PGliteReply): void {
    if (reply.kind !== 'result' && reply.kind !== 'error') return;
    const pending = this.#pending.get(reply.id);
    if (pending === undefined) return;
    this.#pending.delete(reply.id);
    if (this.#pending.size === 0 && this.#closed === null) this.#worker.unref();
    if (reply.kind === 'result') pending.resolve(reply.affectedRows === undefined ? { rows: reply.rows } : { rows: reply.rows, affectedRows: reply.affectedRows });
    else pending.reject(toError(reply.error));
  }

  #failAll(err: Error): void {
    for (const pending of this.#pending.values()) pending.reject(err);
    this.#pending.clear();
  }
}

/** Runs initdb in `dataDir` in a child process; rejects with PGlite's message when it fails. */
async function initializeDatabase(dataDir: string): Promise<void> {
  const child = startProcess(workerFile('pglite-initdb.process'), [dataDir]);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  if (code !== 0) throw new Error(`initializing the embedded database in ${dataDir} failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`);
}

/** A PGlite thread that has sent `ready` as its first reply. */
async function startThread(data: PGliteThreadData): Promise<Worker> {
  const worker = startWorker(workerFile('pglite-database.worker'), { workerData: data });
  await new Promise<void>((resolve, reject) => {
    const onMessage = (reply: PGliteReply): void => {
      worker.off('message', onMessage);
      worker.off('exit', onExit);
      if (reply.kind === 'ready') resolve();
      else reject(reply.kind === 'failed' ? toError(reply.error) : new Error(`PGlite thread: unexpected ${reply.kind}`));
    };
    const onExit = (code: number): void => reject(new Error(`the PGlite thread exited (${code}) before it was ready`));
    worker.on('message', onMessage);
    worker.once('error', reject);
    worker.once('exit', onExit);
  });
  return worker;
}

/** PostgreSQL's error fields back on an Error, as PGlite in-process would have thrown it. */
function toError(fields: PGliteErrorFields): Error {
  return Object.assign(new Error(fields.message), fields);
}
