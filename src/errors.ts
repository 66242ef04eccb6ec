/**
 * Coded errors (fastify's FST_ERR_* style): a stable code for logs, metrics
 * labels and API bodies, and a human message.
 */
export type NovaErrorCode =
  | 'NOVA_ERR_CONFIG'
  | 'NOVA_ERR_RTMP_HANDSHAKE'
  | 'NOVA_ERR_RTMP_CHUNK'
  | 'NOVA_ERR_RTMP_AMF'
  | 'NOVA_ERR_RTMP_PROTOCOL'
  | 'NOVA_ERR_RTMP_LIMIT'
  | 'NOVA_ERR_RTMP_TIMEOUT'
  | 'NOVA_ERR_FLV'
  | 'NOVA_ERR_CODEC'
  | 'NOVA_ERR_BAD_REQUEST'
  | 'NOVA_ERR_UNAUTHORIZED'
  | 'NOVA_ERR_FORBIDDEN'
  | 'NOVA_ERR_NOT_FOUND'
  | 'NOVA_ERR_CONFLICT'
  | 'NOVA_ERR_PAYLOAD_TOO_LARGE'
  | 'NOVA_ERR_EDGE_FEED'
  | 'NOVA_ERR_ORIGIN_UNAVAILABLE'
  | 'NOVA_ERR_DATABASE_UNAVAILABLE'
  | 'NOVA_ERR_UNPROCESSABLE'
  | 'NOVA_ERR_RATE_LIMITED'
  | 'NOVA_ERR_UPSTREAM'
  | 'NOVA_ERR_INTERNAL';

export class NovaError extends Error {
  readonly code: NovaErrorCode;
  constructor(code: NovaErrorCode, message: string) {
    super(message);
    this.name = 'NovaError';
    this.code = code;
  }
}

export function isNovaError(err: unknown): err is NovaError {
  return err instanceof NovaError;
}
