/**
 * `--join-segments 3` / `--join-segments=3` → { JOIN_SEGMENTS: '3' }: the
 * names the k6 scripts read from __ENV, so both parse their parameters with
 * the same functions (loadtest/k6/lib/scenario-params.ts). A bare `--json` is 'true'.
 */
export function flagsToEnvNames(argv: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${arg}`);
    const eq = arg.indexOf('=');
    const name = (eq < 0 ? arg.slice(2) : arg.slice(2, eq)).replace(/-/g, '_').toUpperCase();
    if (eq >= 0) {
      out[name] = arg.slice(eq + 1);
    } else if (i + 1 < argv.length && !argv[i + 1]!.startsWith('--')) {
      out[name] = argv[++i]!;
    } else {
      out[name] = 'true';
    }
  }
  return out;
}
