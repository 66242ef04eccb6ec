/**
 * Node-Media-Server v4 (the devDependency) as a peer in its own process:
 * an independent RTMP implementation in Node, for interop tests and as the
 * ingest benchmark's Node peer (it demuxes RTMP and keeps the stream for
 * players; it packages nothing, so it does less per byte than nova).
 * NMS ignores port 0, so the caller picks a free port.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitForPort } from './ports.js';

const NMS_MODULE = fileURLToPath(new URL('../../node_modules/node-media-server', import.meta.url));

/** The `node -e` program that runs NMS on 127.0.0.1:rtmpPort and prints "EVENT postPublish <path>" per publish. */
export function nodeMediaServerScript(rtmpPort: number, dataDir: string): string {
  return `
    const NodeMediaServer = require(${JSON.stringify(NMS_MODULE)});
    const nms = new NodeMediaServer({ bind: '127.0.0.1', rtmp: { port: ${rtmpPort} }, store: { path: ${JSON.stringify(dataDir)} }, record: { auto: false } });
    nms.on('postPublish', (s) => console.log('EVENT postPublish ' + s.streamPath));
    nms.run();
  `;
}

export interface NodeMediaServerPeer {
  pid: number;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts NMS and resolves once its RTMP port accepts connections. */
export async function startNodeMediaServer(rtmpPort: number, spawnOptions: SpawnOptions = { stdio: 'ignore' }): Promise<NodeMediaServerPeer> {
  const dir = mkdtempSync(join(tmpdir(), 'nova-nms-'));
  const child = spawn(process.execPath, ['-e', nodeMediaServerScript(rtmpPort, join(dir, 'data'))], { cwd: dir, ...spawnOptions });
  const kill = (): void => void child.kill('SIGKILL');
  process.once('exit', kill);
  const stop = async (): Promise<void> => {
    process.off('exit', kill);
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort(rtmpPort, 10_000, () => (child.exitCode !== null ? `node-media-server exited with code ${child.exitCode}` : null));
  } catch (err) {
    await stop();
    throw err;
  }
  return { pid: child.pid ?? -1, process: child, stop };
}
