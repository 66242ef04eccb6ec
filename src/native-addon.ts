import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * Loads one of the N-API addons of native/ (built by `bash native/build.sh`):
 * `native/build/<name>.node`. Every addon is optional: the caller gets null
 * and the reason, and falls back to JavaScript.
 */
export function loadNativeAddon<T>(name: string): { addon: T | null; reason: string } {
  const path = addonPath(name);
  if (path === null) return { addon: null, reason: `native/build/${name}.node is not built (bash native/build.sh)` };
  try {
    return { addon: createRequire(import.meta.url)(path) as T, reason: 'loaded' };
  } catch (err) {
    return { addon: null, reason: `cannot load ${path}: ${err instanceof Error ? err.message : String(err)}` };
  }
}

function addonPath(name: string): string | null {
  // src/ from source, dist/src/ from the build: the repository's native/ is one or two levels up
  for (const up of ['../', '../../']) {
    const path = fileURLToPath(new URL(`${up}native/build/${name}.node`, import.meta.url));
    if (existsSync(path)) return path;
  }
  return null;
}
