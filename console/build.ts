/**
 * Builds the web console (console/src) into dist/console: esbuild bundles the
 * TypeScript with Preact, uPlot and hls.js from node_modules into hashed files
 * under assets/ (no CDN: everything the page loads ships here), writes
 * index.html naming them, and a brotli and a gzip copy of each text file for
 * the server to pick by Accept-Encoding. Type checking is `tsc -p console`
 * (esbuild only strips types).
 *
 *   node --import tsx console/build.ts [outDir]
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const here = fileURLToPath(new URL('.', import.meta.url));
export const DEFAULT_CONSOLE_OUT = join(here, '..', 'dist', 'console');

export interface ConsoleBuild {
  outDir: string;
  /** file names under assets/, with their sizes in bytes before compression */
  assets: Record<string, number>;
  ms: number;
}

export async function buildConsole(outDir = DEFAULT_CONSOLE_OUT): Promise<ConsoleBuild> {
  const started = Date.now();
  const assetsDir = join(outDir, 'assets');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(assetsDir, { recursive: true });
  const result = await build({
    entryPoints: { console: join(here, 'src', 'main.tsx') },
    bundle: true,
    format: 'esm',
    target: ['chrome111', 'firefox115', 'safari16'],
    minify: true,
    sourcemap: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    entryNames: '[name]-[hash]',
    assetNames: '[name]-[hash]',
    outdir: assetsDir,
    metafile: true,
    legalComments: 'linked',
    logLevel: 'warning',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
  const script = outputs.find((name) => name.endsWith('.js'));
  const style = outputs.find((name) => name.endsWith('.css'));
  if (script === undefined || style === undefined) throw new Error(`console build produced no script or style: ${outputs.join(', ')}`);
  await writeFile(join(outDir, 'index.html'), indexHtml(script, style));
  const assets: Record<string, number> = {};
  for (const name of await readdir(assetsDir)) assets[name] = (await readFile(join(assetsDir, name))).byteLength;
  for (const file of [join(outDir, 'index.html'), ...Object.keys(assets).filter((name) => /\.(js|css|html|txt)$/.test(name)).map((name) => join(assetsDir, name))]) {
    const body = await readFile(file);
    // quality 9, not 11: a tenth of the time for a few per cent more bytes, so the build stays under a second or two
    await writeFile(`${file}.br`, brotliCompressSync(body, { params: { [constants.BROTLI_PARAM_QUALITY]: 9 } }));
    await writeFile(`${file}.gz`, gzipSync(body, { level: 9 }));
  }
  return { outDir, assets, ms: Date.now() - started };
}

function indexHtml(script: string, style: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>nova-streaming</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/${style}">
<script type="module" src="/console/assets/${script}"></script>
</head>
<body>
<noscript>The nova-streaming console needs JavaScript.</noscript>
<div id="app"></div>
</body>
</html>
`;
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const built = await buildConsole(process.argv[2] ?? DEFAULT_CONSOLE_OUT);
  const total = Object.values(built.assets).reduce((a, b) => a + b, 0);
  console.log(`console built in ${built.ms} ms: ${built.outDir} (${Object.keys(built.assets).length} assets, ${Math.round(total / 1024)} KiB)`);
}
