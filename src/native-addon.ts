import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Loads one of the N-API addons `bash native/build.sh` builds (native/build/<name>.node) into
 * this thread: the library is loaded once per process, its functions bound per thread (main or
 * worker). Every addon is optional: the caller falls back to JavaScript when `addon` is null,
 * and `reason` says why (not built, or it would not load).
 */
export function loadNativeAddon<T>(name: string): { addon: T | null; reason: string } {
  // src/ from source, dist/src/ from the build: the repository's native/ is one or two levels up
  let path: string | null = null;
  for (const up of ['../', '../../']) {
    const candidate = fileURLToPath(new URL(`${up}native/build/${name}.node`, import.meta.url));
    if (existsSync(candidate)) {
      path = candidate;
      break;
    }
  }
  if (path === null) return { addon: null, reason: `native/build/${name}.node is not built (bash native/build.sh)` };
  try {
    return { addon: createRequire(import.meta.url)(path) as T, reason: 'loaded' };
  } catch (err) {
    return { addon: null, reason: `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
}
