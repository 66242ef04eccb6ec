import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout (or the given destination, as tests do); one root logger, children per component. */
export function createLogger(level: string, base: Record<string, unknown> = {}, destination?: pino.DestinationStream): Logger {
  const options = {
    level,
    base: { service: 'nova-streaming', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
