import os from 'node:os';
import { loadConfig } from './config.js';
import { createLogger } from './log.js';
import { isNovaError } from './errors.js';
import { startServer } from './server.js';

/** Process entry: config from the environment, the server, and signals for a graceful stop. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env, os.availableParallelism());
  } catch (err) {
    if (isNovaError(err)) {
      process.stderr.write(`nova-streaming: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = createLogger(config.logLevel, { instance: config.instanceId });
  const server = await startServer(config, { log });
  log.info({ rtmpPort: server.rtmpPort, httpPort: server.httpPort, database: server.databaseKind }, 'nova-streaming ready');

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    // SIGTERM (Kubernetes, compose, systemd) drains first: publishers move to another instance
    // before the stop. SIGINT (a terminal's Ctrl-C) stops at once.
    const drained = signal === 'SIGTERM' ? server.drain() : Promise.resolve();
    if (signal === 'SIGTERM') log.info({ signal, graceMs: config.drainGraceMs }, 'draining: publishers asked to reconnect elsewhere, then stopping');
    else log.info({ signal }, 'shutting down: no new connections, ending streams');
    drained.then(() => server.stop()).then(
      () => {
        log.info('shutdown complete');
        process.exit(0);
      },
      (err: unknown) => {
        log.error({ err: err instanceof Error ? err.message : String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  process.stderr.write(`nova-streaming: failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
