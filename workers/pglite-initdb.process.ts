/**
 * Child process entry: creates the embedded database's files in the directory given as
 * its first argument (PostgreSQL's initdb, in PGlite) and exits; a failure exits non-zero
 * with PGlite's message on stderr. PGliteThread.open runs it for a directory that holds
 * no database yet: initdb grows PGlite's WebAssembly memory to ~650 MiB and leaves
 * ~140 MiB more of freed heap in the allocator, none of which a process gives back but by
 * exiting, while the database reopened afterwards needs ~150 MiB.
 */
import { PGlite } from '@electric-sql/pglite';
import { PGLITE_START_PARAMS } from '../src/control/db/pglite-start-params.js';

const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: pglite-initdb.process <data directory>');
const database = await PGlite.create({ dataDir, startParams: [...PGLITE_START_PARAMS] });
await database.close();
