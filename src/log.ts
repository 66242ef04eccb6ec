import { pino, type Logger } from 'pino';

export type { Logger };

/** JSON logs on stdout; one root logger, children per component. */
export function createLogger(level: string, base: Record<string, unknown> = {}): Logger {
  return pino({
    level,
    base: { service: 'nova-streaming', ...base },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  });
}
