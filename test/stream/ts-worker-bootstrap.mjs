// Worker entry for TypeScript worker files in tests: registers tsx in this
// thread (a Worker's execArgv --import does not reach its module loader on Node 20),
// then loads the file named in workerData.entry.
import { workerData } from 'node:worker_threads';
import { register } from 'tsx/esm/api';

register();
await import(workerData.entry);
