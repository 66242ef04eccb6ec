/**
 * Loaded with --import by `npm test`: a test file whose process is still alive
 * long after it began (a hook that never returns, a child process left
 * running) fails with a message instead of holding up the whole suite until
 * CI's limit. Only in the runner's per-file child processes, never the runner.
 * Plain JavaScript: worker threads a test starts inherit the --import, and
 * not every one of them has tsx's loader.
 */
import { isMainThread } from 'node:worker_threads';

const limitMs = Number(process.env.NOVA_TEST_FILE_LIMIT_MS ?? 600_000);

if (isMainThread && process.env.NODE_TEST_CONTEXT?.startsWith('child') && limitMs > 0) {
  setTimeout(() => {
    process.stderr.write(`\nnova test watchdog: ${process.argv[1] ?? 'this test file'} still running after ${limitMs} ms; exiting\n`);
    process.exit(1);
  }, limitMs).unref();
}
