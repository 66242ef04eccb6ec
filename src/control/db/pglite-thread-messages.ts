/** Messages between the main thread and the PGlite thread (`workers/pglite-database.worker.ts`). */

export interface PGliteThreadData {
  /** PGlite's dataDir: a directory, or "memory://" */
  dataDir: string;
}

export type PGliteRequest = { kind: 'query'; id: number; sql: string; params: unknown[] } | { kind: 'close' };

export type PGliteReply =
  | { kind: 'ready' }
  | { kind: 'failed'; error: PGliteErrorFields }
  | { kind: 'result'; id: number; rows: unknown[]; affectedRows: number | undefined }
  | { kind: 'error'; id: number; error: PGliteErrorFields }
  | { kind: 'closed' };

/** message plus PostgreSQL's fields (code, detail, constraint, …) */
export type PGliteErrorFields = Record<string, unknown> & { message: string };
