/**
 * RTMP handshake (simple scheme), both sides, as incremental byte consumers.
 *
 * Server: C0 (version 3) + C1 (1536) in → S0 + S1 + S2 out, then wait for C2.
 * S1 carries zero "version" bytes (4..7), which tells digest-capable clients
 * (librtmp/OBS, FFmpeg) that this server speaks the simple scheme; S2 echoes
 * C1. FFmpeg (which sends a digest C1), OBS/librtmp and GStreamer rtmp2sink
 * all accept this. C2 content is not verified: clients differ in what they
 * put there and nothing depends on it.
 *
 * Client: C0 + C1 out → S0 + S1 + S2 in → C2 (echo of S1) out.
 */
import { randomFillSync } from 'node:crypto';
import { NovaError } from '../../errors.js';

export const RTMP_VERSION = 3;
export const HANDSHAKE_PACKET_SIZE = 1536;

function fillHandshakePacket(target: Uint8Array, epochMs: number): void {
  randomFillSync(target);
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  view.setUint32(0, epochMs >>> 0);
  view.setUint32(4, 0); // zero version: simple handshake
}

/** Copies as many bytes as `target` still needs; returns how many were taken from `src`. */
function fill(target: Uint8Array, filled: number, src: Uint8Array, offset: number): number {
  const take = Math.min(target.length - filled, src.length - offset);
  target.set(src.subarray(offset, offset + take), filled);
  return take;
}

export type ServerHandshakeState = 'c0c1' | 'c2' | 'done';

export class ServerHandshake {
  private readonly c0c1 = new Uint8Array(1 + HANDSHAKE_PACKET_SIZE);
  private c0c1Filled = 0;
  private c2Filled = 0;
  private readonly startMs: number;
  private stateValue: ServerHandshakeState = 'c0c1';

  get state(): ServerHandshakeState {
    return this.stateValue;
  }

  isDone(): boolean {
    return this.stateValue === 'done';
  }

  constructor(startMs = Date.now()) {
    this.startMs = startMs;
  }

  /**
   * Consumes handshake bytes from `src` starting at `offset`.
   * Returns the number of bytes consumed; when `state` becomes 'done' the
   * rest of `src` belongs to the chunk stream. Calls `send` once with
   * S0+S1+S2 (a fresh buffer).
   */
  push(src: Uint8Array, offset: number, send: (bytes: Uint8Array) => void): number {
    let pos = offset;
    if (this.stateValue === 'c0c1') {
      if (this.c0c1Filled === 0 && pos < src.length && src[pos] !== RTMP_VERSION) {
        throw new NovaError(
          'NOVA_ERR_RTMP_HANDSHAKE',
          `unsupported RTMP version ${src[pos]} in C0 (only 3; 6 would be RTMPE)`,
        );
      }
      const took = fill(this.c0c1, this.c0c1Filled, src, pos);
      this.c0c1Filled += took;
      pos += took;
      if (this.c0c1Filled < this.c0c1.length) return pos - offset;
      const reply = new Uint8Array(1 + 2 * HANDSHAKE_PACKET_SIZE);
      reply[0] = RTMP_VERSION;
      fillHandshakePacket(reply.subarray(1, 1 + HANDSHAKE_PACKET_SIZE), Date.now() - this.startMs);
      reply.set(this.c0c1.subarray(1), 1 + HANDSHAKE_PACKET_SIZE);
      this.stateValue = 'c2';
      send(reply);
    }
    if (this.stateValue === 'c2') {
      const take = Math.min(HANDSHAKE_PACKET_SIZE - this.c2Filled, src.length - pos);
      this.c2Filled += take;
      pos += take;
      if (this.c2Filled === HANDSHAKE_PACKET_SIZE) this.stateValue = 'done';
    }
    return pos - offset;
  }
}

export type ClientHandshakeState = 's0s1s2' | 'done';

export class ClientHandshake {
  private readonly s0s1s2 = new Uint8Array(1 + 2 * HANDSHAKE_PACKET_SIZE);
  private filled = 0;
  private stateValue: ClientHandshakeState = 's0s1s2';

  get state(): ClientHandshakeState {
    return this.stateValue;
  }

  isDone(): boolean {
    return this.stateValue === 'done';
  }

  /** C0 + C1 to send first (a fresh buffer). */
  start(): Uint8Array {
    const c0c1 = new Uint8Array(1 + HANDSHAKE_PACKET_SIZE);
    c0c1[0] = RTMP_VERSION;
    fillHandshakePacket(c0c1.subarray(1), 0);
    return c0c1;
  }

  /** Consumes S0+S1+S2; returns bytes consumed. Sends C2 once S1 is known. */
  push(src: Uint8Array, offset: number, send: (bytes: Uint8Array) => void): number {
    if (this.stateValue === 'done') return 0;
    if (this.filled === 0 && offset < src.length && src[offset] !== RTMP_VERSION) {
      throw new NovaError('NOVA_ERR_RTMP_HANDSHAKE', `server answered RTMP version ${src[offset]} in S0`);
    }
    const took = fill(this.s0s1s2, this.filled, src, offset);
    this.filled += took;
    if (this.filled === this.s0s1s2.length) {
      this.stateValue = 'done';
      send(this.s0s1s2.slice(1, 1 + HANDSHAKE_PACKET_SIZE)); // C2 = echo of S1
    }
    return took;
  }
}
