// Entry of a worker thread whose code is TypeScript (running from source under
// tsx): registers tsx in this thread (on Node 20 the --import tsx a Worker
// inherits does not reach its ES module loader), then loads the file whose URL
// is the worker's last argv. Used through startWorker() in src/worker-file.ts.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[process.argv.length - 1]);
