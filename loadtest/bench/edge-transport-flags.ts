/** The flags of bench:edge-transport, checked before anything starts (a bad value stops it with the flag's name). */
import { parseArgs } from 'node:util';
import { numberFlag, numberListFlag } from './lib/number-flag.js';
import { TRANSPORTS, type Transport } from './edge-transport-protocol.js';

export interface EdgeTransportFlags {
  runs: number;
  /** measured seconds per variant and stream count */
  seconds: number;
  /** seconds of media before the measurement starts (connections, JIT) */
  warmUp: number;
  /** bits per second of one stream's media (video + 128 kb/s audio) */
  bitrate: number;
  streams: number[];
  transports: Transport[];
  redisUrl: string;
  /** redis: TTL of each object in the hot window */
  ttlMs: number;
}

export function parseEdgeTransportFlags(args: string[]): EdgeTransportFlags {
  const { values } = parseArgs({
    args,
    options: {
      runs: { type: 'string', default: '3' },
      seconds: { type: 'string', default: '12' },
      'warm-up': { type: 'string', default: '4' },
      bitrate: { type: 'string', default: '3000000' },
      streams: { type: 'string', default: '1,20' },
      transports: { type: 'string', default: TRANSPORTS.join(',') },
      'ttl-ms': { type: 'string', default: '30000' },
      'redis-url': { type: 'string', default: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' },
    },
  });
  const transports = values.transports.split(',').map((name) => {
    if (!(TRANSPORTS as readonly string[]).includes(name)) throw new Error(`--transports takes a list of ${TRANSPORTS.join(', ')}, got '${name}'`);
    return name as Transport;
  });
  return {
    runs: numberFlag('runs', values.runs, { integer: true }),
    seconds: numberFlag('seconds', values.seconds),
    warmUp: numberFlag('warm-up', values['warm-up'], { min: 0 }),
    // the audio track alone is 128 kb/s: below twice that there is hardly any video to move
    bitrate: numberFlag('bitrate', values.bitrate, { min: 256_000 }),
    streams: numberListFlag('streams', values.streams, { integer: true }),
    transports,
    ttlMs: numberFlag('ttl-ms', values['ttl-ms'], { integer: true }),
    redisUrl: values['redis-url'],
  };
}
