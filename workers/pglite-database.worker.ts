/**
 * The embedded database (PGlite) on a thread of its own. PGlite runs
 * PostgreSQL as WebAssembly: each query blocks the thread it runs on, and
 * its tens of MB of heap made every major GC of the main thread (which
 * serves HTTP and moves every ingested byte) mark it again. Here it blocks
 * and is collected alone. The main thread talks to it through
 * `src/control/db/pglite-thread.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_START_PARAMS } from '../src/control/db/pglite-start-params.js';
import type { PGliteReply, PGliteRequest, PGliteThreadData } from '../src/control/db/pglite-thread-messages.js';

const port = parentPort!;
const { dataDir } = workerData as PGliteThreadData;

function reply(message: PGliteReply): void {
  port.postMessage(message);
}

/** An error's message and its own fields (PostgreSQL's code, detail, constraint …): structured clone keeps only name, message and stack. */
function errorFields(err: unknown): Record<string, unknown> & { message: string } {
  if (!(err instanceof Error)) return { message: String(err) };
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(err)) {
    if (value === null || ['string', 'number', 'boolean'].includes(typeof value)) fields[key] = value;
  }
  return { ...fields, message: err.message };
}

let client: PGlite;
try {
  client = await PGlite.create({ dataDir, startParams: [...PGLITE_START_PARAMS] });
} catch (err) {
  reply({ kind: 'failed', error: errorFields(err) });
  process.exit(1);
}
reply({ kind: 'ready' });

// Queries arrive one at a time per logical connection (the dialect serialises holders), but
// nothing here relies on it: PGlite queues them on its single session.
port.on('message', (request: PGliteRequest) => {
  if (request.kind === 'close') {
    void client.close().finally(() => {
      reply({ kind: 'closed' });
      port.close();
    });
    return;
  }
  client.query(request.sql, request.params).then(
    (result) => reply({ kind: 'result', id: request.id, rows: result.rows, affectedRows: result.affectedRows }),
    (err: unknown) => reply({ kind: 'error', id: request.id, error: errorFields(err) }),
  );
});
