/**
 * What tests need from the machine: external tools (FFmpeg, nginx, Chromium…),
 * child processes that never outlive the test file, temporary folders and
 * free ports. Under CI=true a missing tool fails the test instead of skipping.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';

export const CI = process.env.CI === 'true';

export function haveTool(command: string, args: string[] = ['-version']): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

/** Test options that skip when a tool is missing locally; under CI a missing tool is a failure. */
export function toolGate(name: string, present: boolean): { skip?: string } {
  if (present) return {};
  if (CI) throw new Error(`${name} is required under CI=true`);
  return { skip: `${name} not installed` };
}

const children = new Set<ChildProcess>();
const tempDirs: string[] = [];
let cleanupRegistered = false;

function registerCleanup(): void {
  if (cleanupRegistered) return;
  cleanupRegistered = true;
  const removeTempDirs = (): void => {
    for (const dir of tempDirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  };
  // Registered from inside a test, after() runs when that test ends: folders made by later tests go at exit.
  after(() => {
    for (const child of children) child.kill('SIGKILL');
    removeTempDirs();
  });
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    removeTempDirs();
  });
}

/** spawn() whose child is killed when the test file ends, whatever happened. */
export function spawnTracked(command: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  registerCleanup();
  const child = spawn(command, args, options);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** Runs a command to its end (killed after timeoutMs); keeps the last 4 KB of stderr. */
export function runTool(command: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnTracked(command, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

/** Runs a command to its end (killed after timeoutMs), keeping all of stdout and stderr (runTool keeps only stderr). */
export function runToolOutput(command: string, args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnTracked(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A temporary folder removed when the test file ends. */
export function tempDir(prefix: string): string {
  registerCleanup();
  const dir = mkdtempSync(join(tmpdir(), prefix));
  tempDirs.push(dir);
  return dir;
}

export { freePort, waitForPort } from '../../loadtest/peers/ports.js';

/** Polls until check() returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(what: string, timeoutMs: number, check: () => T | undefined | false | Promise<T | undefined | false>, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
